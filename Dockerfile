# Octopus Guard: the three modules built against Debian 12's nginx and
# loaded into it.  (The deployment issue hardens this image.)

FROM debian:bookworm-slim AS build

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        gcc make nginx-dev libjansson-dev libhiredis-dev libpq-dev \
        libpcre2-dev libssl-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY config Makefile ./
COPY common/ common/
COPY ngx_octopus_auth_module/ ngx_octopus_auth_module/
COPY ngx_octopus_ratelimit_module/ ngx_octopus_ratelimit_module/
COPY ngx_octopus_audit_module/ ngx_octopus_audit_module/
RUN make modules


FROM debian:bookworm-slim

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        nginx libjansson4 libhiredis0.14 libpq5 libpcre2-8-0 \
        libssl3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*

COPY --from=build /src/build/release/modules/*.so /usr/lib/nginx/modules/

RUN printf 'load_module modules/%s.so;\n' \
        ngx_octopus_auth_module ngx_octopus_ratelimit_module \
        ngx_octopus_audit_module > /etc/nginx/modules-enabled/50-octopus.conf \
 && nginx -t

EXPOSE 80 443
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
