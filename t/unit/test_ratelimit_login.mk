test_ratelimit_login_SRCS := \
    ngx_octopus_ratelimit_module/ngx_octopus_ratelimit_field.c \
    ngx_octopus_ratelimit_module/ngx_octopus_ratelimit_login.c \
    common/ngx_octopus_json.c
test_ratelimit_login_LIBS := -licuuc
