test_common_redis_slot_SRCS := common/ngx_octopus_redis_slot.c
test_common_redis_slot_LIBS :=
