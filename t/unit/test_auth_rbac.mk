test_auth_rbac_SRCS := ngx_octopus_auth_module/ngx_octopus_auth_rbac.c \
                       ngx_octopus_auth_module/ngx_octopus_auth_json.c
test_auth_rbac_LIBS := -lpcre2-8 -lcrypto
