test_ratelimit_inflight_SRCS := \
    ngx_octopus_ratelimit_module/ngx_octopus_ratelimit_algo.c
test_ratelimit_inflight_LIBS :=
