# make bench [QUICK=1]: Octopus Guard side by side with bare nginx and with
# the peers; never part of `make test`.
#
#   make bench            full run (about 10 minutes; a bare-proxy run beside
#                         every scenario run): writes bench/results/latest.md
#                         and latest.png
#   make bench QUICK=1    smoke run (under 2 minutes): one short round into
#                         $(BUILD)/bench/quick/, fails unless every scenario
#                         ran and produced numbers
#   make bench-profile [SCENARIO=audit_pg]
#                         the bare proxy and one scenario, one round, with
#                         `perf record -g` on that scenario's worker during
#                         its measured run: the top symbols go to
#                         $(BUILD)/bench/profile-SCENARIO.txt
#   make bench-deps       install the bench's own packages (peers, wrk,
#                         gnuplot, perf) with apt-get, only when missing

BENCH_PACKAGES = wrk haproxy gnuplot-nox libnginx-mod-http-js \
                 libnginx-mod-http-lua lua-nginx-redis linux-perf

SCENARIO ?= audit_pg

BENCH_ARGS = $(if $(filter 1,$(QUICK)),\
                 --quick --out $(BUILD)/bench/quick \
                 --workdir $(BUILD)/bench/quick-run,\
                 --out bench/results --workdir $(BUILD)/bench/run)

.PHONY: bench bench-deps bench-profile

bench-deps:
	@sh tools/octopus-apt-install $(BENCH_PACKAGES)

bench: deps bench-deps
	$(MAKE) modules $(BUILD)/bench/auth_jwt_bench
	perl bench/ngx_octopus_bench.pl $(BENCH_ARGS) \
	    --jwt-bench $(BUILD)/bench/auth_jwt_bench

bench-profile: deps bench-deps
	$(MAKE) modules
	perl bench/ngx_octopus_bench.pl --profile $(SCENARIO) \
	    --out $(BUILD)/bench/profile --workdir $(BUILD)/bench/profile-run \
	    --profile-file $(BUILD)/bench/profile-$(SCENARIO).txt
