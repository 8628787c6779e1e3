# t/soak: long-running checks, never part of `make test`.  Included by the
# Makefile, or run on its own (make -f t/soak/soak.mk ...):
#
#   make valgrind                 nginx master and workers under valgrind
#                                 memcheck with all three modules: zero
#                                 errors, zero bytes definitely lost
#   make lsan [TESTS="t/*.t"]    the integration tests on the SANITIZE=1
#                                 build with LeakSanitizer in every nginx
#                                 process (reports in $(LSAN_DIR)); fails
#                                 on any sanitizer report and any leak
#                                 whose stack passes through our modules
#                                 (make test runs it)
#   make soak [SOAK_SECONDS=600] [SOAK_CONNECTIONS=16]
#                                 mixed wrk traffic with Redis kills,
#                                 PostgreSQL freezes and restarts and nginx
#                                 reloads every 30 s; checks crashes,
#                                 [alert]s, 5xx, RSS growth, audit rows
#   make storm                    Redis starved (SIGSTOP 60 ms / SIGCONT
#                                 1 ms) under wrk -c2000: commands past
#                                 10 x timeout fail alone, the connection
#                                 stays (timing-bound: whether Redis gets
#                                 a core in its millisecond depends on the
#                                 machine's load, so it is not in make
#                                 test; the storm with a healthy Redis,
#                                 t/ratelimit_fallback_load.t, is)

SOAK_SECONDS     ?= 600
SOAK_CONNECTIONS ?= 16
SOAK_BUILD       ?= $(or $(BUILD),build/release)

LSAN_BUILD       ?= build/sanitize
LSAN_DIR         ?= $(LSAN_BUILD)/lsan

.PHONY: valgrind soak soak-deps lsan storm

soak-deps:
	@sh tools/octopus-apt-install valgrind wrk redis-server postgresql \
	    python3-jwt

valgrind: soak-deps
	$(MAKE) -f Makefile BUILD=$(SOAK_BUILD) SANITIZE= modules
	OCTOPUS_MODULES=$(abspath $(SOAK_BUILD))/modules OCTOPUS_SANITIZE= \
	    prove -v -I t/lib t/soak/ngx_octopus_valgrind.pl

soak: soak-deps
	$(MAKE) -f Makefile BUILD=$(SOAK_BUILD) modules
	OCTOPUS_MODULES=$(abspath $(SOAK_BUILD))/modules \
	    SOAK_SECONDS=$(SOAK_SECONDS) SOAK_CONNECTIONS=$(SOAK_CONNECTIONS) \
	    prove -v -I t/lib t/soak/ngx_octopus_soak.pl

storm: soak-deps
	$(MAKE) -f Makefile BUILD=$(SOAK_BUILD) modules
	OCTOPUS_MODULES=$(abspath $(SOAK_BUILD))/modules \
	    prove -v -I t/lib t/soak/ngx_octopus_storm_queue.t

$(LSAN_BUILD)/ngx_octopus_nodlclose.so: t/soak/ngx_octopus_nodlclose.c
	@mkdir -p $(@D)
	$(CC) -shared -fPIC -O2 -Wall -Werror -o $@ $<

lsan: $(LSAN_BUILD)/ngx_octopus_nodlclose.so
	$(MAKE) -f Makefile BUILD=$(LSAN_BUILD) SANITIZE=1 modules
	rm -rf $(LSAN_DIR) && mkdir -p $(LSAN_DIR) && chmod 1777 $(LSAN_DIR)
	OCTOPUS_LSAN_DIR=$(abspath $(LSAN_DIR)) \
	    OCTOPUS_LSAN_PRELOAD=$(abspath $<) $(MAKE) -f Makefile \
	    BUILD=$(LSAN_BUILD) SANITIZE=1 \
	    NGINX_BIN=$(abspath t/soak/ngx_octopus_lsan_nginx) \
	    integration TESTS="$(or $(TESTS),t/*.t)"
	perl t/soak/ngx_octopus_lsan_check.pl $(LSAN_DIR)
