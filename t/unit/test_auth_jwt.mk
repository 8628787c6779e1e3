test_auth_jwt_SRCS := ngx_octopus_auth_module/ngx_octopus_auth_jwt.c \
                      ngx_octopus_auth_module/ngx_octopus_auth_jwt_cache.c \
                      common/ngx_octopus_secret.c \
                      ngx_octopus_auth_module/ngx_octopus_auth_json.c
test_auth_jwt_LIBS := -ljansson -lcrypto -lm
