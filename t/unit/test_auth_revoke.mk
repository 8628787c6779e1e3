test_auth_revoke_SRCS := ngx_octopus_auth_module/ngx_octopus_auth_revoke_entry.c
test_auth_revoke_LIBS :=
