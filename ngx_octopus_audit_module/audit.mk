# ngx_octopus_audit_module: the audit verify tool (Perl, installed into
# $(BUILD)/tools by `make`)

TOOLS += $(BUILD)/tools/octopus-audit-verify

$(BUILD)/tools/octopus-audit-verify: tools/octopus-audit-verify
	@mkdir -p $(BUILD)/tools
	perl -c $< 2>&1 | grep -q 'syntax OK'
	install -m 0755 $< $@
