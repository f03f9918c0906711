/*
 * test_man.c - what `orc8r schema` generates from the schema tables: the
 * orc8r-yaml(5) page the build installs (current, complete, renders every
 * field), the JSON Schema for editors (patterns agree with the C format
 * checks, ranges, enums and secrets carried over), and the command's exit
 * codes.  Runs the built binary from O8_BIN_DIR.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "repo/schema.h"

static const char *bin_dir(void)
{
	const char *d = getenv("O8_BIN_DIR");

	assert_non_null(d);
	return d;
}

/* Output of a shell command; *status gets its exit status. */
static char *run(const char *cmd, int *status)
{
	FILE *p = popen(cmd, "r");
	size_t len = 0, cap = 1 << 16, n;
	char *buf = malloc(cap);
	int st;

	assert_non_null(p);
	assert_non_null(buf);
	while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
		len += n;
		if (cap - len < 2) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
	}
	buf[len] = '\0';
	st = pclose(p);
	assert_true(WIFEXITED(st));
	if (status)
		*status = WEXITSTATUS(st);
	return buf;
}

static char *orc8r(const char *args, int *status)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd), "'%s/orc8r' %s", bin_dir(), args);
	return run(cmd, status);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		fail_msg("cannot open '%s' (is the o8-man target built?)", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void page_path(char *out, size_t sz)
{
	snprintf(out, sz, "%s/../man/orc8r-yaml.5", bin_dir());
}

/* ------------------------------------------------------------------ */
/* orc8r-yaml(5)                                                      */

/* The installed page is what the current tables produce. */
static void man__generated_page_is_current(void **state)
{
	char path[4096], *page, *now;
	int st;

	(void)state;
	page_path(path, sizeof(path));
	page = read_file(path);
	now = orc8r("schema -o man", &st);
	assert_int_equal(st, 0);
	assert_string_equal(page, now);
	free(page);
	free(now);
}

/* The part of the page from ".SS <kind>" up to the next section. */
static const char *kind_section(const char *page, const char *name, size_t *len)
{
	char head[64];
	const char *s, *e, *e2;

	snprintf(head, sizeof(head), "\n.SS %s\n", name);
	s = strstr(page, head);
	if (!s)
		fail_msg("the page has no section for %s", name);
	s += strlen(head);
	e = strstr(s, "\n.SS ");
	e2 = strstr(s, "\n.SH ");
	if (!e || (e2 && e2 < e))
		e = e2;
	*len = e ? (size_t)(e - s) : strlen(s);
	return s;
}

static void man__every_field_of_every_kind_is_documented(void **state)
{
	char path[4096], *page;
	int k;

	(void)state;
	page_path(path, sizeof(path));
	page = read_file(path);
	assert_non_null(strstr(page, ".TH ORC8R-YAML 5"));
	for (k = O8_KIND_NONE + 1; k < O8_KIND__COUNT; k++) {
		const struct o8_kind_schema *ks = o8_schema_kind(k);
		size_t len, i;
		const char *sec = kind_section(page, ks->name, &len);
		char *copy = strndup(sec, len);

		assert_non_null(copy);
		for (i = 0; i < ks->nfields; i++) {
			char tag[300];

			snprintf(tag, sizeof(tag), "\n.B \\%%%s\n", ks->fields[i].path);
			if (!strstr(copy, tag))
				fail_msg("orc8r-yaml(5) does not document %s '%s'",
					 ks->name, ks->fields[i].path);
		}
		free(copy);
	}
	free(page);
}

/*
 * A .TP tag as formatted: the first word of a line, followed by the end
 * of the line or (for a tag narrower than the indent) the text.
 */
static bool has_tag(const char *text, const char *path)
{
	size_t n = strlen(path);
	const char *p, *q;

	for (p = strstr(text, path); p; p = strstr(p + 1, path)) {
		if (p[n] != '\n' && p[n] != ' ')
			continue;
		for (q = p; q > text && q[-1] == ' '; q--)
			;
		if (q < p && (q == text || q[-1] == '\n'))
			return true;
	}
	return false;
}

/* After formatting, every path is still there in one piece. */
static void man__rendered_page_shows_every_path(void **state)
{
	char path[4096], cmd[4200], *text;
	int k, st;

	(void)state;
	page_path(path, sizeof(path));
	snprintf(cmd, sizeof(cmd),
		 "LC_ALL=C groff -man -Tascii -P-cbou -rLL=200n '%s' 2>&1", path);
	text = run(cmd, &st);
	assert_int_equal(st, 0);
	for (k = O8_KIND_NONE + 1; k < O8_KIND__COUNT; k++) {
		const struct o8_kind_schema *ks = o8_schema_kind(k);
		size_t i;

		for (i = 0; i < ks->nfields; i++) {
			if (!has_tag(text, ks->fields[i].path))
				fail_msg("rendered orc8r-yaml(5) lacks '%s'",
					 ks->fields[i].path);
		}
	}
	assert_non_null(strstr(text, "hardwareId: 5b1ac1a4-7b8f-4c5e-9d0a-1f2e3d4c5b6a"));
	free(text);
}

/* ------------------------------------------------------------------ */
/* JSON Schema                                                        */

static json_t *find_node(json_t *spec, const char *path);

static json_t *schema_node(json_t *spec, const char *path)
{
	json_t *n = find_node(spec, path);

	if (!n)
		fail_msg("JSON Schema lacks '%s'", path);
	return n;
}

static json_t *load_json(const char *args)
{
	json_error_t jerr;
	json_t *j;
	char *out;
	int st;

	out = orc8r(args, &st);
	assert_int_equal(st, 0);
	j = json_loads(out, 0, &jerr);
	if (!j)
		fail_msg("'orc8r %s' is not JSON: %s (line %d)", args, jerr.text,
			 jerr.line);
	free(out);
	return j;
}

/* The node that describes field f inside the kind's spec definition. */
static json_t *find_node(json_t *spec, const char *path)
{
	char buf[256], *tok, *save = NULL;
	json_t *cur = spec;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save)) {
		size_t n = strlen(tok);
		bool items = n >= 2 && !strcmp(tok + n - 2, "[]");

		if (items)
			tok[n - 2] = '\0';
		cur = json_object_get(json_object_get(cur, "properties"), tok);
		if (!cur)
			return NULL;
		if (items)
			cur = json_object_get(cur, "items");
	}
	return cur;
}

/* Strings every format is probed with: the regex must agree with C. */
static const char *const probes[] = {
	"", "lab", "agw-berlin-1", "-lab", "Lab", "a_b", "a", "0",
	"00101", "0010", "001010000000001", "0010100000000011",
	"IMSI001010000000001", "IMSI0010", "imsi00101", "001", "01", "0011",
	"0.0.0.0", "255.255.255.255", "256.0.0.0", "01.2.3.4", "1.2.3",
	"1.2.3.4.5", "10.0.3.20", "1.2.3.4 ", "0.0.0.0/0", "192.168.128.0/24",
	"10.0.0.1/32", "10.0.0.0/33", "256.0.0.0/8", "10.0.0.0/08",
	"10.0.0.0/", "x10.0.0.0/8",
	"6513270e269e0d37f2a74de452e6b438", "6513270E269E0D37F2A74DE452E6B43",
	"6513270e269e0d37f2a74de452e6b43g",
	"5b1ac1a4-7b8f-4c5e-9d0a-1f2e3d4c5b6a",
	"5B1AC1A4-7B8F-4C5E-9D0A-1F2E3D4C5B6A",
	"5b1ac1a47b8f4c5e9d0a1f2e3d4c5b6a", "120200002618AGP0001", "AGP 0001",
	"0123456789012345678901234567890123456789012345678901234567890123",
	"01234567890123456789012345678901234567890123456789012345678901234",
	"8000", "800", "80g0", "30s", "5m", "1h", "30d", "1.5h",
};

static void json__patterns_agree_with_format_checks(void **state)
{
	json_t *root = load_json("schema -o json"), *defs;
	int k, checked = 0;

	(void)state;
	defs = json_object_get(root, "$defs");
	assert_non_null(defs);
	for (k = O8_KIND_NONE + 1; k < O8_KIND__COUNT; k++) {
		const struct o8_kind_schema *ks = o8_schema_kind(k);
		char name[64];
		json_t *spec;
		size_t i, p;

		snprintf(name, sizeof(name), "%sSpec", ks->name);
		spec = json_object_get(defs, name);
		assert_non_null(spec);
		for (i = 0; i < ks->nfields; i++) {
			const struct o8_field *f = &ks->fields[i];
			json_t *n = find_node(spec, f->path);
			const char *pat;
			regex_t re;

			if (!n)
				fail_msg("JSON Schema lacks %s '%s'", ks->name, f->path);
			if (f->fmt == O8_FMT_NONE)
				continue;
			if (f->type == O8_T_DICT)
				n = json_object_get(n, "additionalProperties");
			pat = json_string_value(json_object_get(n, "pattern"));
			if (!pat)
				fail_msg("%s '%s' has a format but no pattern", ks->name, f->path);
			assert_int_equal(regcomp(&re, pat, REG_EXTENDED | REG_NOSUB), 0);
			for (p = 0; p < sizeof(probes) / sizeof(probes[0]); p++) {
				bool c = o8_schema_fmt_ok(f->fmt, probes[p], strlen(probes[p]));
				bool r = regexec(&re, probes[p], 0, NULL, 0) == 0;

				if (c != r)
					fail_msg("%s '%s': pattern %s %s '%s', the C check %s it",
						 ks->name, f->path, pat,
						 r ? "accepts" : "refuses", probes[p],
						 c ? "accepts" : "refuses");
			}
			regfree(&re);
			checked++;
		}
	}
	assert_true(checked > 15);
	json_decref(root);
}

static void json__ranges_enums_required_and_secrets(void **state)
{
	json_t *root = load_json("schema -o json"), *defs, *gw, *sub, *net, *n;

	(void)state;
	assert_string_equal(json_string_value(json_object_get(root, "$schema")),
			    "https://json-schema.org/draft/2020-12/schema");
	n = json_object_get(json_object_get(root, "properties"), "apiVersion");
	assert_string_equal(json_string_value(json_object_get(n, "const")), "orc8r/v1");
	assert_int_equal(json_array_size(json_object_get(root, "allOf")),
			 O8_KIND__COUNT - 1);
	defs = json_object_get(root, "$defs");
	gw = json_object_get(defs, "GatewaySpec");
	sub = json_object_get(defs, "SubscriberSpec");
	net = json_object_get(defs, "NetworkSpec");
	assert_non_null(gw);
	assert_non_null(sub);
	assert_non_null(net);

	n = schema_node(gw, "ran.pci");
	assert_string_equal(json_string_value(json_object_get(n, "type")), "integer");
	assert_int_equal(json_integer_value(json_object_get(n, "minimum")), 1);
	assert_int_equal(json_integer_value(json_object_get(n, "maximum")), 503);
	assert_true(json_is_false(json_object_get(gw, "additionalProperties")));
	assert_true(json_is_false(json_object_get(schema_node(gw, "epc"),
						  "additionalProperties")));
	/* sorted: epc (Magma requires ip_block) before hardwareId */
	assert_string_equal(json_string_value(json_array_get(json_object_get(gw, "required"), 0)),
			    "epc");
	assert_string_equal(json_string_value(json_array_get(json_object_get(gw, "required"), 1)),
			    "hardwareId");
	n = schema_node(gw, "checkinInterval");
	assert_int_equal(json_integer_value(json_object_get(n, "default")), 60);

	n = schema_node(sub, "ki");
	assert_true(json_is_true(json_object_get(n, "writeOnly")));
	assert_null(json_object_get(schema_node(sub, "imsi"), "writeOnly"));
	n = json_object_get(schema_node(sub, "state"), "enum");
	assert_int_equal(json_array_size(n), 2);
	assert_string_equal(json_string_value(json_array_get(n, 0)), "ACTIVE");

	n = json_object_get(schema_node(net, "cellular.ran.bandwidthMhz"), "enum");
	assert_int_equal(json_array_size(n), 5);
	assert_int_equal(json_integer_value(json_array_get(n, 0)), 3);
	assert_int_equal(json_integer_value(json_array_get(n, 4)), 20);
	n = schema_node(net, "cellular.epc.subProfiles[]");
	assert_string_equal(json_string_value(json_array_get(json_object_get(n, "required"), 0)),
			    "maxDlBitRate");
	json_decref(root);
}

static void json__one_kind_and_subscriber_sets(void **state)
{
	json_t *root = load_json("schema subscriberset -o json"), *defs, *n;

	(void)state;
	n = json_object_get(json_object_get(root, "properties"), "kind");
	assert_string_equal(json_string_value(json_object_get(n, "const")), "SubscriberSet");
	defs = json_object_get(root, "$defs");
	assert_non_null(json_object_get(defs, "SubscriberSetSpec"));
	assert_non_null(json_object_get(defs, "SubscriberSpec"));
	assert_null(json_object_get(defs, "GatewaySpec"));
	/* items need an imsi; defaults need nothing */
	assert_non_null(json_object_get(json_object_get(defs, "SubscriberSpec"), "required"));
	n = json_object_get(defs, "SubscriberSpecDefaults");
	assert_non_null(n);
	assert_null(json_object_get(n, "required"));
	n = schema_node(json_object_get(defs, "SubscriberSetSpec"), "subscribers[]");
	assert_string_equal(json_string_value(json_object_get(n, "$ref")),
			    "#/$defs/SubscriberSpec");
	n = schema_node(json_object_get(defs, "SubscriberSetSpec"), "defaults");
	assert_string_equal(json_string_value(json_object_get(n, "$ref")),
			    "#/$defs/SubscriberSpecDefaults");
	json_decref(root);
}

/* ------------------------------------------------------------------ */
/* The command                                                        */

static void cmd__kinds_text_and_exit_codes(void **state)
{
	char *out;
	int st, k;
	size_t i;

	(void)state;
	out = orc8r("schema", &st);
	assert_int_equal(st, 0);
	for (k = O8_KIND_NONE + 1; k < O8_KIND__COUNT; k++)
		assert_non_null(strstr(out, o8_schema_kind(k)->name));
	free(out);

	/* case-insensitive, singular or plural */
	out = orc8r("schema GATEWAYS", &st);
	assert_int_equal(st, 0);
	for (i = 0; i < o8_schema_kind(O8_KIND_GATEWAY)->nfields; i++)
		assert_non_null(strstr(out, o8_schema_kind(O8_KIND_GATEWAY)->fields[i].path));
	assert_non_null(strstr(out, "required"));
	free(out);

	out = orc8r("schema nosuchkind 2>&1", &st);
	assert_int_equal(st, 1);
	assert_non_null(strstr(out, "unknown kind 'nosuchkind'"));
	assert_non_null(strstr(out, "SubscriberSet"));
	free(out);

	out = orc8r("schema --no-such-option 2>&1", &st);
	assert_int_equal(st, 64);
	free(out);
	out = orc8r("schema -o yaml 2>&1", &st);
	assert_int_equal(st, 64);
	free(out);
	out = orc8r("schema gateway enodeb 2>&1", &st);
	assert_int_equal(st, 64);
	free(out);
	out = orc8r("schema --help", &st);
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "orc8r schema gateway"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(man__generated_page_is_current),
		cmocka_unit_test(man__every_field_of_every_kind_is_documented),
		cmocka_unit_test(man__rendered_page_shows_every_path),
		cmocka_unit_test(json__patterns_agree_with_format_checks),
		cmocka_unit_test(json__ranges_enums_required_and_secrets),
		cmocka_unit_test(json__one_kind_and_subscriber_sets),
		cmocka_unit_test(cmd__kinds_text_and_exit_codes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
