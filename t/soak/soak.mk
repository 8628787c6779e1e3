# t/soak: long-running checks, never part of `make test`.  Included by the
# Makefile, or run on its own (make -f t/soak/soak.mk ...):
#
#   make valgrind                 nginx master and workers under valgrind
#                                 memcheck with all three modules: zero
#                                 errors, zero bytes definitely lost
#   make soak [SOAK_SECONDS=600] [SOAK_CONNECTIONS=16]
#                                 mixed wrk traffic with Redis kills,
#                                 PostgreSQL freezes and restarts and nginx
#                                 reloads every 30 s; checks crashes,
#                                 [alert]s, 5xx, RSS growth, audit rows

SOAK_SECONDS     ?= 600
SOAK_CONNECTIONS ?= 16
SOAK_BUILD       ?= $(or $(BUILD),build/release)

.PHONY: valgrind soak soak-deps

soak-deps:
	@for p in valgrind wrk redis-server postgresql python3-jwt; do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	        | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	        apt-get install -y -qq --no-install-recommends $$missing; \
	fi

valgrind: soak-deps
	$(MAKE) -f Makefile BUILD=$(SOAK_BUILD) SANITIZE= modules
	OCTOPUS_MODULES=$(abspath $(SOAK_BUILD))/modules OCTOPUS_SANITIZE= \
	    prove -v -I t/lib t/soak/ngx_octopus_valgrind.pl

soak: soak-deps
	$(MAKE) -f Makefile BUILD=$(SOAK_BUILD) modules
	OCTOPUS_MODULES=$(abspath $(SOAK_BUILD))/modules \
	    SOAK_SECONDS=$(SOAK_SECONDS) SOAK_CONNECTIONS=$(SOAK_CONNECTIONS) \
	    prove -v -I t/lib t/soak/ngx_octopus_soak.pl
