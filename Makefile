# Octopus Guard: build, test and run.
#
#   make                  build the three modules into $(BUILD)/modules
#   make test             install dependencies, build, run unit and
#                         integration tests
#   make run              install dependencies, build, start the local stack
#   make deps             install build/test/run dependencies with apt-get
#   make SANITIZE=1 test  the same under AddressSanitizer + UBSan
#   make NGINX_SRC=/path/to/nginx-x.y.z   build against another nginx tree
#   make MODULES=ngx_octopus_audit_module  build only the modules named
#   make mixed            modules of two builds in one nginx (make check
#                         runs it)

SHELL := /bin/bash

NGINX_SRC ?= /usr/share/nginx/src
NGINX_BIN ?= /usr/sbin/nginx

ifeq ($(SANITIZE),1)
BUILD     ?= build/sanitize
SAN_FLAGS  = -fsanitize=address,undefined -fno-omit-frame-pointer \
             -fno-sanitize-recover=undefined
else
BUILD     ?= build/release
SAN_FLAGS  =
endif

TOP       := $(CURDIR)
NGX_BUILD  = $(BUILD)/nginx
MODULES    = ngx_octopus_auth_module ngx_octopus_ratelimit_module \
             ngx_octopus_audit_module
SO_FILES   = $(MODULES:%=$(BUILD)/modules/%.so)

CFLAGS_MOD = -g -O2 -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIC \
             $(SAN_FLAGS)
LDFLAGS_MOD = -Wl,-z,relro -Wl,-z,now -fPIC $(SAN_FLAGS)

# sources compiled into the modules: configure is re-run when this list,
# the addon config, the version or the commit changes (config names each
# module's files; these are the ones make watches)
ADDON_SRCS := $(sort $(wildcard common/*.[ch] ngx_octopus_*_module/*.[ch]))

# the build's identity, read by config into objs/ngx_octopus_version.h and
# reported by the modules (error log at start, octopus_build_info): VERSION
# is the one place for the release number; OCTOPUS_VERSION=... labels
# another build (make mixed); OCTOPUS_COMMIT=... names the commit where
# there is no git (a container build)
OCTOPUS_VERSION ?= $(shell cat VERSION)
ifndef OCTOPUS_COMMIT
OCTOPUS_COMMIT  := $(or $(shell git rev-parse --short HEAD 2>/dev/null),unknown)
endif

DEB_PACKAGES = gcc make perl curl ca-certificates openssl \
               nginx nginx-dev libhiredis-dev libpq-dev \
               libpcre2-dev libssl-dev zlib1g-dev libcmocka-dev libjansson-dev \
               libicu-dev \
               redis-server postgresql python3-jwt python3-cryptography \
               libjson-perl libjson-xs-perl wrk libfaketime \
               dpkg-dev binutils groff-base python3-yaml prometheus \
               docker-compose python3-jsonschema

export OCTOPUS_MODULES := $(abspath $(BUILD)/modules)
export OCTOPUS_NGINX   := $(NGINX_BIN)
export OCTOPUS_SANITIZE := $(SANITIZE)

.PHONY: all modules tools deps check test unit integration mixed run stop \
        clean image-test

# per-module make fragments add programs to TOOLS (built by `make`) and
# their own targets (bench, fuzz, ...)
TOOLS :=
-include $(wildcard ngx_octopus_*_module/*.mk tools/*.mk bench/*.mk \
                   t/fuzz/*.mk t/soak/*.mk packaging/*.mk)

.DEFAULT_GOAL := all

all: modules tools

tools: $(TOOLS)

modules: $(SO_FILES)

$(BUILD)/srclist: FORCE
	@mkdir -p $(BUILD)
	@echo "$(ADDON_SRCS) $(SAN_FLAGS) $(NGINX_SRC)" \
	    "$(OCTOPUS_VERSION) $(OCTOPUS_COMMIT)" > $@.new
	@cmp -s $@.new $@ || mv $@.new $@; rm -f $@.new

$(NGX_BUILD)/objs/Makefile: config VERSION $(BUILD)/srclist
	rm -rf $(NGX_BUILD)
	mkdir -p $(NGX_BUILD)
	cp -a $(NGINX_SRC)/. $(NGX_BUILD)/
	cd $(NGX_BUILD) && \
	    flags=; \
	    if [ -f conf_flags ]; then . ./conf_flags; \
	        flags="$${NGX_CONF_FLAGS[*]}"; fi; \
	    NGX_OCTOPUS_VERSION='$(OCTOPUS_VERSION)' \
	    NGX_OCTOPUS_COMMIT='$(OCTOPUS_COMMIT)' \
	    bash -c "./configure $$flags --with-compat \
	        --with-cc-opt='$(CFLAGS_MOD)' --with-ld-opt='$(LDFLAGS_MOD)' \
	        --add-dynamic-module=$(TOP)" > configure.log 2>&1 \
	    || { tail -20 configure.log; exit 1; }

# one recipe for all the .so files (grouped: make -j runs it once)
$(SO_FILES) &: $(NGX_BUILD)/objs/Makefile $(ADDON_SRCS)
	$(MAKE) -C $(NGX_BUILD) -f objs/Makefile $(MODULES:%=objs/%.so)
	mkdir -p $(BUILD)/modules
	@# a new file, renamed over the old: an nginx running from this folder
	@# keeps its mapping of the old one (cp would rewrite it under it)
	for m in $(MODULES); do \
	    cp $(NGX_BUILD)/objs/$$m.so $(BUILD)/modules/.$$m.so.new \
	    && mv -f $(BUILD)/modules/.$$m.so.new $(BUILD)/modules/$$m.so \
	    || exit 1; \
	done

FORCE:


# dependencies: apt-get only when something is missing

deps:
	@sh tools/octopus-apt-install $(DEB_PACKAGES)


# unit tests: t/unit/test_NAME.c, with t/unit/test_NAME.mk setting
# test_NAME_SRCS (plain C sources under test) and test_NAME_LIBS

UNIT_TESTS := $(patsubst t/unit/%.c,%,$(wildcard t/unit/test_*.c))
-include $(wildcard t/unit/*.mk)

UNIT_CFLAGS = -g -O1 -Wall -Wextra -Werror -Wno-unused-parameter \
              -I common $(addprefix -I ,$(MODULES)) -I /usr/include/postgresql \
              $(SAN_FLAGS)

$(BUILD)/unit/%: t/unit/%.c $(ADDON_SRCS) $(wildcard t/unit/*.mk)
	@mkdir -p $(BUILD)/unit
	$(CC) $(UNIT_CFLAGS) -o $@ $< $($*_SRCS) $($*_LIBS) -lcmocka

unit: $(UNIT_TESTS:%=$(BUILD)/unit/%)
	@set -e; for t in $(UNIT_TESTS); do \
	    echo "== $$t"; $(BUILD)/unit/$$t; done

integration: modules
	prove -I t/lib $(PROVE_FLAGS) $(or $(TESTS),t/*.t)

# mixed: modules of two builds in one nginx (an upgraded module beside old
# ones); the second build is the audit module alone, with another version,
# in its own build directory

MIXED_BUILD  ?= $(BUILD)-mixed
MIXED_MODULE  = ngx_octopus_audit_module

mixed: modules
	$(MAKE) BUILD=$(MIXED_BUILD) MODULES=$(MIXED_MODULE) \
	    OCTOPUS_VERSION='$(OCTOPUS_VERSION)-mixed' modules
	OCTOPUS_MIXED_MODULES=$(abspath $(MIXED_BUILD)/modules) \
	    prove -I t/lib $(PROVE_FLAGS) t/build_mixed.t

# check: the quick loop while developing (unit + integration tests)
# test:  what CI runs: check, then the whole integration suite again under
#        AddressSanitizer + UBSan with LeakSanitizer in every nginx process
#        (make lsan), every fuzz target for a few seconds, and the quick
#        benchmark (so its harness never rots)

SAN_BUILD ?= build/sanitize

check: deps
	$(MAKE) modules tools
	$(MAKE) unit
	$(MAKE) integration
	$(MAKE) mixed

test: check
ifneq ($(SANITIZE),1)
	$(MAKE) SANITIZE=1 BUILD=$(SAN_BUILD) modules tools unit
	$(MAKE) lsan LSAN_BUILD=$(SAN_BUILD)
	$(MAKE) fuzz-smoke
	$(MAKE) bench QUICK=1
endif


# the local stack

run: deps
	$(MAKE) modules
	perl -I t/lib tools/octopus-run

stop:
	perl -I t/lib tools/octopus-run --stop

clean:
	rm -rf build


# the container image, built with buildah and checked (slow: not in test)

image-test: deps
	BUILD=$(BUILD) tools/octopus-image-test
