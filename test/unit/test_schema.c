/*
 * test_schema.c - the schema tables are well formed (sorted, parents exist,
 * every list has an items row), cover every field the example repository
 * uses, hold the contract the validator relies on (required fields, ranges,
 * formats), and the format checks accept and refuse the right strings
 * (lib/repo/schema.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "repo/schema.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const struct o8_kind_schema *kind(enum o8_kind k)
{
	const struct o8_kind_schema *ks = o8_schema_kind(k);

	assert_non_null(ks);
	return ks;
}

static const struct o8_field *must_field(enum o8_kind k, const char *path)
{
	const struct o8_field *f = o8_schema_field(kind(k), path);

	if (!f)
		fail_msg("%s has no field '%s'", kind(k)->name, path);
	return f;
}

/* "a.b" -> "a", "a[]" -> "a", "a[].b" -> "a[]", "a" -> "". */
static void parent_of(const char *path, char *out, size_t sz)
{
	size_t n = strlen(path);
	const char *dot;

	if (n >= 2 && !strcmp(path + n - 2, "[]")) {
		n -= 2;
	} else {
		dot = strrchr(path, '.');
		n = dot ? (size_t)(dot - path) : 0;
	}
	assert_true(n < sz);
	memcpy(out, path, n);
	out[n] = '\0';
}

static bool ends_with_items(const char *path)
{
	size_t n = strlen(path);

	return n >= 2 && !strcmp(path + n - 2, "[]");
}

/* ------------------------------------------------------------------ */
/* Table shape                                                        */

static void schema__tables_sorted_without_duplicates(void **state)
{
	int k;
	size_t i;

	(void)state;
	for (k = O8_KIND_NONE + 1; k < O8_KIND__COUNT; k++) {
		const struct o8_kind_schema *ks = kind(k);

		assert_true(ks->nfields > 0);
		for (i = 1; i < ks->nfields; i++)
			if (strcmp(ks->fields[i - 1].path, ks->fields[i].path) >= 0)
				fail_msg("%s: '%s' must sort before '%s' (strcmp order, no duplicates)",
					 ks->name, ks->fields[i - 1].path,
					 ks->fields[i].path);
	}
}

static void schema__every_row_has_its_parent(void **state)
{
	char parent[256];
	int k;
	size_t i;

	(void)state;
	for (k = O8_KIND_NONE + 1; k < O8_KIND__COUNT; k++) {
		const struct o8_kind_schema *ks = kind(k);

		for (i = 0; i < ks->nfields; i++) {
			const struct o8_field *f = &ks->fields[i], *p;

			parent_of(f->path, parent, sizeof(parent));
			if (!parent[0])
				continue;
			p = o8_schema_field(ks, parent);
			if (!p)
				fail_msg("%s: '%s' has no parent row '%s'", ks->name,
					 f->path, parent);
			if (ends_with_items(f->path)) {
				if (p->type != O8_T_LIST)
					fail_msg("%s: '%s' is an items row but '%s' is not a list",
						 ks->name, f->path, parent);
			} else if (p->type != O8_T_OBJECT) {
				fail_msg("%s: '%s' sits below '%s', which is not an object",
					 ks->name, f->path, parent);
			}
			/* spec_of objects take their rows from another table */
			if (p->spec_of != O8_KIND_NONE)
				fail_msg("%s: '%s' sits below '%s', whose fields come from %s",
					 ks->name, f->path, parent,
					 kind(p->spec_of)->name);
		}
	}
}

static void schema__every_list_has_an_items_row(void **state)
{
	char items[256];
	int k;
	size_t i;

	(void)state;
	for (k = O8_KIND_NONE + 1; k < O8_KIND__COUNT; k++) {
		const struct o8_kind_schema *ks = kind(k);

		for (i = 0; i < ks->nfields; i++) {
			const struct o8_field *f = &ks->fields[i];

			if (f->type != O8_T_LIST)
				continue;
			snprintf(items, sizeof(items), "%s[]", f->path);
			if (!o8_schema_field(ks, items))
				fail_msg("%s: list '%s' has no '%s' row", ks->name,
					 f->path, items);
		}
	}
}

static bool in_enums(const char *const *e, const char *v)
{
	for (; e && *e; e++)
		if (!strcmp(*e, v))
			return true;
	return false;
}

/* What each column may hold for each type, and defaults that parse. */
static void schema__rows_are_well_formed(void **state)
{
	int k;
	size_t i;

	(void)state;
	for (k = O8_KIND_NONE + 1; k < O8_KIND__COUNT; k++) {
		const struct o8_kind_schema *ks = kind(k);

		for (i = 0; i < ks->nfields; i++) {
			const struct o8_field *f = &ks->fields[i];
			size_t dl;

			assert_non_null(f->path);
			assert_true(f->type >= O8_T_STRING && f->type <= O8_T_DICT);
			assert_non_null(f->doc);
			dl = strlen(f->doc);
			if (dl == 0 || f->doc[dl - 1] == '.')
				fail_msg("%s.%s: doc must be one line without a full stop",
					 ks->name, f->path);
			assert_null(strchr(f->doc, '\n'));
			assert_true(f->min <= f->max || f->max == 0);
			if (f->fmt != O8_FMT_NONE && f->type != O8_T_STRING &&
			    f->type != O8_T_DICT)
				fail_msg("%s.%s: a format needs a string", ks->name, f->path);
			if (f->ref != O8_KIND_NONE) {
				if (f->type != O8_T_STRING)
					fail_msg("%s.%s: only strings reference objects",
						 ks->name, f->path);
				assert_non_null(o8_schema_kind(f->ref));
			}
			if (f->spec_of != O8_KIND_NONE) {
				assert_int_equal(f->type, O8_T_OBJECT);
				assert_non_null(o8_schema_kind(f->spec_of));
			}
			if (f->flags & O8_F_SENSITIVE)
				assert_int_equal(f->type, O8_T_STRING);
			if (f->type == O8_T_ENUM) {
				assert_non_null(f->enums);
				assert_non_null(f->enums[0]);
			} else if (f->enums) {
				const char *const *e;

				assert_true(f->type == O8_T_NUMBER || f->type == O8_T_INT);
				for (e = f->enums; *e; e++) {
					char *end;

					strtod(*e, &end);
					assert_true(**e && !*end);
				}
			}
			if (!f->def)
				continue;
			switch (f->type) {
			case O8_T_ENUM:
				if (!in_enums(f->enums, f->def))
					fail_msg("%s.%s: default '%s' is not one of the values",
						 ks->name, f->path, f->def);
				break;
			case O8_T_BOOL:
				assert_true(!strcmp(f->def, "true") || !strcmp(f->def, "false"));
				break;
			case O8_T_INT: {
				char *end;
				double v = strtod(f->def, &end);

				assert_true(*f->def && !*end);
				if ((f->min || f->max) && (v < f->min || v > f->max))
					fail_msg("%s.%s: default %s is out of range",
						 ks->name, f->path, f->def);
				break;
			}
			case O8_T_STRING:
				if (!o8_schema_fmt_ok(f->fmt, f->def, strlen(f->def)))
					fail_msg("%s.%s: default '%s' does not match its format",
						 ks->name, f->path, f->def);
				break;
			default:
				fail_msg("%s.%s: no default expected for this type",
					 ks->name, f->path);
			}
		}
	}
}

static void schema__kinds_by_number_and_name(void **state)
{
	int k;

	(void)state;
	assert_null(o8_schema_kind(O8_KIND_NONE));
	assert_null(o8_schema_kind(O8_KIND__COUNT));
	assert_null(o8_schema_kind((enum o8_kind)-1));
	for (k = O8_KIND_NONE + 1; k < O8_KIND__COUNT; k++) {
		const struct o8_kind_schema *ks = kind(k);

		assert_int_equal(ks->kind, k);
		assert_ptr_equal(o8_schema_kind_by_name(ks->name), ks);
		assert_non_null(ks->plural);
		assert_non_null(ks->doc);
		assert_non_null(ks->example);
		assert_true(strlen(ks->doc) > 40);
		assert_int_equal(ks->namespaced, k != O8_KIND_NETWORK);
		assert_ptr_equal(ks->fields, o8_schema_field(ks, ks->fields[0].path));
	}
	assert_string_equal(kind(O8_KIND_ENODEB)->name, "ENodeB");
	assert_string_equal(kind(O8_KIND_SUBSCRIBERSET)->name, "SubscriberSet");
	assert_string_equal(kind(O8_KIND_POLICYRULE)->name, "PolicyRule");
	/* exact and case-sensitive: the CLI does the friendly matching */
	assert_null(o8_schema_kind_by_name("gateway"));
	assert_null(o8_schema_kind_by_name("Gateways"));
	assert_null(o8_schema_kind_by_name(""));
	assert_null(o8_schema_kind_by_name(NULL));
	assert_null(o8_schema_kind_by_name("RepoConfig"));
}

static void schema__field_lookup(void **state)
{
	int k;
	size_t i;

	(void)state;
	for (k = O8_KIND_NONE + 1; k < O8_KIND__COUNT; k++) {
		const struct o8_kind_schema *ks = kind(k);

		for (i = 0; i < ks->nfields; i++)
			assert_ptr_equal(o8_schema_field(ks, ks->fields[i].path),
					 &ks->fields[i]);
	}
	assert_null(o8_schema_field(kind(O8_KIND_GATEWAY), "hardwareid"));
	assert_null(o8_schema_field(kind(O8_KIND_GATEWAY), "epc."));
	assert_null(o8_schema_field(kind(O8_KIND_GATEWAY), ""));
	assert_null(o8_schema_field(kind(O8_KIND_GATEWAY), NULL));
	assert_null(o8_schema_field(NULL, "hardwareId"));
	assert_null(o8_schema_field(kind(O8_KIND_NETWORK), "hardwareId"));
}

static void schema__type_and_format_names(void **state)
{
	int t, f;

	(void)state;
	assert_string_equal(o8_schema_type_name(O8_T_INT), "integer");
	assert_string_equal(o8_schema_type_name(O8_T_LIST), "list");
	for (t = O8_T_STRING; t <= O8_T_DICT; t++)
		assert_string_not_equal(o8_schema_type_name(t), "unknown");
	assert_string_equal(o8_schema_type_name(0), "unknown");
	for (f = O8_FMT_NONE + 1; f < O8_FMT__COUNT; f++) {
		const char *d = o8_schema_fmt_doc(f);

		assert_non_null(d);
		assert_string_not_equal(d, "unknown format");
	}
	assert_string_equal(o8_schema_fmt_doc(O8_FMT__COUNT), "unknown format");
	assert_non_null(strstr(o8_schema_fmt_doc(O8_FMT_IMSI), "10-15 digits"));
}

/* ------------------------------------------------------------------ */
/* The contract the validator and the other tools rely on             */

static void expect(enum o8_kind k, const char *path, enum o8_type type,
		   unsigned flags, double min, double max, enum o8_fmt fmt)
{
	const struct o8_field *f = must_field(k, path);

	if (f->type != type || (f->flags & flags) != flags || f->min != min ||
	    f->max != max || f->fmt != fmt)
		fail_msg("%s.%s: type %d flags %#x range %g-%g fmt %d, expected "
			 "type %d flags %#x range %g-%g fmt %d", kind(k)->name, path,
			 f->type, f->flags, f->min, f->max, f->fmt, type, flags,
			 min, max, fmt);
}

static void expect_enums(enum o8_kind k, const char *path, const char *const *want)
{
	const struct o8_field *f = must_field(k, path);
	size_t i;

	for (i = 0; want[i]; i++) {
		if (!f->enums || !f->enums[i] || strcmp(f->enums[i], want[i]))
			fail_msg("%s.%s: value %zu should be '%s'", kind(k)->name,
				 path, i, want[i]);
	}
	assert_null(f->enums[i]);
}

static void schema__validator_contract(void **state)
{
	const unsigned R = O8_F_REQUIRED;

	(void)state;
	expect(O8_KIND_GATEWAY, "hardwareId", O8_T_STRING, R | O8_F_UNIQUE_REPO, 0, 0, O8_FMT_UUID);
	expect(O8_KIND_GATEWAY, "ran.pci", O8_T_INT, 0, 1, 503, O8_FMT_NONE);
	expect(O8_KIND_GATEWAY, "epc.ipBlock", O8_T_STRING, R, 0, 0, O8_FMT_CIDR4);
	expect(O8_KIND_GATEWAY, "epc.dnsPrimary", O8_T_STRING, 0, 0, 0, O8_FMT_IPV4);
	expect(O8_KIND_GATEWAY, "epc.dnsSecondary", O8_T_STRING, 0, 0, 0, O8_FMT_IPV4);
	expect(O8_KIND_GATEWAY, "enodebs", O8_T_LIST, 0, 0, 64, O8_FMT_NONE);
	assert_int_equal(must_field(O8_KIND_GATEWAY, "enodebs[]")->ref, O8_KIND_ENODEB);
	assert_int_equal(must_field(O8_KIND_GATEWAY, "tier")->ref, O8_KIND_TIER);
	assert_string_equal(must_field(O8_KIND_GATEWAY, "checkinInterval")->def, "60");
	assert_string_equal(must_field(O8_KIND_GATEWAY, "ran.transmitEnabled")->def, "true");

	expect(O8_KIND_ENODEB, "serial", O8_T_STRING, R | O8_F_UNIQUE_REPO, 0, 0, O8_FMT_SERIAL);
	expect(O8_KIND_ENODEB, "managed.pci", O8_T_INT, 0, 1, 503, O8_FMT_NONE);
	expect(O8_KIND_ENODEB, "managed.tac", O8_T_INT, 0, 1, 65535, O8_FMT_NONE);
	expect(O8_KIND_ENODEB, "managed.earfcndl", O8_T_INT, 0, 0, 65535, O8_FMT_NONE);
	expect(O8_KIND_ENODEB, "unmanaged.ipAddress", O8_T_STRING, R, 0, 0, O8_FMT_IPV4);
	expect_enums(O8_KIND_ENODEB, "configType",
		     (const char *const[]){ "managed", "unmanaged", NULL });

	expect(O8_KIND_NETWORK, "cellular.epc.mcc", O8_T_STRING, R, 0, 0, O8_FMT_MCC);
	expect(O8_KIND_NETWORK, "cellular.epc.mnc", O8_T_STRING, R, 0, 0, O8_FMT_MNC);
	expect(O8_KIND_NETWORK, "cellular.epc.tac", O8_T_INT, R, 1, 65535, O8_FMT_NONE);
	expect(O8_KIND_NETWORK, "cellular.epc.lteAuthOp", O8_T_STRING, O8_F_SENSITIVE, 0, 0, O8_FMT_HEX32);
	expect(O8_KIND_NETWORK, "cellular.epc.lteAuthAmf", O8_T_STRING, 0, 4, 4, O8_FMT_HEX);
	expect(O8_KIND_NETWORK, "cellular.ran.bandwidthMhz", O8_T_NUMBER, R, 0, 0, O8_FMT_NONE);
	expect_enums(O8_KIND_NETWORK, "cellular.ran.bandwidthMhz",
		     (const char *const[]){ "3", "5", "10", "15", "20", NULL });
	expect(O8_KIND_NETWORK, "cellular.ran.tddConfig.earfcndl", O8_T_INT, R, 0, 65535, O8_FMT_NONE);
	expect(O8_KIND_NETWORK, "cellular.epc.subProfiles", O8_T_LIST, 0, 0, 0, O8_FMT_NONE);
	expect(O8_KIND_NETWORK, "cellular.epc.subProfiles[]", O8_T_OBJECT, 0, 0, 0, O8_FMT_NONE);
	expect(O8_KIND_NETWORK, "cellular.epc.subProfiles[].name", O8_T_STRING, R, 0, 0, O8_FMT_NAME);
	must_field(O8_KIND_NETWORK, "cellular.epc.subProfiles[].maxUlBitRate");
	must_field(O8_KIND_NETWORK, "cellular.epc.subProfiles[].maxDlBitRate");
	expect_enums(O8_KIND_NETWORK, "cellular.epc.ipAllocationMode",
		     (const char *const[]){ "NAT", "STATIC", "DHCP_PASSTHROUGH",
					    "DHCP_BROADCAST", NULL });

	expect(O8_KIND_APN, "ambr", O8_T_OBJECT, R, 0, 0, O8_FMT_NONE);
	expect(O8_KIND_APN, "qos.qci", O8_T_INT, R, 0, 79, O8_FMT_NONE);
	expect_enums(O8_KIND_APN, "qos.qci",
		     (const char *const[]){ "0", "1", "2", "3", "4", "5", "6", "7",
					    "8", "9", "65", "66", "67", "70", "75",
					    "79", NULL });
	expect(O8_KIND_APN, "qos.priority", O8_T_INT, 0, 0, 15, O8_FMT_NONE);
	assert_int_equal(o8_schema_name_fmt(kind(O8_KIND_APN)), O8_FMT_APN);
	assert_int_equal(o8_schema_name_fmt(kind(O8_KIND_GATEWAY)), O8_FMT_NAME);

	expect(O8_KIND_SUBSCRIBER, "imsi", O8_T_STRING, R | O8_F_UNIQUE_NET, 0, 0, O8_FMT_IMSI);
	expect(O8_KIND_SUBSCRIBER, "ki", O8_T_STRING, R | O8_F_SENSITIVE, 0, 0, O8_FMT_HEX32);
	expect(O8_KIND_SUBSCRIBER, "opc", O8_T_STRING, O8_F_SENSITIVE, 0, 0, O8_FMT_HEX32);
	expect(O8_KIND_SUBSCRIBER, "staticIps", O8_T_DICT, 0, 0, 0, O8_FMT_IPV4);
	expect(O8_KIND_SUBSCRIBER, "profile", O8_T_STRING, 0, 0, 0, O8_FMT_NONE);
	assert_int_equal(must_field(O8_KIND_SUBSCRIBER, "profile")->ref, O8_KIND_NONE);
	assert_int_equal(must_field(O8_KIND_SUBSCRIBER, "apns[]")->ref, O8_KIND_APN);
	assert_int_equal(must_field(O8_KIND_SUBSCRIBER, "policies[]")->ref, O8_KIND_POLICYRULE);
	assert_string_equal(must_field(O8_KIND_SUBSCRIBER, "state")->def, "ACTIVE");
	assert_string_equal(must_field(O8_KIND_SUBSCRIBER, "authAlgo")->def, "MILENAGE");
	expect_enums(O8_KIND_SUBSCRIBER, "state",
		     (const char *const[]){ "ACTIVE", "INACTIVE", NULL });
	expect_enums(O8_KIND_SUBSCRIBER, "authAlgo",
		     (const char *const[]){ "MILENAGE", NULL });

	expect(O8_KIND_SUBSCRIBERSET, "defaults", O8_T_OBJECT, 0, 0, 0, O8_FMT_NONE);
	assert_int_equal(must_field(O8_KIND_SUBSCRIBERSET, "defaults")->spec_of, O8_KIND_SUBSCRIBER);
	expect(O8_KIND_SUBSCRIBERSET, "subscribers", O8_T_LIST, R, 0, 0, O8_FMT_NONE);
	assert_int_equal(must_field(O8_KIND_SUBSCRIBERSET, "subscribers[]")->spec_of,
			 O8_KIND_SUBSCRIBER);

	expect(O8_KIND_POLICYRULE, "priority", O8_T_INT, R, 0, 65535, O8_FMT_NONE);
	expect_enums(O8_KIND_POLICYRULE, "flows[].action",
		     (const char *const[]){ "PERMIT", "DENY", NULL });
	expect_enums(O8_KIND_POLICYRULE, "flows[].direction",
		     (const char *const[]){ "UPLINK", "DOWNLINK", NULL });
	expect_enums(O8_KIND_POLICYRULE, "flows[].match.ipProto",
		     (const char *const[]){ "IPPROTO_IP", "TCP", "UDP", "ICMP", NULL });
	expect_enums(O8_KIND_POLICYRULE, "trackingType",
		     (const char *const[]){ "NO_TRACKING", "ONLY_OCS", "ONLY_PCRF",
					    "OCS_AND_PCRF", NULL });
}

/* ------------------------------------------------------------------ */
/* Formats                                                            */

struct fmt_case {
	enum o8_fmt fmt;
	const char *s;
	bool ok;
};

static const struct fmt_case fmt_cases[] = {
	{ O8_FMT_NONE, "", true },
	{ O8_FMT_NONE, "anything at all", true },

	{ O8_FMT_NAME, "lab", true },
	{ O8_FMT_NAME, "agw-berlin-1", true },
	{ O8_FMT_NAME, "a", true },
	{ O8_FMT_NAME, "0", true },
	{ O8_FMT_NAME, "a--b", true },
	{ O8_FMT_NAME, "abcdefghij" "abcdefghij" "abcdefghij" "abcdefghij"
		       "abcdefghij" "abcdefghij" "abc", true },           /* 63 */
	{ O8_FMT_NAME, "abcdefghij" "abcdefghij" "abcdefghij" "abcdefghij"
		       "abcdefghij" "abcdefghij" "abcd", false },         /* 64 */
	{ O8_FMT_NAME, "", false },
	{ O8_FMT_NAME, "-lab", false },
	{ O8_FMT_NAME, "lab-", false },
	{ O8_FMT_NAME, "Lab", false },
	{ O8_FMT_NAME, "a_b", false },
	{ O8_FMT_NAME, "a.b", false },
	{ O8_FMT_NAME, "a b", false },

	/* APN names as Magma takes them */
	{ O8_FMT_APN, "internet", true },
	{ O8_FMT_APN, "oai.ipv4", true },
	{ O8_FMT_APN, "internet.mnc001.mcc001.gprs", true },
	{ O8_FMT_APN, "IMS", true },
	{ O8_FMT_APN, "my_apn-1", true },
	{ O8_FMT_APN, "a", true },
	{ O8_FMT_APN, "", false },
	{ O8_FMT_APN, ".internet", false },
	{ O8_FMT_APN, "internet.", false },
	{ O8_FMT_APN, "a..b", false },
	{ O8_FMT_APN, "-ims", false },
	{ O8_FMT_APN, "ims_", false },
	{ O8_FMT_APN, "a._b", false },
	{ O8_FMT_APN, "a b", false },
	{ O8_FMT_APN, "a/b", false },

	{ O8_FMT_IMSI, "0010100001", true },              /* 10 digits */
	{ O8_FMT_IMSI, "001010000000001", true },         /* 15 */
	{ O8_FMT_IMSI, "IMSI001010000000001", true },
	{ O8_FMT_IMSI, "IMSI0010100001", true },
	{ O8_FMT_IMSI, "00101", false },                  /* 5: Magma wants 10 */
	{ O8_FMT_IMSI, "IMSI001010001", false },          /* 9 */
	{ O8_FMT_IMSI, "0010", false },                   /* 4 */
	{ O8_FMT_IMSI, "0010100000000011", false },       /* 16 */
	{ O8_FMT_IMSI, "IMSI0010", false },
	{ O8_FMT_IMSI, "IMSI0010100000000011", false },
	{ O8_FMT_IMSI, "IMSI", false },
	{ O8_FMT_IMSI, "", false },
	{ O8_FMT_IMSI, "imsi00101", false },
	{ O8_FMT_IMSI, "IMSI 00101", false },
	{ O8_FMT_IMSI, "00101a", false },
	{ O8_FMT_IMSI, " 00101", false },
	{ O8_FMT_IMSI, "0010-10000", false },

	{ O8_FMT_MCC, "001", true },
	{ O8_FMT_MCC, "262", true },
	{ O8_FMT_MCC, "01", false },
	{ O8_FMT_MCC, "0011", false },
	{ O8_FMT_MCC, "0a1", false },
	{ O8_FMT_MCC, "", false },

	{ O8_FMT_MNC, "01", true },
	{ O8_FMT_MNC, "001", true },
	{ O8_FMT_MNC, "1", false },
	{ O8_FMT_MNC, "0001", false },
	{ O8_FMT_MNC, "0x", false },

	{ O8_FMT_IPV4, "0.0.0.0", true },
	{ O8_FMT_IPV4, "255.255.255.255", true },
	{ O8_FMT_IPV4, "10.0.3.20", true },
	{ O8_FMT_IPV4, "192.168.128.10", true },
	{ O8_FMT_IPV4, "256.0.0.0", false },
	{ O8_FMT_IPV4, "1.2.3.256", false },
	{ O8_FMT_IPV4, "1.2.3", false },
	{ O8_FMT_IPV4, "1.2.3.4.5", false },
	{ O8_FMT_IPV4, "01.2.3.4", false },
	{ O8_FMT_IPV4, "1.2.3.4 ", false },
	{ O8_FMT_IPV4, " 1.2.3.4", false },
	{ O8_FMT_IPV4, "1..3.4", false },
	{ O8_FMT_IPV4, "1.2.3.", false },
	{ O8_FMT_IPV4, "1.2.3.-4", false },
	{ O8_FMT_IPV4, "1.2.3.4/24", false },
	{ O8_FMT_IPV4, "1111.2.3.4", false },
	{ O8_FMT_IPV4, "99999.2.3.4", false },
	{ O8_FMT_IPV4, "", false },

	{ O8_FMT_CIDR4, "0.0.0.0/0", true },
	{ O8_FMT_CIDR4, "192.168.128.0/24", true },
	{ O8_FMT_CIDR4, "10.0.0.1/32", true },
	{ O8_FMT_CIDR4, "10.0.0.0/8", true },
	{ O8_FMT_CIDR4, "10.0.0.0/33", false },
	{ O8_FMT_CIDR4, "10.0.0.0/100", false },
	{ O8_FMT_CIDR4, "256.0.0.0/8", false },
	{ O8_FMT_CIDR4, "10.0.0.0", false },
	{ O8_FMT_CIDR4, "10.0.0.0/", false },
	{ O8_FMT_CIDR4, "10.0.0.0/08", false },
	{ O8_FMT_CIDR4, "x10.0.0.0/8", false },
	{ O8_FMT_CIDR4, " 10.0.0.0/8", false },
	{ O8_FMT_CIDR4, "10.0.0.0/8x", false },
	{ O8_FMT_CIDR4, "10.0.0.0/-1", false },
	{ O8_FMT_CIDR4, "10.0.0.0//8", false },
	{ O8_FMT_CIDR4, "10.0.0/8", false },

	{ O8_FMT_HEX32, "6513270e269e0d37f2a74de452e6b438", true },
	{ O8_FMT_HEX32, "6513270E269E0D37F2A74DE452E6B438", true },
	{ O8_FMT_HEX32, "6513270e269e0d37f2a74de452e6b43", false },    /* 31 */
	{ O8_FMT_HEX32, "6513270e269e0d37f2a74de452e6b4380", false },  /* 33 */
	{ O8_FMT_HEX32, "6513270e269e0d37f2a74de452e6b43g", false },
	{ O8_FMT_HEX32, "", false },

	{ O8_FMT_UUID, "5b1ac1a4-7b8f-4c5e-9d0a-1f2e3d4c5b6a", true },
	{ O8_FMT_UUID, "5B1AC1A4-7B8F-4C5E-9D0A-1F2E3D4C5B6A", true },
	{ O8_FMT_UUID, "5b1ac1a47b8f4c5e9d0a1f2e3d4c5b6a", false },
	{ O8_FMT_UUID, "5b1ac1a4-7b8f-4c5e-9d0a-1f2e3d4c5b6", false },
	{ O8_FMT_UUID, "5b1ac1a4-7b8f-4c5e-9d0a-1f2e3d4c5b6aa", false },
	{ O8_FMT_UUID, "5b1ac1a4-7b8f-4c5e-9d0a-1f2e3d4c5b6g", false },
	{ O8_FMT_UUID, "5b1ac1a47-b8f-4c5e-9d0a-1f2e3d4c5b6a", false },
	{ O8_FMT_UUID, "{5b1ac1a4-7b8f-4c5e-9d0a-1f2e3d4c5b6}", false },

	{ O8_FMT_SERIAL, "120200002618AGP0001", true },
	{ O8_FMT_SERIAL, "a", true },
	{ O8_FMT_SERIAL, "!~", true },
	{ O8_FMT_SERIAL, "0123456789" "0123456789" "0123456789" "0123456789"
			 "0123456789" "0123456789" "0123", true },          /* 64 */
	{ O8_FMT_SERIAL, "0123456789" "0123456789" "0123456789" "0123456789"
			 "0123456789" "0123456789" "01234", false },        /* 65 */
	{ O8_FMT_SERIAL, "", false },
	{ O8_FMT_SERIAL, "AGP 0001", false },
	{ O8_FMT_SERIAL, "AGP\t0001", false },
	{ O8_FMT_SERIAL, "AGP\x7f", false },
	{ O8_FMT_SERIAL, "caf\xc3\xa9", false },

	{ O8_FMT_HEX, "8000", true },
	{ O8_FMT_HEX, "ab", true },
	{ O8_FMT_HEX, "AbCd", true },
	{ O8_FMT_HEX, "", false },
	{ O8_FMT_HEX, "800", false },
	{ O8_FMT_HEX, "80g0", false },
	{ O8_FMT_HEX, "0x80", false },

	{ O8_FMT_DURATION, "30s", true },
	{ O8_FMT_DURATION, "5m", true },
	{ O8_FMT_DURATION, "1h", true },
	{ O8_FMT_DURATION, "0s", true },
	{ O8_FMT_DURATION, "s", false },
	{ O8_FMT_DURATION, "30", false },
	{ O8_FMT_DURATION, "30d", false },
	{ O8_FMT_DURATION, "-1s", false },
	{ O8_FMT_DURATION, "1.5h", false },
	{ O8_FMT_DURATION, "", false },
};

static void schema__formats_accept_and_refuse(void **state)
{
	size_t i;
	int seen[O8_FMT__COUNT][2] = { { 0 } };

	(void)state;
	for (i = 0; i < NELEM(fmt_cases); i++) {
		const struct fmt_case *c = &fmt_cases[i];

		if (o8_schema_fmt_ok(c->fmt, c->s, strlen(c->s)) != c->ok)
			fail_msg("format %d: '%s' should be %s", c->fmt, c->s,
				 c->ok ? "accepted" : "refused");
		seen[c->fmt][c->ok]++;
	}
	/* every format is tested both ways (NONE accepts everything) */
	for (i = O8_FMT_NAME; i < O8_FMT__COUNT; i++)
		if (!seen[i][0] || !seen[i][1])
			fail_msg("format %zu lacks accept or refuse cases", i);
}

/* Magma enodebd's band table, at its edges. */
static void schema__lte_bands_are_enodebds(void **state)
{
	bool tdd = true;

	(void)state;
	assert_int_equal(o8_schema_lte_band(0, &tdd), 1);
	assert_false(tdd);
	assert_int_equal(o8_schema_lte_band(1575, NULL), 3);
	assert_int_equal(o8_schema_lte_band(2648, NULL), 5);
	assert_int_equal(o8_schema_lte_band(2649, NULL), 0);   /* band 5 ends */
	assert_int_equal(o8_schema_lte_band(3100, NULL), 0);   /* band 7: unknown */
	assert_int_equal(o8_schema_lte_band(9210, NULL), 28);
	assert_int_equal(o8_schema_lte_band(36199, NULL), 0);  /* a gap */
	assert_int_equal(o8_schema_lte_band(44590, &tdd), 43);
	assert_true(tdd);
	assert_int_equal(o8_schema_lte_band(60138, NULL), 52);
	assert_int_equal(o8_schema_lte_band(60139, NULL), 0);  /* band 52 ends */
	assert_int_equal(o8_schema_lte_band(60140, NULL), 0);  /* band 53 is not */
}

/* The length is what counts, not a terminating NUL: loaders pass slices. */
static void schema__formats_respect_length(void **state)
{
	const char *imsi = "001010000000001999";

	(void)state;
	assert_true(o8_schema_fmt_ok(O8_FMT_IMSI, imsi, 15));
	assert_false(o8_schema_fmt_ok(O8_FMT_IMSI, imsi, 16));
	assert_false(o8_schema_fmt_ok(O8_FMT_IMSI, imsi, 4));
	assert_true(o8_schema_fmt_ok(O8_FMT_IPV4, "10.0.0.1/24", 8));
	assert_true(o8_schema_fmt_ok(O8_FMT_CIDR4, "10.0.0.0/8,", 10));
	assert_false(o8_schema_fmt_ok(O8_FMT_CIDR4, "10.0.0.0/32", 9));
	assert_true(o8_schema_fmt_ok(O8_FMT_MCC, "0011", 3));
	assert_false(o8_schema_fmt_ok(O8_FMT_MCC, "00", 3));    /* NUL is no digit */
	assert_true(o8_schema_fmt_ok(O8_FMT_SERIAL, "AB CD", 2));
	assert_false(o8_schema_fmt_ok(O8_FMT_NAME, "abc", 0));
	assert_false(o8_schema_fmt_ok(O8_FMT_IMSI, NULL, 0));
	assert_false(o8_schema_fmt_ok(O8_FMT__COUNT, "x", 1));
}

/* ------------------------------------------------------------------ */
/* Every field the examples use is in the tables                      */

struct walk {
	const char *file;
	size_t fields;                  /* keys checked, to prove the walk ran */
	size_t kinds[O8_KIND__COUNT];
};

static yaml_node_t *node(yaml_document_t *d, int id)
{
	yaml_node_t *n = yaml_document_get_node(d, id);

	assert_non_null(n);
	return n;
}

static void walk_map(struct walk *w, yaml_document_t *d, yaml_node_t *map,
		     const struct o8_kind_schema *ks, const char *prefix);

/* Checks value n against row f (its shape) and descends into it. */
static void walk_value(struct walk *w, yaml_document_t *d, yaml_node_t *n,
		       const struct o8_kind_schema *ks, const struct o8_field *f)
{
	char items[256];
	const struct o8_field *it;
	yaml_node_item_t *i;

	switch (f->type) {
	case O8_T_OBJECT:
		if (n->type != YAML_MAPPING_NODE)
			fail_msg("%s:%zu: %s '%s' should be a map", w->file,
				 n->start_mark.line + 1, ks->name, f->path);
		if (f->spec_of != O8_KIND_NONE)
			walk_map(w, d, n, o8_schema_kind(f->spec_of), "");
		else
			walk_map(w, d, n, ks, f->path);
		break;
	case O8_T_LIST:
		if (n->type != YAML_SEQUENCE_NODE)
			fail_msg("%s:%zu: %s '%s' should be a list", w->file,
				 n->start_mark.line + 1, ks->name, f->path);
		snprintf(items, sizeof(items), "%s[]", f->path);
		it = o8_schema_field(ks, items);
		assert_non_null(it);
		for (i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++)
			walk_value(w, d, node(d, *i), ks, it);
		break;
	case O8_T_DICT:
		if (n->type != YAML_MAPPING_NODE)
			fail_msg("%s:%zu: %s '%s' should be a map", w->file,
				 n->start_mark.line + 1, ks->name, f->path);
		break;
	default:
		if (n->type != YAML_SCALAR_NODE)
			fail_msg("%s:%zu: %s '%s' should be a scalar", w->file,
				 n->start_mark.line + 1, ks->name, f->path);
		break;
	}
}

static void walk_map(struct walk *w, yaml_document_t *d, yaml_node_t *map,
		     const struct o8_kind_schema *ks, const char *prefix)
{
	yaml_node_pair_t *p;
	char path[256];

	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(d, p->key);
		const struct o8_field *f;

		assert_int_equal(k->type, YAML_SCALAR_NODE);
		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "",
			 (const char *)k->data.scalar.value);
		f = o8_schema_field(ks, path);
		if (!f)
			fail_msg("%s:%zu: %s field '%s' is not in the schema table",
				 w->file, k->start_mark.line + 1, ks->name, path);
		w->fields++;
		walk_value(w, d, node(d, p->value), ks, f);
	}
}

static yaml_node_t *map_get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *p;

	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(d, p->key);

		if (k->type == YAML_SCALAR_NODE &&
		    !strcmp((const char *)k->data.scalar.value, key))
			return node(d, p->value);
	}
	return NULL;
}

/* Walks every document of buf; want is the kind every document must have,
 * or O8_KIND_NONE to accept any kind. */
static void walk_buf(struct walk *w, const char *buf, size_t len, enum o8_kind want)
{
	yaml_parser_t parser;
	yaml_document_t doc;

	assert_true(yaml_parser_initialize(&parser));
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	for (;;) {
		yaml_node_t *root, *kn, *spec;
		const struct o8_kind_schema *ks;

		if (!yaml_parser_load(&parser, &doc))
			fail_msg("%s: YAML error: %s", w->file, parser.problem);
		root = yaml_document_get_root_node(&doc);
		if (!root) {
			yaml_document_delete(&doc);
			break;
		}
		kn = map_get(&doc, root, "kind");
		assert_non_null(kn);
		ks = o8_schema_kind_by_name((const char *)kn->data.scalar.value);
		if (!ks)
			fail_msg("%s: unknown kind '%s'", w->file, kn->data.scalar.value);
		if (want != O8_KIND_NONE)
			assert_int_equal(ks->kind, want);
		spec = map_get(&doc, root, "spec");
		assert_non_null(spec);
		assert_int_equal(spec->type, YAML_MAPPING_NODE);
		if (ks->namespaced)
			assert_non_null(map_get(&doc, map_get(&doc, root, "metadata"), "network"));
		walk_map(w, &doc, spec, ks, "");
		w->kinds[ks->kind]++;
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
}

static void walk_dir(struct walk *w, const char *dir)
{
	DIR *dp = opendir(dir);
	struct dirent *de;

	if (!dp)
		fail_msg("cannot open '%s'", dir);
	while ((de = readdir(dp))) {
		char path[4096];
		struct stat st;
		size_t n = strlen(de->d_name);

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		assert_int_equal(stat(path, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			walk_dir(w, path);
		} else if (n > 5 && !strcmp(de->d_name + n - 5, ".yaml")) {
			FILE *f = fopen(path, "rb");
			char *buf;

			assert_non_null(f);
			buf = malloc((size_t)st.st_size + 1);
			assert_non_null(buf);
			assert_int_equal(fread(buf, 1, (size_t)st.st_size, f),
					 (size_t)st.st_size);
			fclose(f);
			w->file = path;
			walk_buf(w, buf, (size_t)st.st_size, O8_KIND_NONE);
			free(buf);
		}
	}
	closedir(dp);
}

static void schema__example_repository_fields_are_known(void **state)
{
	const char *src = getenv("O8_SOURCE_DIR");
	struct walk w = { 0 };
	char dir[4096];
	int k;

	(void)state;
	assert_non_null(src);
	snprintf(dir, sizeof(dir), "%s/examples/networks/networks", src);
	walk_dir(&w, dir);
	/* the example repository exercises every kind and many fields */
	for (k = O8_KIND_NONE + 1; k < O8_KIND__COUNT; k++)
		if (!w.kinds[k])
			fail_msg("examples/networks has no %s document", kind(k)->name);
	assert_true(w.fields > 100);
}

static void schema__kind_examples_fit_their_tables(void **state)
{
	int k;

	(void)state;
	for (k = O8_KIND_NONE + 1; k < O8_KIND__COUNT; k++) {
		const struct o8_kind_schema *ks = kind(k);
		struct walk w = { .file = ks->name };

		walk_buf(&w, ks->example, strlen(ks->example), ks->kind);
		assert_int_equal(w.kinds[k], 1);
		/* every required top-level field is in the example */
		for (size_t i = 0; i < ks->nfields; i++) {
			const struct o8_field *f = &ks->fields[i];

			if ((f->flags & O8_F_REQUIRED) && !strpbrk(f->path, ".[") &&
			    !strstr(ks->example, f->path))
				fail_msg("%s example lacks required '%s'", ks->name, f->path);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(schema__tables_sorted_without_duplicates),
		cmocka_unit_test(schema__every_row_has_its_parent),
		cmocka_unit_test(schema__every_list_has_an_items_row),
		cmocka_unit_test(schema__rows_are_well_formed),
		cmocka_unit_test(schema__kinds_by_number_and_name),
		cmocka_unit_test(schema__field_lookup),
		cmocka_unit_test(schema__type_and_format_names),
		cmocka_unit_test(schema__validator_contract),
		cmocka_unit_test(schema__formats_accept_and_refuse),
		cmocka_unit_test(schema__lte_bands_are_enodebds),
		cmocka_unit_test(schema__formats_respect_length),
		cmocka_unit_test(schema__example_repository_fields_are_known),
		cmocka_unit_test(schema__kind_examples_fit_their_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
