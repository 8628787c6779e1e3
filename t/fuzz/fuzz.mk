# t/fuzz: libFuzzer targets (clang-14, ASan + UBSan) for every parser that
# sees untrusted bytes.  Included by the Makefile, or run on its own:
#
#   make -f t/fuzz/fuzz.mk fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="jwt ..."]
#   make -f t/fuzz/fuzz.mk fuzz-smoke [FUZZ_SMOKE_SECONDS=5]   (CI)
#   make -f t/fuzz/fuzz.mk fuzz-build
#
# Seeds are read from t/fuzz/corpus/<target>/ (never written); what the
# fuzzer finds goes to $(FUZZ_DIR)/corpus/<target>/, crashes to
# $(FUZZ_DIR)/artifacts/.  Inputs that crashed once live in
# t/fuzz/regress/<target>/ and are replayed by every run.

FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 5
FUZZ_JOBS_FLAGS    ?=
FUZZ_DIR           ?= $(or $(BUILD),build/fuzz)/fuzz
FUZZ_CC            ?= clang-14
FUZZ_TARGETS       ?= jwt auth_json apikey jwks rl_field audit_record \
                      redis_reply path auth_revoke jwks_http

FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined \
              -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
              -Wall -Wextra -Werror -Wno-unused-parameter \
              -I common -I ngx_octopus_auth_module \
              -I ngx_octopus_ratelimit_module -I ngx_octopus_audit_module

FUZZ_AUTH = ngx_octopus_auth_module

fuzz_jwt_SRCS          = $(FUZZ_AUTH)/ngx_octopus_auth_jwt.c \
                         $(FUZZ_AUTH)/ngx_octopus_auth_jwt_cache.c \
                         common/ngx_octopus_secret.c \
                         $(FUZZ_AUTH)/ngx_octopus_auth_json.c \
                         $(FUZZ_AUTH)/ngx_octopus_auth_rbac.c
fuzz_jwt_LIBS          = -ljansson -lcrypto -lpcre2-8 -lm
fuzz_auth_json_SRCS    = $(FUZZ_AUTH)/ngx_octopus_auth_json.c \
                         $(FUZZ_AUTH)/ngx_octopus_auth_rbac.c
fuzz_auth_json_LIBS    = -lcrypto -lpcre2-8 -lm
fuzz_apikey_SRCS       = $(fuzz_auth_json_SRCS)
fuzz_apikey_LIBS       = $(fuzz_auth_json_LIBS)
fuzz_jwks_SRCS         = $(FUZZ_AUTH)/ngx_octopus_auth_jwt.c \
                         common/ngx_octopus_secret.c \
                         $(FUZZ_AUTH)/ngx_octopus_auth_json.c
fuzz_jwks_LIBS         = -ljansson -lcrypto -lm
fuzz_rl_field_SRCS     = \
    ngx_octopus_ratelimit_module/ngx_octopus_ratelimit_field.c
fuzz_rl_field_LIBS     =
fuzz_audit_record_SRCS = common/ngx_octopus_json.c \
    ngx_octopus_audit_module/ngx_octopus_audit_record.c \
    ngx_octopus_audit_module/ngx_octopus_audit_redact.c
fuzz_audit_record_LIBS = -ljansson -lcrypto -lpcre2-8
fuzz_redis_reply_SRCS  = common/ngx_octopus_redis_reply.c \
    common/ngx_octopus_redis_slot.c
fuzz_redis_reply_LIBS  = -lhiredis
fuzz_path_SRCS         = $(FUZZ_AUTH)/ngx_octopus_path.c
fuzz_path_LIBS         =
fuzz_auth_revoke_SRCS  = $(FUZZ_AUTH)/ngx_octopus_auth_revoke_entry.c
fuzz_auth_revoke_LIBS  =
fuzz_jwks_http_SRCS    = $(FUZZ_AUTH)/ngx_octopus_auth_jwks_http.c
fuzz_jwks_http_LIBS    =

FUZZ_MAX_LEN_jwt          = 12000
FUZZ_MAX_LEN_audit_record = 8192
FUZZ_MAX_LEN_jwks         = 16384

FUZZ_BINS = $(FUZZ_TARGETS:%=$(FUZZ_DIR)/ngx_octopus_fuzz_%)

FUZZ_ALL_SRCS := $(wildcard common/*.[ch] ngx_octopus_*_module/*.[ch])

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-deps

fuzz-deps:
	@sh tools/octopus-apt-install clang-14 libclang-rt-14-dev libhiredis-dev \
	    libjansson-dev libpcre2-dev libssl-dev

$(FUZZ_DIR)/ngx_octopus_fuzz_%: t/fuzz/ngx_octopus_fuzz_%.c $(FUZZ_ALL_SRCS) \
        t/fuzz/fuzz.mk
	@mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(fuzz_$*_SRCS) $(fuzz_$*_LIBS)

fuzz-build: fuzz-deps
	$(MAKE) -f t/fuzz/fuzz.mk FUZZ_DIR=$(FUZZ_DIR) \
	    FUZZ_TARGETS="$(FUZZ_TARGETS)" $(FUZZ_BINS)

# one target after the other (2 cores, others are benchmarking); any
# crash, leak or timeout fails the run and leaves the input in artifacts/

fuzz-run-%:
	@mkdir -p $(FUZZ_DIR)/corpus/$* $(FUZZ_DIR)/artifacts t/fuzz/regress/$*
	@set -e; \
	if ls t/fuzz/regress/$*/* >/dev/null 2>&1; then \
	    echo "== $*: regressions"; \
	    $(FUZZ_DIR)/ngx_octopus_fuzz_$* t/fuzz/regress/$*/* \
	        2>$(FUZZ_DIR)/$*-regress.log \
	    || { tail -40 $(FUZZ_DIR)/$*-regress.log; exit 1; }; \
	fi; \
	echo "== $*: $(FUZZ_TIME) s"; \
	$(FUZZ_DIR)/ngx_octopus_fuzz_$* -max_total_time=$(FUZZ_TIME) \
	    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    $(if $(FUZZ_MAX_LEN_$*),-max_len=$(FUZZ_MAX_LEN_$*)) \
	    -artifact_prefix=$(FUZZ_DIR)/artifacts/$*- $(FUZZ_JOBS_FLAGS) \
	    $(FUZZ_DIR)/corpus/$* t/fuzz/corpus/$* \
	    > $(FUZZ_DIR)/$*.log 2>&1 \
	|| { tail -60 $(FUZZ_DIR)/$*.log; exit 1; }; \
	grep -E '^stat::(number_of_executed_units|peak_rss_mb)|cov:' \
	    $(FUZZ_DIR)/$*.log | tail -3

fuzz: fuzz-build
	@$(MAKE) -s -f t/fuzz/fuzz.mk FUZZ_DIR=$(FUZZ_DIR) \
	    FUZZ_TIME=$(FUZZ_SECONDS) $(FUZZ_TARGETS:%=fuzz-run-%)

fuzz-smoke: fuzz-build
	@$(MAKE) -s -f t/fuzz/fuzz.mk FUZZ_DIR=$(FUZZ_DIR) \
	    FUZZ_TIME=$(FUZZ_SMOKE_SECONDS) $(FUZZ_TARGETS:%=fuzz-run-%)
