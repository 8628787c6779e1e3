# ngx_octopus_auth_module: extra targets (included by the Makefile)
#
#   make bench-jwt [BENCH_JWT_N=20000]   JWT verify microbenchmark

BENCH_JWT_N ?= 20000

$(BUILD)/bench/auth_jwt_bench: bench/auth_jwt_bench.c \
        ngx_octopus_auth_module/ngx_octopus_auth_jwt.c \
        ngx_octopus_auth_module/ngx_octopus_auth_jwt.h \
        ngx_octopus_auth_module/ngx_octopus_auth_json.c \
        ngx_octopus_auth_module/ngx_octopus_auth_json.h \
        common/ngx_octopus_secret.c common/ngx_octopus_secret.h
	@mkdir -p $(BUILD)/bench
	$(CC) -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter \
	    -I common -I ngx_octopus_auth_module -o $@ bench/auth_jwt_bench.c \
	    ngx_octopus_auth_module/ngx_octopus_auth_jwt.c \
	    common/ngx_octopus_secret.c \
	    ngx_octopus_auth_module/ngx_octopus_auth_json.c -ljansson -lcrypto -lm

.PHONY: bench-jwt

bench-jwt: $(BUILD)/bench/auth_jwt_bench
	$(BUILD)/bench/auth_jwt_bench $(BENCH_JWT_N)
