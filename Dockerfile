# Octopus Guard: the three modules built against Debian 12's nginx and run
# by it as a non-root user.
#
#   - runs as uid/gid 1001, listens on 8080 (redirect) and 8443 (HTTPS)
#   - pid and temp paths under /tmp: the root file system can be read-only
#     (mount tmpfs on /tmp and a volume on /var/lib/octopus for the spool)
#   - no secret is baked in: conf/nginx.conf reads them from /run/secrets/,
#     files uid 1001 can read (`tools/octopus-keygen --owner 1001 --group
#     1001 all ./secrets`: Compose mounts file secrets with their host owner
#     and mode)
#
# Build it in the docker format (`docker build`, `buildah bud --format
# docker`): the OCI format has no HEALTHCHECK.  `make image-test` builds
# this file with buildah and runs it as docker-compose.yml does.

FROM debian:bookworm-slim AS build

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        gcc make libc6-dev nginx-dev libjansson-dev libhiredis-dev libpq-dev \
        libpcre2-dev libssl-dev zlib1g-dev libicu-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY config Makefile VERSION ./
COPY common/ common/
COPY ngx_octopus_auth_module/ ngx_octopus_auth_module/
COPY ngx_octopus_ratelimit_module/ ngx_octopus_ratelimit_module/
COPY ngx_octopus_audit_module/ ngx_octopus_audit_module/
RUN make modules


FROM debian:bookworm-slim

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        nginx libjansson4 libhiredis0.14 libpq5 libpcre2-8-0 libssl3 libicu72 \
        curl \
        ca-certificates \
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/* \
        /etc/nginx/modules-enabled/* /var/log/nginx \
 && groupadd --gid 1001 octopus \
 && useradd --uid 1001 --gid 1001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin octopus

COPY --from=build --chown=1001:1001 /src/build/release/modules/*.so \
     /usr/lib/nginx/modules/
COPY --chown=1001:1001 conf/nginx.conf /etc/nginx/nginx.conf
COPY --chown=1001:1001 conf/sql/ /usr/share/octopus-guard/sql/

RUN mkdir -p /var/lib/octopus/audit-spool /run/secrets \
 && chown -R 1001:1001 /etc/nginx /var/lib/octopus /usr/share/octopus-guard \
 && chmod 0700 /var/lib/octopus/audit-spool

USER 1001:1001
EXPOSE 8080 8443

HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1

STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
