test_auth_json_SRCS := ngx_octopus_auth_module/ngx_octopus_auth_json.c
test_auth_json_LIBS := -lm
