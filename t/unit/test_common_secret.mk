test_common_secret_SRCS := common/ngx_octopus_secret.c
test_common_secret_LIBS :=
