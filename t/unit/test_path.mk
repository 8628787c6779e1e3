test_path_SRCS := ngx_octopus_auth_module/ngx_octopus_path.c
test_path_LIBS :=
