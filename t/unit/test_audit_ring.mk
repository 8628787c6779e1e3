test_audit_ring_SRCS := ngx_octopus_audit_module/ngx_octopus_audit_ring.c
test_audit_ring_LIBS :=
