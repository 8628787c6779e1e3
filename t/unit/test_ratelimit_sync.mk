test_ratelimit_sync_SRCS := \
    ngx_octopus_ratelimit_module/ngx_octopus_ratelimit_sync_algo.c \
    ngx_octopus_ratelimit_module/ngx_octopus_ratelimit_algo.c
test_ratelimit_sync_LIBS :=
