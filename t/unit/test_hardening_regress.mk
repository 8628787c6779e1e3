test_hardening_regress_SRCS := \
    ngx_octopus_auth_module/ngx_octopus_auth_jwt.c \
    ngx_octopus_auth_module/ngx_octopus_auth_json.c \
    common/ngx_octopus_redis_reply.c \
    common/ngx_octopus_secret.c
test_hardening_regress_LIBS := -ljansson -lcrypto -lhiredis -lm
