#!/usr/bin/python3
# Writes audit records as the file sink does (JSON lines, HMAC-SHA256 hash
# chains, a checkpoint every 10,000 records): two chains of N records each,
# hashed here with Python's hmac, independently of the module and of
# tools/octopus-audit-verify.
#
#   gen_audit_chain.py KEYFILE N [CHAIN_PREFIX] > audit.jsonl   (chains PREFIX-a, PREFIX-b; gen by default)
import hmac, hashlib, json, sys
key = open(sys.argv[1], 'rb').read().rstrip(b'\r\n \t')
n = int(sys.argv[2])
FIELDS = "ts_us request_id node client user_name role auth_method api_key_id method host path query status bytes_sent request_length request_time_ms upstream_status upstream_time user_agent auth_result ratelimit_result event_type chain_id seq".split()
out = sys.stdout
prefix = sys.argv[3] if len(sys.argv) > 3 else 'gen'
for chain in (prefix + '-a', prefix + '-b'):
    prev = '0' * 64
    for seq in range(1, n + 1):
        r = dict(ts_us=1800000000000000 + seq, request_id='%s-%d' % (chain, seq), node='t', client='127.0.0.1',
                 user_name='alice', role='trader', auth_method='jwt', api_key_id='', method='GET', host='h',
                 path='/api/orders/%d' % seq, query='', status=200, bytes_sent=100, request_length=80,
                 request_time_ms=1, upstream_status='200', upstream_time='0.001', user_agent='gen ü',
                 auth_result='ok', ratelimit_result='allowed', event_type='api_call', chain_id=chain, seq=seq)
        canon = b''.join(b'%d:%s;' % (len(b), b) for b in (str(r[f]).encode() for f in FIELDS))
        h = hmac.new(key, prev.encode() + canon, hashlib.sha256).hexdigest()
        r['prev_hash'] = prev; r['hash'] = h
        out.write(json.dumps(r, ensure_ascii=False, separators=(',', ':')) + '\n')
        prev = h
        if seq % 10000 == 0:
            out.write(json.dumps({'checkpoint': {'chain_id': chain, 'seq': seq, 'hash': h, 'ts_us': 1}}, separators=(',', ':')) + '\n')
