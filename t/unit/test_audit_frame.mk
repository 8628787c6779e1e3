test_audit_frame_SRCS := ngx_octopus_audit_module/ngx_octopus_audit_frame.c
test_audit_frame_LIBS :=
