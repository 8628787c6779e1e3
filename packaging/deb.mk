# the Debian package (included by the Makefile)
#
#   make deb [DEB_REVISION=1]   build/release/deb/octopus-guard_VERSION-1_ARCH.deb
#                               from the modules of $(BUILD) (packaging/octopus-deb)
#   make deb-lint               the same, then lintian on it

DEB_REVISION ?= 1

.PHONY: deb deb-lint

deb: modules
	packaging/octopus-deb --modules $(BUILD)/modules --out $(BUILD)/deb \
	    --nginx-src $(NGINX_SRC) --revision $(DEB_REVISION)

deb-lint: deb
	@sh tools/octopus-apt-install lintian
	lintian --tag-display-limit 0 \
	    $(BUILD)/deb/octopus-guard_$(shell cat VERSION)-$(DEB_REVISION)_*.deb
