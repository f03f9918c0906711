/*
 * test_compile.c - records are a pure function of the model (lib/repo/compile.h):
 * byte-identical on every run and thread count, blind to YAML formatting
 * and to defaults written out; a one-subscriber change is one record; a
 * secret never reaches a field, only its keyed fingerprint; SubscriberSet
 * defaults merge key by key; an AGW gets exactly its share; and every row
 * of every schema table lands in the protobuf message (checked by decoding
 * it, and in the other direction: every protobuf field has its row).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* open_memstream, strcasestr */
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <protobuf-c/protobuf-c.h>

#include "repo/compile.h"
#include "orc8r.pb-c.h"
#include "repo/validate.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The wire carries enum o8_rec_kind as RecordKind: the numbers agree. */
_Static_assert((int)ORC8R__V1__RECORD_KIND__RECORD_KIND_NETWORK == (int)O8_REC_NETWORK, "kind");
_Static_assert((int)ORC8R__V1__RECORD_KIND__RECORD_KIND_GATEWAY == (int)O8_REC_GATEWAY, "kind");
_Static_assert((int)ORC8R__V1__RECORD_KIND__RECORD_KIND_ENODEB == (int)O8_REC_ENODEB, "kind");
_Static_assert((int)ORC8R__V1__RECORD_KIND__RECORD_KIND_APN == (int)O8_REC_APN, "kind");
_Static_assert((int)ORC8R__V1__RECORD_KIND__RECORD_KIND_POLICY_RULE == (int)O8_REC_POLICY, "kind");
_Static_assert((int)ORC8R__V1__RECORD_KIND__RECORD_KIND_SUBSCRIBER == (int)O8_REC_SUBSCRIBER, "kind");
_Static_assert((int)ORC8R__V1__RECORD_KIND__RECORD_KIND_TIER == (int)O8_REC_TIER, "kind");

/* --- helpers ------------------------------------------------------------- */

struct built {
	struct o8_model *m;
	struct o8_records *r;
};

static void print_diags(const struct o8_diags *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		print_error("%s:%u:%u: %s\n", d->v[i].file, d->v[i].line, d->v[i].col,
			    d->v[i].msg);
}

static void compile_model(struct built *b, unsigned threads)
{
	struct o8_compile_opts opts = O8_COMPILE_OPTS_INIT;
	struct o8_err err = O8_ERR_INIT;
	size_t n = o8_model_nobjs(b->m), i;
	const struct o8_obj **objs = calloc(n ? n : 1, sizeof(*objs));

	assert_non_null(objs);
	for (i = 0; i < n; i++)
		objs[i] = o8_model_obj(b->m, i);
	opts.threads = threads;
	if (o8_compile_objs_opts(&b->r, objs, n, &opts, &err) != O8_OK)
		fail_msg("compile: %s", err.msg);
	free(objs);
}

static void validate_clean(struct built *b, bool must_be_valid)
{
	struct o8_diags d = O8_DIAGS_INIT;
	struct o8_err err = O8_ERR_INIT;

	assert_int_equal(o8_validate(b->m, NULL, NULL, &d, &err), O8_OK);
	if (must_be_valid && d.n) {
		print_diags(&d);
		fail_msg("the test input does not validate");
	}
	o8_diags_free(&d);
}

/* Loads YAML texts as files a.yaml, b.yaml, ... and compiles them. */
static void build(struct built *b, const char *const *texts, size_t n,
		  unsigned threads, bool must_be_valid)
{
	struct o8_src *srcs = calloc(n, sizeof(*srcs));
	struct o8_diags d = O8_DIAGS_INIT;
	struct o8_err err = O8_ERR_INIT;
	char (*names)[64] = calloc(n, sizeof(*names));
	size_t i;

	assert_non_null(srcs);
	assert_non_null(names);
	for (i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "networks/lab/f%02zu.yaml", i);
		srcs[i].path = names[i];
		srcs[i].buf = texts[i];
		srcs[i].len = strlen(texts[i]);
	}
	assert_int_equal(o8_model_load_srcs(&b->m, srcs, n, NULL, &d, &err), O8_OK);
	if (must_be_valid && d.n) {
		print_diags(&d);
		fail_msg("the test input does not load");
	}
	o8_diags_free(&d);
	free(srcs);
	free(names);
	validate_clean(b, must_be_valid);
	compile_model(b, threads);
}

static void build_dir(struct built *b, const char *rel, unsigned threads)
{
	const char *src = getenv("O8_SOURCE_DIR");
	struct o8_diags d = O8_DIAGS_INIT;
	struct o8_err err = O8_ERR_INIT;
	char dir[4096];

	assert_non_null(src);
	snprintf(dir, sizeof(dir), "%s/%s", src, rel);
	assert_int_equal(o8_model_load_dir(&b->m, dir, NULL, &d, &err), O8_OK);
	if (d.n)
		print_diags(&d);
	assert_int_equal(d.n, 0);
	o8_diags_free(&d);
	validate_clean(b, true);
	compile_model(b, threads);
}

static void done(struct built *b)
{
	o8_records_free(b->r);
	o8_model_free(b->m);
	b->r = NULL;
	b->m = NULL;
}

static const struct o8_record *must_find(const struct built *b, enum o8_rec_kind k,
					 const char *key)
{
	const struct o8_record *r = o8_records_find(b->r, "lab", k, key);

	if (!r)
		fail_msg("no %s '%s'", o8_rec_kind_name(k), key);
	return r;
}

/* The field's value, or NULL. */
static const char *field(const struct o8_record *r, const char *path)
{
	size_t i;

	for (i = 0; i < r->nfields; i++)
		if (!strcmp(r->fields[i].path, path))
			return r->fields[i].value;
	return NULL;
}

static void assert_field(const struct o8_record *r, const char *path, const char *want)
{
	const char *v = field(r, path);

	if (!v || strcmp(v, want))
		fail_msg("%s %s: field '%s' is '%s', want '%s'", o8_rec_kind_name(r->kind),
			 r->key, path, v ? v : "(absent)", want);
}

static void assert_same_record(const struct o8_record *a, const struct o8_record *b)
{
	size_t i;

	assert_int_equal(a->kind, b->kind);
	assert_string_equal(a->network, b->network);
	assert_string_equal(a->key, b->key);
	assert_string_equal(a->name, b->name);
	if (a->len != b->len || memcmp(a->body, b->body, a->len))
		fail_msg("%s %s: bodies differ", o8_rec_kind_name(a->kind), a->key);
	assert_memory_equal(a->digest, b->digest, 32);
	assert_int_equal(a->nfields, b->nfields);
	for (i = 0; i < a->nfields; i++) {
		assert_string_equal(a->fields[i].path, b->fields[i].path);
		assert_string_equal(a->fields[i].value, b->fields[i].value);
		assert_int_equal(a->fields[i].sensitive, b->fields[i].sensitive);
	}
}

static void assert_same_records(const struct o8_records *a, const struct o8_records *b)
{
	size_t i;

	assert_int_equal(o8_records_count(a), o8_records_count(b));
	for (i = 0; i < o8_records_count(a); i++)
		assert_same_record(o8_records_get(a, i), o8_records_get(b, i));
}

/* Sorted by (network, kind, key), fields by path, digests right. */
static void assert_well_formed(const struct o8_records *r)
{
	size_t i, j;

	for (i = 0; i < o8_records_count(r); i++) {
		const struct o8_record *x = o8_records_get(r, i);
		uint8_t d[32];

		if (i) {
			const struct o8_record *p = o8_records_get(r, i - 1);
			int c = strcmp(p->network, x->network);
			if (!c)
				c = (int)p->kind - (int)x->kind;
			if (!c)
				c = strcmp(p->key, x->key);
			if (c >= 0)
				fail_msg("records out of order at %zu: %s %s", i, x->network, x->key);
		}
		assert_ptr_equal(o8_records_find(r, x->network, x->kind, x->key), x);
		for (j = 1; j < x->nfields; j++)
			if (strcmp(x->fields[j - 1].path, x->fields[j].path) >= 0)
				fail_msg("%s: fields out of order: '%s' then '%s'", x->key,
					 x->fields[j - 1].path, x->fields[j].path);
		assert_int_equal(gnutls_hash_fast(GNUTLS_DIG_SHA256, x->body, x->len, d), 0);
		assert_memory_equal(d, x->digest, 32);
	}
	assert_null(o8_records_find(r, "lab", O8_REC_GATEWAY, "no-such-gateway"));
}

/* --- determinism ---------------------------------------------------------- */

static void compile__examples_deterministic(void **state)
{
	struct built a = { 0 }, b = { 0 }, c = { 0 };

	(void)state;
	build_dir(&a, "examples/networks", 1);
	build_dir(&b, "examples/networks", 2);
	build_dir(&c, "examples/networks", 3);
	assert_true(o8_records_count(a.r) > 100);
	assert_well_formed(a.r);
	assert_same_records(a.r, b.r);
	assert_same_records(a.r, c.r);
	/* the same model compiled again */
	o8_records_free(b.r);
	compile_model(&b, 0);
	assert_same_records(a.r, b.r);
	done(&a);
	done(&b);
	done(&c);
}

/* A SubscriberSet of n subscribers, IMSIs from base; item `changed` (or
 * none: -1) gets other APNs, item `rekeyed` another ki. */
static char *set_text(const char *name, unsigned base, unsigned n, int changed,
		      int rekeyed)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	unsigned i;

	assert_non_null(f);
	fprintf(f, "apiVersion: orc8r/v1\nkind: SubscriberSet\nmetadata:\n"
		   "  name: %s\n  network: lab\nspec:\n  defaults:\n"
		   "    apns: [internet]\n  subscribers:\n", name);
	for (i = 0; i < n; i++) {
		fprintf(f, "    - imsi: \"00101%010u\"\n", base + i);
		fprintf(f, "      ki: \"%08x%08x%08x%08x\"\n", 0x1000u + i, (int)i == rekeyed ? 7u : 5u,
			base, 0xabcdu);
		fprintf(f, "      opc: \"%08x%08x%08x%08x\"\n", 0x2000u + i, 6u, base, 0xdcbau);
		if ((int)i == changed)
			fprintf(f, "      apns: [internet, ims]\n");
	}
	fclose(f);
	return buf;
}

static const char lab_base[] =
	"apiVersion: orc8r/v1\n"
	"kind: Network\n"
	"metadata: {name: lab}\n"
	"spec:\n"
	"  cellular:\n"
	"    ran: {bandwidthMhz: 20, tddConfig: {earfcndl: 44590, subframeAssignment: 2, specialSubframePattern: 7}}\n"
	"    epc: {mcc: \"001\", mnc: \"01\", tac: 1}\n"
	"---\n"
	"apiVersion: orc8r/v1\n"
	"kind: APN\n"
	"metadata: {name: internet, network: lab}\n"
	"spec: {ambr: {maxBandwidthUl: 1000, maxBandwidthDl: 2000}, qos: {qci: 9}}\n"
	"---\n"
	"apiVersion: orc8r/v1\n"
	"kind: APN\n"
	"metadata: {name: ims, network: lab}\n"
	"spec: {ambr: {maxBandwidthUl: 1000, maxBandwidthDl: 2000}, qos: {qci: 5}}\n";

static void compile__threads_do_not_matter(void **state)
{
	char *s1 = set_text("batch-a", 0, 3000, -1, -1);
	char *s2 = set_text("batch-b", 3000, 3000, -1, -1);
	char *s3 = set_text("batch-c", 6000, 10, -1, -1);
	const char *texts[] = { lab_base, s1, s2, s3 };
	struct built a = { 0 }, b = { 0 }, c = { 0 };

	(void)state;
	build(&a, texts, NELEM(texts), 1, true);
	build(&b, texts, NELEM(texts), 2, true);
	build(&c, texts, NELEM(texts), 0, true);
	assert_int_equal(o8_records_count(a.r), 6010 + 3);
	assert_well_formed(a.r);
	assert_well_formed(b.r);
	assert_same_records(a.r, b.r);
	assert_same_records(a.r, c.r);
	done(&a);
	done(&b);
	done(&c);
	free(s1);
	free(s2);
	free(s3);
}

/* --- formatting and defaults ---------------------------------------------- */

static const char fmt_block[] =
	"# the lab, written the usual way\n"
	"apiVersion: orc8r/v1\n"
	"kind: Network\n"
	"metadata:\n"
	"  name: lab\n"
	"spec:\n"
	"  description: a lab\n"
	"  cellular:\n"
	"    ran:\n"
	"      bandwidthMhz: 20\n"
	"      tddConfig:\n"
	"        earfcndl: 44590\n"
	"        subframeAssignment: 2\n"
	"        specialSubframePattern: 7\n"
	"    epc:\n"
	"      mcc: \"001\"\n"
	"      mnc: \"01\"\n"
	"      tac: 1\n"
	"      lteAuthAmf: \"80ab\"\n"
	"      subProfiles:\n"
	"        - name: default\n"
	"          maxUlBitRate: 100000000\n"
	"          maxDlBitRate: 200000000\n"
	"        - name: iot\n"
	"          maxUlBitRate: 1000000\n"
	"          maxDlBitRate: 2000000\n"
	"---\n"
	"apiVersion: orc8r/v1\n"
	"kind: Gateway\n"
	"metadata:\n"
	"  name: agw-1\n"
	"  network: lab\n"
	"  labels:\n"
	"    site: berlin\n"
	"    wave: canary\n"
	"spec:\n"
	"  hardwareId: 5b1ac1a4-7b8f-4c5e-9d0a-1f2e3d4c5b6a\n"
	"  checkinInterval: 30\n"
	"  epc:\n"
	"    natEnabled: false\n"
	"    ipBlock: 192.168.128.0/24\n"
	"  ran:\n"
	"    pci: 1\n"
	"  enodebs: [\"SER-1\"]\n"
	"---\n"
	"apiVersion: orc8r/v1\n"
	"kind: ENodeB\n"
	"metadata:\n"
	"  name: enb-1\n"
	"  network: lab\n"
	"spec:\n"
	"  serial: SER-1\n"
	"  managed:\n"
	"    deviceClass: Baicells Nova-233 G2 OD FDD\n"
	"    cellId: 1\n"
	"    pci: 1\n"
	"---\n"
	"apiVersion: orc8r/v1\n"
	"kind: APN\n"
	"metadata:\n"
	"  name: internet\n"
	"  network: lab\n"
	"spec:\n"
	"  ambr:\n"
	"    maxBandwidthUl: 100000000\n"
	"    maxBandwidthDl: 200000000\n"
	"  qos:\n"
	"    qci: 9\n"
	"---\n"
	"apiVersion: orc8r/v1\n"
	"kind: PolicyRule\n"
	"metadata:\n"
	"  name: allow-web\n"
	"  network: lab\n"
	"spec:\n"
	"  priority: 10\n"
	"  flows:\n"
	"    - action: PERMIT\n"
	"      direction: UPLINK\n"
	"      match:\n"
	"        ipProto: TCP\n"
	"        tcpDst: 443\n"
	"    - action: DENY\n"
	"      direction: DOWNLINK\n"
	"---\n"
	"apiVersion: orc8r/v1\n"
	"kind: Subscriber\n"
	"metadata:\n"
	"  name: phone-1\n"
	"  network: lab\n"
	"spec:\n"
	"  imsi: IMSI001010000000001\n"
	"  ki: \"e1c60aa3d510bb0432d90dcd57bb7d97\"\n"
	"  opc: \"23c49caea2cf62baba958810b4ebf4b6\"\n"
	"  apns: [internet]\n"
	"  staticIps:\n"
	"    internet: 192.168.128.10\n"
	"    ims: 192.168.128.11\n"
	"  policies: [allow-web]\n"
	"---\n"
	"apiVersion: orc8r/v1\n"
	"kind: SubscriberSet\n"
	"metadata:\n"
	"  name: sims\n"
	"  network: lab\n"
	"spec:\n"
	"  defaults:\n"
	"    apns: [internet]\n"
	"  subscribers:\n"
	"    - imsi: \"001010000000002\"\n"
	"      ki: \"6513270e269e0d37f2a74de452e6b438\"\n"
	"    - imsi: \"001010000000003\"\n"
	"      ki: \"9531985d5d9dc9f81818e811892f902b\"\n"
	"---\n"
	"apiVersion: orc8r/v1\n"
	"kind: APN\n"
	"metadata:\n"
	"  name: ims\n"
	"  network: lab\n"
	"spec:\n"
	"  ambr: {maxBandwidthUl: 1, maxBandwidthDl: 1}\n"
	"  qos: {qci: 5}\n";

/*
 * The same objects in flow style, keys shuffled, other quoting, comments,
 * documents in another order, numbers written differently, the keyed list
 * reordered, hex in upper case, IMSIs with and without their prefix.
 */
static const char fmt_flow[] =
	"apiVersion: 'orc8r/v1'\n"
	"kind: SubscriberSet   # bulk\n"
	"spec: {subscribers: [{ki: '9531985D5D9DC9F81818E811892F902B', imsi: IMSI001010000000003},\n"
	"                     {imsi: '001010000000002', ki: 6513270e269e0d37f2a74de452e6b438}],\n"
	"       defaults: {apns: ['internet']}}\n"
	"metadata: {network: lab, name: sims}\n"
	"---\n"
	"kind: Subscriber\n"
	"apiVersion: orc8r/v1\n"
	"metadata: {network: \"lab\", name: 'phone-1'}\n"
	"spec:\n"
	"  policies:\n"
	"  - allow-web\n"
	"  staticIps: {ims: '192.168.128.11', internet: \"192.168.128.10\"}\n"
	"  apns:\n"
	"  - internet\n"
	"  opc: 23C49CAEA2CF62BABA958810B4EBF4B6\n"
	"  ki: 'e1c60aa3d510bb0432d90dcd57bb7d97'\n"
	"  imsi: \"001010000000001\"\n"
	"---\n"
	"{apiVersion: orc8r/v1, kind: PolicyRule, metadata: {network: lab, name: allow-web},\n"
	" spec: {flows: [{direction: UPLINK, match: {tcpDst: 443, ipProto: TCP}, action: PERMIT},\n"
	"                {direction: DOWNLINK, action: DENY}], priority: 10}}\n"
	"---\n"
	"apiVersion: orc8r/v1\n"
	"kind: APN\n"
	"metadata: {network: lab, name: ims}\n"
	"spec: {qos: {qci: 5}, ambr: {maxBandwidthDl: 1, maxBandwidthUl: 1}}\n"
	"---\n"
	"apiVersion: orc8r/v1\n"
	"kind: APN\n"
	"metadata: {network: lab, name: internet}\n"
	"spec: {qos: {qci: 9}, ambr: {maxBandwidthDl: 200000000, maxBandwidthUl: 100000000}}\n"
	"---\n"
	"apiVersion: orc8r/v1\n"
	"kind: ENodeB\n"
	"metadata: {network: lab, name: enb-1}\n"
	"spec: {managed: {pci: 1, cellId: 1, deviceClass: 'Baicells Nova-233 G2 OD FDD'}, serial: 'SER-1'}\n"
	"---\n"
	"apiVersion: orc8r/v1\n"
	"kind: Gateway\n"
	"metadata: {labels: {wave: canary, site: berlin}, network: lab, name: agw-1}\n"
	"spec:\n"
	"  enodebs:\n"
	"    - SER-1\n"
	"  ran: {pci: 1}\n"
	"  epc: {ipBlock: \"192.168.128.0/24\", natEnabled: false}\n"
	"  checkinInterval: 30\n"
	"  hardwareId: '5b1ac1a4-7b8f-4c5e-9d0a-1f2e3d4c5b6a'\n"
	"---\n"
	"kind: Network\n"
	"apiVersion: orc8r/v1\n"
	"metadata: {name: lab}\n"
	"spec:\n"
	"  cellular:\n"
	"    epc:\n"
	"      subProfiles:\n"
	"        - {maxDlBitRate: 2000000, name: iot, maxUlBitRate: 1000000}\n"
	"        - {maxDlBitRate: 200000000, maxUlBitRate: 100000000, name: default}\n"
	"      lteAuthAmf: 80AB\n"
	"      tac: 1\n"
	"      mnc: '01'\n"
	"      mcc: '001'\n"
	"    ran:\n"
	"      tddConfig: {specialSubframePattern: 7, subframeAssignment: 2, earfcndl: 44590}\n"
	"      bandwidthMhz: 20.0\n"
	"  description: \"a lab\"\n";

static void compile__formatting_does_not_matter(void **state)
{
	const char *ta[] = { fmt_block }, *tb[] = { fmt_flow };
	struct built a = { 0 }, b = { 0 };
	const struct o8_record *r;

	(void)state;
	build(&a, ta, 1, 1, true);
	build(&b, tb, 1, 1, true);
	assert_int_equal(o8_records_count(a.r), 9);
	assert_same_records(a.r, b.r);
	/* and the canonical text is what the plan will show */
	r = must_find(&a, O8_REC_NETWORK, "lab");
	assert_field(r, "cellular.ran.bandwidthMhz", "20");
	assert_field(r, "cellular.epc.lteAuthAmf", "80ab");
	assert_field(r, "cellular.epc.subProfiles[0].name", "default");
	assert_field(r, "cellular.epc.subProfiles[1].name", "iot");
	r = must_find(&a, O8_REC_GATEWAY, "agw-1");
	assert_field(r, "metadata.labels.site", "berlin");
	assert_field(r, "ran.pci", "1");
	assert_field(r, "epc.natEnabled", "false");
	assert_field(r, "enodebs[0]", "SER-1");
	r = must_find(&a, O8_REC_SUBSCRIBER, "001010000000001");
	assert_string_equal(r->name, "IMSI001010000000001");
	assert_field(r, "imsi", "001010000000001");
	assert_field(r, "staticIps.ims", "192.168.128.11");
	assert_field(r, "staticIps.internet", "192.168.128.10");
	r = must_find(&a, O8_REC_POLICY, "allow-web");
	assert_field(r, "flows[0].match.tcpDst", "443");
	assert_field(r, "flows[1].action", "DENY");
	done(&a);
	done(&b);
}

static const char defaults_implicit[] =
	"apiVersion: orc8r/v1\n"
	"kind: Gateway\n"
	"metadata: {name: agw-1, network: lab}\n"
	"spec: {hardwareId: 5b1ac1a4-7b8f-4c5e-9d0a-1f2e3d4c5b6a, epc: {ipBlock: 10.0.0.0/24},\n"
	"       pool: {mmeGroupId: 1, mmeCode: 1}}\n"
	"---\n"
	"apiVersion: orc8r/v1\n"
	"kind: APN\n"
	"metadata: {name: internet, network: lab}\n"
	"spec: {ambr: {maxBandwidthUl: 1, maxBandwidthDl: 2}, qos: {qci: 9}}\n"
	"---\n"
	"apiVersion: orc8r/v1\n"
	"kind: PolicyRule\n"
	"metadata: {name: web, network: lab}\n"
	"spec: {priority: 1, flows: [{action: PERMIT, direction: UPLINK, match: {tcpDst: 80}}],\n"
	"       qos: {arp: {}}}\n"
	"---\n"
	"apiVersion: orc8r/v1\n"
	"kind: Subscriber\n"
	"metadata: {name: s1, network: lab}\n"
	"spec: {imsi: \"001010000000001\", apns: [internet]}\n";

static const char defaults_explicit[] =
	"apiVersion: orc8r/v1\n"
	"kind: Gateway\n"
	"metadata: {name: agw-1, network: lab}\n"
	"spec: {hardwareId: 5b1ac1a4-7b8f-4c5e-9d0a-1f2e3d4c5b6a, epc: {ipBlock: 10.0.0.0/24, natEnabled: true},\n"
	"       pool: {mmeGroupId: 1, mmeCode: 1, mmeRelativeCapacity: 10},\n"
	"       checkinInterval: 60, checkinTimeout: 10, autoupgradeEnabled: true,\n"
	"       autoupgradePollInterval: 300}\n"
	"---\n"
	"apiVersion: orc8r/v1\n"
	"kind: APN\n"
	"metadata: {name: internet, network: lab}\n"
	"spec: {ambr: {maxBandwidthUl: 1, maxBandwidthDl: 2},\n"
	"       qos: {qci: 9, priority: 15, preemptionCapability: true, preemptionVulnerability: false}}\n"
	"---\n"
	"apiVersion: orc8r/v1\n"
	"kind: PolicyRule\n"
	"metadata: {name: web, network: lab}\n"
	"spec: {priority: 1, trackingType: NO_TRACKING,\n"
	"       flows: [{action: PERMIT, direction: UPLINK, match: {tcpDst: 80, ipProto: IPPROTO_IP}}],\n"
	"       qos: {qci: 9, arp: {priorityLevel: 15, preemptionCapability: true,\n"
	"                           preemptionVulnerability: false}}}\n"
	"---\n"
	"apiVersion: orc8r/v1\n"
	"kind: Subscriber\n"
	"metadata: {name: s1, network: lab}\n"
	"spec: {imsi: \"001010000000001\", apns: [internet], state: ACTIVE, authAlgo: MILENAGE,\n"
	"       profile: default}\n";

static void compile__explicit_defaults_change_nothing(void **state)
{
	const char *ta[] = { lab_base, defaults_implicit };
	const char *tb[] = { lab_base, defaults_explicit };
	struct built a = { 0 }, b = { 0 };
	const struct o8_record *r;

	(void)state;
	build(&a, ta, 2, 1, false);     /* the network lacks profiles etc.: fine */
	build(&b, tb, 2, 1, false);
	assert_same_records(a.r, b.r);
	r = must_find(&a, O8_REC_GATEWAY, "agw-1");
	assert_field(r, "checkinInterval", "60");
	assert_field(r, "pool.mmeRelativeCapacity", "10");
	/* a default applies where its parent is: no gateway dns map, no dns */
	assert_null(field(r, "dns.dhcpServerEnabled"));
	r = must_find(&a, O8_REC_SUBSCRIBER, "001010000000001");
	assert_field(r, "state", "ACTIVE");
	assert_field(r, "authAlgo", "MILENAGE");
	r = must_find(&a, O8_REC_POLICY, "web");
	assert_field(r, "qos.arp.priorityLevel", "15");
	assert_field(r, "flows[0].match.ipProto", "IPPROTO_IP");
	done(&a);
	done(&b);
}

/* --- changes ---------------------------------------------------------------- */

/* How many records of a and b differ, given the same keys; *key the last. */
static size_t differing(const struct o8_records *a, const struct o8_records *b,
			const char **key)
{
	size_t i, n = 0;

	assert_int_equal(o8_records_count(a), o8_records_count(b));
	for (i = 0; i < o8_records_count(a); i++) {
		const struct o8_record *x = o8_records_get(a, i), *y = o8_records_get(b, i);
		assert_string_equal(x->key, y->key);
		if (memcmp(x->digest, y->digest, 32)) {
			n++;
			*key = x->key;
		}
	}
	return n;
}

static void compile__one_subscriber_changes_one_record(void **state)
{
	char *s0 = set_text("batch", 100, 50, -1, -1);
	char *s1 = set_text("batch", 100, 50, 17, -1);
	char *s2 = set_text("batch", 100, 50, -1, 23);
	const char *t0[] = { lab_base, s0 }, *t1[] = { lab_base, s1 }, *t2[] = { lab_base, s2 };
	struct built a = { 0 }, b = { 0 }, c = { 0 };
	const struct o8_record *x, *y;
	const char *key = NULL;

	(void)state;
	build(&a, t0, 2, 1, true);
	build(&b, t1, 2, 1, true);
	build(&c, t2, 2, 1, true);
	assert_int_equal(differing(a.r, b.r, &key), 1);
	assert_string_equal(key, "001010000000117");
	x = must_find(&a, O8_REC_SUBSCRIBER, key);
	y = must_find(&b, O8_REC_SUBSCRIBER, key);
	assert_null(field(x, "apns[1]"));
	assert_field(y, "apns[1]", "ims");
	/* a new ki: one record, and a fingerprint that shows it changed */
	assert_int_equal(differing(a.r, c.r, &key), 1);
	assert_string_equal(key, "001010000000123");
	x = must_find(&a, O8_REC_SUBSCRIBER, key);
	y = must_find(&c, O8_REC_SUBSCRIBER, key);
	assert_string_not_equal(field(x, "ki"), field(y, "ki"));
	assert_string_equal(field(x, "opc"), field(y, "opc"));
	done(&a);
	done(&b);
	done(&c);
	free(s0);
	free(s1);
	free(s2);
}

/* --- secrets -------------------------------------------------------------- */

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	gnutls_datum_t d = { (unsigned char *)s, (unsigned)strlen(s) };
	size_t len = cap;

	assert_int_equal(gnutls_hex_decode(&d, out, &len), 0);
	return len;
}

/* What the plan must show for a secret: "(sensitive) " + 8 hex digits of
 * HMAC-SHA256("orc8r-plan-fingerprint", the key's bytes). */
static void expect_fingerprint(const char *shown, const char *hex)
{
	static const char key[] = "orc8r-plan-fingerprint";
	uint8_t bytes[64], mac[32];
	char want[64];
	size_t n = unhex(hex, bytes, sizeof(bytes));

	assert_int_equal(gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, sizeof(key) - 1, bytes, n,
					  mac), 0);
	snprintf(want, sizeof(want), "(sensitive) %02x%02x%02x%02x", mac[0], mac[1], mac[2],
		 mac[3]);
	assert_string_equal(shown, want);
}

static void compile__secrets_only_as_fingerprints(void **state)
{
	struct built a = { 0 };
	const char **fps;
	size_t i, j, k, nsub = 0;

	(void)state;
	build_dir(&a, "examples/networks", 1);
	fps = calloc(o8_records_count(a.r), sizeof(*fps));
	assert_non_null(fps);
	for (i = 0; i < o8_records_count(a.r); i++) {
		const struct o8_record *r = o8_records_get(a.r, i);
		const struct o8_node *src;
		const char *ki, *opc;
		Orc8r__V1__Subscriber *msg;
		uint8_t raw[16];

		if (r->kind != O8_REC_SUBSCRIBER)
			continue;
		/* a Subscriber document's spec, or the SubscriberSet item */
		src = r->obj->kind == O8_KIND_SUBSCRIBER ? r->obj->spec : r->at;
		ki = o8_node_str(o8_node_get(src, "ki"));
		opc = o8_node_str(o8_node_get(src, "opc"));
		assert_non_null(ki);
		assert_non_null(opc);
		/* no field shows either key, in any case */
		for (j = 0; j < r->nfields; j++) {
			assert_null(strcasestr(r->fields[j].value, ki));
			assert_null(strcasestr(r->fields[j].value, opc));
			assert_int_equal(r->fields[j].sensitive,
					 !strcmp(r->fields[j].path, "ki") ||
					 !strcmp(r->fields[j].path, "opc"));
		}
		expect_fingerprint(field(r, "ki"), ki);
		expect_fingerprint(field(r, "opc"), opc);
		/* the AGW gets the key itself, as 16 bytes */
		msg = orc8r__v1__subscriber__unpack(NULL, r->len, r->body);
		assert_non_null(msg);
		assert_int_equal(msg->ki.len, 16);
		assert_int_equal(unhex(ki, raw, sizeof(raw)), 16);
		assert_memory_equal(msg->ki.data, raw, 16);
		assert_int_equal(msg->opc.len, 16);
		orc8r__v1__subscriber__free_unpacked(msg, NULL);
		fps[nsub++] = field(r, "ki");
	}
	assert_int_equal(nsub, 100);
	/* different keys, different fingerprints */
	for (j = 0; j < nsub; j++)
		for (k = j + 1; k < nsub; k++)
			assert_string_not_equal(fps[j], fps[k]);
	free(fps);
	done(&a);
}

/* --- SubscriberSet defaults ------------------------------------------------- */

static const char set_defaults[] =
	"apiVersion: orc8r/v1\n"
	"kind: SubscriberSet\n"
	"metadata: {name: sims, network: lab}\n"
	"spec:\n"
	"  defaults:\n"
	"    state: INACTIVE\n"
	"    profile: iot\n"
	"    apns: [internet, ims]\n"
	"    staticIps: {internet: 10.0.0.1}\n"
	"    policies: [p1]\n"
	"  subscribers:\n"
	"    - imsi: \"001010000000001\"\n"
	"    - imsi: \"001010000000002\"\n"
	"      apns: [ims]\n"
	"      state: ACTIVE\n"
	"      staticIps: {ims: 10.0.0.2}\n"
	"---\n"
	"apiVersion: orc8r/v1\n"
	"kind: Subscriber\n"
	"metadata: {name: twin, network: lab}\n"
	"spec:\n"
	"  imsi: \"001010000000003\"\n"
	"  state: INACTIVE\n"
	"  profile: iot\n"
	"  apns: [internet, ims]\n"
	"  staticIps: {internet: 10.0.0.1}\n"
	"  policies: [p1]\n"
	"---\n"
	"apiVersion: orc8r/v1\n"
	"kind: SubscriberSet\n"
	"metadata: {name: twin-set, network: lab}\n"
	"spec:\n"
	"  defaults: {state: INACTIVE, profile: iot, apns: [internet, ims],\n"
	"             staticIps: {internet: 10.0.0.1}, policies: [p1]}\n"
	"  subscribers: [{imsi: \"001010000000004\"}]\n";

static void compile__set_defaults_merge(void **state)
{
	const char *t[] = { set_defaults };
	struct built a = { 0 };
	const struct o8_record *r, *twin, *twin_set;

	(void)state;
	build(&a, t, 1, 1, false);      /* profile iot, policy p1 do not exist */
	assert_int_equal(o8_records_count(a.r), 4);
	r = must_find(&a, O8_REC_SUBSCRIBER, "001010000000001");
	assert_ptr_equal(r->at, o8_node_get(r->obj->spec, "subscribers")->u.kids);
	assert_field(r, "state", "INACTIVE");
	assert_field(r, "profile", "iot");
	assert_field(r, "authAlgo", "MILENAGE");        /* the schema's default */
	assert_field(r, "apns[0]", "internet");
	assert_field(r, "apns[1]", "ims");
	assert_field(r, "staticIps.internet", "10.0.0.1");
	assert_field(r, "policies[0]", "p1");
	/* an item's key replaces the default's whole value */
	r = must_find(&a, O8_REC_SUBSCRIBER, "001010000000002");
	assert_field(r, "state", "ACTIVE");
	assert_field(r, "profile", "iot");
	assert_field(r, "apns[0]", "ims");
	assert_null(field(r, "apns[1]"));
	assert_field(r, "staticIps.ims", "10.0.0.2");
	assert_null(field(r, "staticIps.internet"));
	assert_field(r, "policies[0]", "p1");
	/* a set item is the Subscriber document it stands for */
	twin = must_find(&a, O8_REC_SUBSCRIBER, "001010000000003");
	twin_set = must_find(&a, O8_REC_SUBSCRIBER, "001010000000004");
	assert_int_equal(twin->nfields, twin_set->nfields);
	assert_int_equal(twin->len, twin_set->len);
	/* bodies differ only in the IMSI's last digit */
	{
		size_t i, diff = 0;
		for (i = 0; i < twin->len; i++)
			diff += twin->body[i] != twin_set->body[i];
		assert_int_equal(diff, 1);
	}
	done(&a);
}

/* --- one AGW's config ------------------------------------------------------- */

static void compile__agw_gets_its_share(void **state)
{
	struct built a = { 0 };
	struct o8_agw_config c = { 0 };
	struct o8_err err = O8_ERR_INIT;
	size_t count[O8_REC__COUNT] = { 0 }, i;

	(void)state;
	build_dir(&a, "examples/networks", 0);
	assert_int_equal(o8_compile_agw(&c, a.r, "lab", "agw-berlin-1", &err), O8_OK);
	for (i = 0; i < c.n; i++) {
		const struct o8_record *r = c.recs[i];
		count[r->kind]++;
		/* pointers into the records, no copies */
		assert_ptr_equal(o8_records_find(a.r, "lab", r->kind, r->key), r);
		if (i && (c.recs[i - 1]->kind > r->kind ||
			  (c.recs[i - 1]->kind == r->kind && strcmp(c.recs[i - 1]->key, r->key) >= 0)))
			fail_msg("agw config out of order at %zu", i);
	}
	assert_int_equal(count[O8_REC_NETWORK], 1);
	assert_int_equal(count[O8_REC_GATEWAY], 1);
	assert_int_equal(count[O8_REC_TIER], 1);
	assert_int_equal(count[O8_REC_ENODEB], 1);
	assert_int_equal(count[O8_REC_APN], 2);
	assert_int_equal(count[O8_REC_POLICY], 1);
	assert_int_equal(count[O8_REC_SUBSCRIBER], 100);
	assert_int_equal(c.n, 107);
	assert_string_equal(c.recs[1]->key, "agw-berlin-1");
	assert_string_equal(c.recs[2]->key, "120200002618AGP0001");
	o8_agw_config_done(&c);
	assert_null(c.recs);
	o8_agw_config_done(&c);         /* twice is fine */

	assert_int_equal(o8_compile_agw(&c, a.r, "lab", "agw-nowhere", &err), O8_ENOTFOUND);
	assert_non_null(strstr(err.msg, "agw-nowhere"));
	assert_int_equal(c.n, 0);
	assert_string_equal(o8_rec_kind_name(O8_REC_POLICY), "PolicyRule");
	assert_string_equal(o8_rec_kind_name(O8_REC_ENODEB), "ENodeB");
	done(&a);
}

/*
 * proto/record.c names the kinds without the schema tables; every name must
 * be a schema kind's, and every record the compiler makes must carry it.
 */
static void compile__record_kind_names_are_the_schemas(void **state)
{
	struct built a = { 0 };
	size_t i;
	int k;

	(void)state;
	for (k = 1; k < O8_REC__COUNT; k++)
		assert_non_null(o8_schema_kind_by_name(o8_rec_kind_name((enum o8_rec_kind)k)));
	assert_string_equal(o8_rec_kind_name(0), "unknown");
	assert_string_equal(o8_rec_kind_name(O8_REC__COUNT), "unknown");
	build_dir(&a, "examples/networks", 1);
	for (i = 0; i < o8_records_count(a.r); i++) {
		const struct o8_record *r = o8_records_get(a.r, i);
		const char *want = r->kind == O8_REC_SUBSCRIBER ? "Subscriber"
				 : o8_schema_kind(r->obj->kind)->name;

		assert_string_equal(o8_rec_kind_name(r->kind), want);
	}
	done(&a);
}

/* --- every schema row reaches the protobuf ------------------------------------ */

static const struct {
	enum o8_kind kind;
	enum o8_rec_kind rec;
	const ProtobufCMessageDescriptor *desc;
} msgs[] = {
	{ O8_KIND_NETWORK, O8_REC_NETWORK, &orc8r__v1__network__descriptor },
	{ O8_KIND_GATEWAY, O8_REC_GATEWAY, &orc8r__v1__gateway__descriptor },
	{ O8_KIND_ENODEB, O8_REC_ENODEB, &orc8r__v1__enode_b__descriptor },
	{ O8_KIND_APN, O8_REC_APN, &orc8r__v1__apn__descriptor },
	{ O8_KIND_POLICYRULE, O8_REC_POLICY, &orc8r__v1__policy_rule__descriptor },
	{ O8_KIND_SUBSCRIBER, O8_REC_SUBSCRIBER, &orc8r__v1__subscriber__descriptor },
	{ O8_KIND_TIER, O8_REC_TIER, &orc8r__v1__tier__descriptor },
};

static bool is_item(const char *path)
{
	size_t n = strlen(path);

	return n >= 2 && !strcmp(path + n - 2, "[]");
}

/* "a.b" -> "a", "a[].b" -> "a[]", "a" -> "" */
static void parent(const char *path, char *out, size_t cap)
{
	const char *dot = strrchr(path, '.');
	size_t n = dot ? (size_t)(dot - path) : 0;

	assert_true(n < cap);
	memcpy(out, path, n);
	out[n] = '\0';
}

static const char *last_seg(const char *path)
{
	const char *dot = strrchr(path, '.');

	return dot ? dot + 1 : path;
}

static const struct o8_field *row(const struct o8_kind_schema *ks, const char *path)
{
	const struct o8_field *f = o8_schema_field(ks, path);

	if (!f)
		fail_msg("%s: no row '%s'", ks->name, path);
	return f;
}

/* A valid value of a scalar row, as YAML text; i tells list items apart.
 * Chosen to be non-zero and, where the row allows, not its default. */
static void scalar(FILE *f, const struct o8_field *r, unsigned i)
{
	size_t n = 0;

	switch (r->type) {
	case O8_T_STRING:
		switch (r->fmt) {
		case O8_FMT_NAME: fprintf(f, "\"n%u\"", i); return;
		case O8_FMT_IMSI: fprintf(f, "\"IMSI00101000000004%u\"", i); return;
		case O8_FMT_MCC: fprintf(f, "\"00%u\"", i + 2); return;
		case O8_FMT_MNC: fprintf(f, "\"0%u\"", i + 2); return;
		case O8_FMT_IPV4: fprintf(f, "\"10.1.2.%u\"", i + 3); return;
		case O8_FMT_CIDR4: fprintf(f, "\"10.%u.0.0/16\"", i + 1); return;
		case O8_FMT_HEX32: fprintf(f, "\"0123456789ABCDEF0123456789abcde%u\"", i); return;
		case O8_FMT_UUID: fprintf(f, "\"5b1ac1a4-7b8f-4c5e-9d0a-1f2e3d4c5b6%u\"", i); return;
		case O8_FMT_SERIAL: fprintf(f, "\"SER-%u\"", i); return;
		case O8_FMT_HEX: fprintf(f, "\"80%02u\"", i + 1); return;
		case O8_FMT_DURATION: fprintf(f, "\"3%us\"", i); return;
		default: fprintf(f, "\"text %u\"", i); return;
		}
	case O8_T_INT: {
		double v = r->max ? r->max : 7;

		/* a row with allowed values (QCI): the last ones, never 0 */
		while (r->enums && r->enums[n])
			n++;
		if (n) {
			fprintf(f, "%s", r->enums[n - 1 - i]);
			return;
		}
		if (r->def && v == strtod(r->def, NULL))
			v -= 1;
		v -= i;
		assert_true(v != 0 && v >= r->min);
		fprintf(f, "%.0f", v);
		return;
	}
	case O8_T_NUMBER:
		while (r->enums && r->enums[n])
			n++;
		if (n)
			fprintf(f, "%s", r->enums[n - 1 - i]);
		else
			fprintf(f, "%u.5", i + 1);
		return;
	case O8_T_BOOL:
		fprintf(f, "true");     /* false would not show in proto3 */
		return;
	case O8_T_ENUM:
		while (r->enums[n])
			n++;
		if (n > 1 && r->def && !strcmp(r->enums[n - 1 - i % n], r->def))
			i++;
		fprintf(f, "\"%s\"", r->enums[(n - 1 - i % n) % n]);
		return;
	default:
		fail_msg("'%s' is not a scalar", r->path);
	}
}

static void full_map(FILE *f, const struct o8_kind_schema *ks, const char *prefix);

static void full_value(FILE *f, const struct o8_kind_schema *ks, const struct o8_field *r)
{
	char item[256];
	unsigned i;

	switch (r->type) {
	case O8_T_OBJECT:
		full_map(f, ks, r->path);
		return;
	case O8_T_LIST: {
		const struct o8_field *it;
		snprintf(item, sizeof(item), "%s[]", r->path);
		it = row(ks, item);
		fprintf(f, "[");
		for (i = 0; i < 2; i++) {
			if (i)
				fprintf(f, ", ");
			if (it->type == O8_T_OBJECT)
				full_map(f, ks, it->path);
			else
				scalar(f, it, i);
		}
		fprintf(f, "]");
		return;
	}
	case O8_T_DICT: {
		struct o8_field v = *r;         /* values: strings of r's format */
		v.type = O8_T_STRING;
		fprintf(f, "{k0: ");
		scalar(f, &v, 0);
		fprintf(f, ", k1: ");
		scalar(f, &v, 1);
		fprintf(f, "}");
		return;
	}
	default:
		scalar(f, r, 0);
	}
}

/* A flow map with every child row of prefix set. */
static void full_map(FILE *f, const struct o8_kind_schema *ks, const char *prefix)
{
	char p[256];
	size_t i;
	int first = 1;

	fprintf(f, "{");
	for (i = 0; i < ks->nfields; i++) {
		const struct o8_field *r = &ks->fields[i];
		if (is_item(r->path))
			continue;
		parent(r->path, p, sizeof(p));
		if (strcmp(p, prefix))
			continue;
		fprintf(f, "%s%s: ", first ? "" : ", ", last_seg(r->path));
		first = 0;
		full_value(f, ks, r);
	}
	fprintf(f, "}");
}

static char *full_doc(const struct o8_kind_schema *ks)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	fprintf(f, "apiVersion: orc8r/v1\nkind: %s\n", ks->name);
	if (ks->namespaced)
		fprintf(f, "metadata: {name: full, network: lab, labels: {a: x, b: y}}\n");
	else
		fprintf(f, "metadata: {name: lab, labels: {a: x, b: y}}\n");
	fprintf(f, "spec: ");
	full_map(f, ks, "");
	fprintf(f, "\n");
	fclose(f);
	return buf;
}

/* Protobuf fields the rows reached, for the reverse check. */
struct seen {
	const ProtobufCFieldDescriptor *v[512];
	size_t n;
};

static void mark(struct seen *s, const ProtobufCFieldDescriptor *fd)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->v[i] == fd)
			return;
	assert_true(s->n < NELEM(s->v));
	s->v[s->n++] = fd;
}

static bool marked(const struct seen *s, const ProtobufCFieldDescriptor *fd)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->v[i] == fd)
			return true;
	return false;
}

/* The protobuf field of a YAML key: camelCase -> snake_case. */
static const ProtobufCFieldDescriptor *pb_field(const ProtobufCMessageDescriptor *md,
						const char *seg, size_t len)
{
	char name[128];
	size_t i, o = 0;
	const ProtobufCFieldDescriptor *fd;

	for (i = 0; i < len && o + 2 < sizeof(name); i++) {
		if (seg[i] >= 'A' && seg[i] <= 'Z') {
			name[o++] = '_';
			name[o++] = (char)(seg[i] - 'A' + 'a');
		} else {
			name[o++] = seg[i];
		}
	}
	name[o] = '\0';
	fd = protobuf_c_message_descriptor_get_field_by_name(md, name);
	if (!fd)
		fail_msg("message %s has no field %s", md->name, name);
	return fd;
}

static const void *member(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *fd)
{
	return (const char *)m + fd->offset;
}

static size_t count_of(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *fd)
{
	return *(const size_t *)((const char *)m + fd->quantifier_offset);
}

/* The scalar, list or map at fd holds a value a reader can tell from unset. */
static void assert_set(const char *path, const ProtobufCMessage *m,
		       const ProtobufCFieldDescriptor *fd)
{
	const void *p = member(m, fd);
	bool set;

	if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
		if (count_of(m, fd) != 2)
			fail_msg("'%s': %zu items in %s, want 2", path, count_of(m, fd), fd->name);
		return;
	}
	if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		assert_int_equal(*(const uint32_t *)((const char *)m + fd->quantifier_offset),
				 fd->id);
	switch (fd->type) {
	case PROTOBUF_C_TYPE_STRING: set = *(char *const *)p && **(char *const *)p; break;
	case PROTOBUF_C_TYPE_BYTES: set = ((const ProtobufCBinaryData *)p)->len > 0; break;
	case PROTOBUF_C_TYPE_BOOL: set = *(const protobuf_c_boolean *)p; break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_INT32: set = *(const uint32_t *)p != 0; break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_INT64: set = *(const uint64_t *)p != 0; break;
	case PROTOBUF_C_TYPE_DOUBLE: set = *(const double *)p != 0; break;
	case PROTOBUF_C_TYPE_ENUM: set = *(const int *)p != 0; break;
	case PROTOBUF_C_TYPE_MESSAGE: set = *(void *const *)p != NULL; break;
	default: set = false;
	}
	if (!set)
		fail_msg("'%s' did not reach protobuf field %s", path, fd->name);
}

/* Follows row path through the decoded message (first item of lists). */
static void check_row(const ProtobufCMessage *root, const struct o8_field *r,
		      struct seen *s)
{
	const ProtobufCMessage *m = root;
	const char *seg = r->path, *end;
	const ProtobufCFieldDescriptor *fd;

	for (;;) {
		size_t len;
		bool list;

		end = strchr(seg, '.');
		len = end ? (size_t)(end - seg) : strlen(seg);
		list = len > 2 && !memcmp(seg + len - 2, "[]", 2);
		fd = pb_field(m->descriptor, seg, list ? len - 2 : len);
		mark(s, fd);
		if (!end)
			break;
		/* an inner step: a map, or the first item of a list of maps */
		assert_int_equal(fd->type, PROTOBUF_C_TYPE_MESSAGE);
		if (list) {
			assert_true(count_of(m, fd) >= 1);
			m = (*(ProtobufCMessage *const *const *)member(m, fd))[0];
		} else {
			m = *(ProtobufCMessage *const *)member(m, fd);
		}
		if (!m)
			fail_msg("'%s': %s is empty", r->path, fd->name);
		seg = end + 1;
	}
	assert_set(r->path, m, fd);
	if (r->type == O8_T_DICT) {
		const ProtobufCMessageDescriptor *kv = fd->descriptor;
		size_t i;
		for (i = 0; i < kv->n_fields; i++)
			mark(s, &kv->fields[i]);
	}
}

/* Every field of md (and of the messages in it) was reached. */
static void assert_all_marked(const ProtobufCMessageDescriptor *md, const struct seen *s)
{
	unsigned i;

	for (i = 0; i < md->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &md->fields[i];
		if (!marked(s, fd))
			fail_msg("protobuf field %s.%s has no schema row", md->name, fd->name);
		if (fd->type == PROTOBUF_C_TYPE_MESSAGE)
			assert_all_marked(fd->descriptor, s);
	}
}

static void compile__every_schema_row_reaches_protobuf(void **state)
{
	size_t k;

	(void)state;
	for (k = 0; k < NELEM(msgs); k++) {
		const struct o8_kind_schema *ks = o8_schema_kind(msgs[k].kind);
		char *doc = full_doc(ks);
		const char *t[] = { doc };
		struct built b = { 0 };
		const struct o8_record *rec = NULL;
		ProtobufCMessage *m;
		struct seen s = { .n = 0 };
		size_t i;

		/* not validated: one document sets tddConfig and fddConfig,
		   managed and unmanaged; compile takes each row as it comes */
		build(&b, t, 1, 1, false);
		for (i = 0; i < o8_records_count(b.r); i++)
			if (o8_records_get(b.r, i)->kind == msgs[k].rec)
				rec = o8_records_get(b.r, i);
		if (!rec)
			fail_msg("%s: no record from\n%s", ks->name, doc);
		m = protobuf_c_message_unpack(msgs[k].desc, NULL, rec->len, rec->body);
		assert_non_null(m);
		for (i = 0; i < ks->nfields; i++)
			if (!is_item(ks->fields[i].path))
				check_row(m, &ks->fields[i], &s);
		/* metadata: name everywhere but Subscriber, labels on Gateway */
		for (i = 0; i < msgs[k].desc->n_fields; i++) {
			const ProtobufCFieldDescriptor *fd = &msgs[k].desc->fields[i];
			if (!strcmp(fd->name, "name")) {
				assert_set("metadata.name", m, fd);
				mark(&s, fd);
			} else if (!strcmp(fd->name, "labels")) {
				const ProtobufCMessageDescriptor *kv = fd->descriptor;
				unsigned j;
				assert_set("metadata.labels", m, fd);
				mark(&s, fd);
				for (j = 0; j < kv->n_fields; j++)
					mark(&s, &kv->fields[j]);
			}
		}
		assert_all_marked(msgs[k].desc, &s);
		protobuf_c_message_free_unpacked(m, NULL);
		done(&b);
		free(doc);
	}
}

/* --- robustness ------------------------------------------------------------- */

static void compile__tolerates_invalid_documents(void **state)
{
	static const char bad[] =
		"apiVersion: orc8r/v1\nkind: Gateway\nmetadata: {name: g, network: lab}\n"
		"spec: {checkinInterval: \"sixty\", epc: [1, 2], enodebs: {a: b}, ran: {pci: -5},\n"
		"       pool: {mmeCode: 99999999999999999999}, labels: 3}\n"
		"---\n"
		"apiVersion: orc8r/v1\nkind: Subscriber\nmetadata: {name: s, network: lab}\n"
		"spec: {ki: \"zz\", apns: [[x]], staticIps: [1]}\n"
		"---\n"
		"apiVersion: orc8r/v1\nkind: SubscriberSet\nmetadata: {name: t, network: lab}\n"
		"spec: {defaults: [1], subscribers: [3, {imsi: \"00101000000001\", ki: \"abc\"}, {}]}\n"
		"---\n"
		"apiVersion: orc8r/v1\nkind: APN\nmetadata: {network: lab}\nspec: {}\n"
		"---\n"
		"apiVersion: orc8r/v1\nkind: Tier\nmetadata: {name: t, network: lab}\nspec: 7\n"
		"---\n"
		"apiVersion: orc8r/v1\nkind: Nonsense\nmetadata: {name: x}\n";
	const char *t[] = { bad };
	struct built b = { 0 };
	const struct o8_record *r;

	(void)state;
	build(&b, t, 1, 2, false);
	assert_well_formed(b.r);
	/* what fits is compiled, the rest is left out */
	r = must_find(&b, O8_REC_GATEWAY, "g");
	assert_null(field(r, "checkinInterval"));
	assert_null(field(r, "ran.pci"));
	assert_null(field(r, "pool.mmeCode"));
	assert_field(r, "checkinTimeout", "10");
	r = must_find(&b, O8_REC_SUBSCRIBER, "00101000000001");
	assert_null(field(r, "ki"));
	assert_int_equal(o8_records_count(b.r), 2);
	done(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(compile__examples_deterministic),
		cmocka_unit_test(compile__threads_do_not_matter),
		cmocka_unit_test(compile__formatting_does_not_matter),
		cmocka_unit_test(compile__explicit_defaults_change_nothing),
		cmocka_unit_test(compile__one_subscriber_changes_one_record),
		cmocka_unit_test(compile__secrets_only_as_fingerprints),
		cmocka_unit_test(compile__set_defaults_merge),
		cmocka_unit_test(compile__agw_gets_its_share),
		cmocka_unit_test(compile__record_kind_names_are_the_schemas),
		cmocka_unit_test(compile__every_schema_row_reaches_protobuf),
		cmocka_unit_test(compile__tolerates_invalid_documents),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
