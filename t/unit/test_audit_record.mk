test_audit_record_SRCS := common/ngx_octopus_json.c \
    ngx_octopus_audit_module/ngx_octopus_audit_record.c \
    ngx_octopus_audit_module/ngx_octopus_audit_redact.c
test_audit_record_LIBS := -lcrypto -lpcre2-8
