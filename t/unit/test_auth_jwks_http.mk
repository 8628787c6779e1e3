test_auth_jwks_http_SRCS := \
    ngx_octopus_auth_module/ngx_octopus_auth_jwks_http.c
test_auth_jwks_http_LIBS :=
