test_ratelimit_login_SRCS := \
    ngx_octopus_ratelimit_module/ngx_octopus_ratelimit_field.c \
    ngx_octopus_ratelimit_module/ngx_octopus_ratelimit_login.c
test_ratelimit_login_LIBS := -licuuc
