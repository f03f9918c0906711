/*
 * test_desired.c - generations of desired records and the deltas between
 * them (syncd/desired.h), on a repository this test commits with the git CLI:
 * networks "lab" (3 gateways, eNodeBs, a tier, APNs, subscribers), "field"
 * (2 gateways) and "big" (100 gateways), then one commit per kind of
 * change.  Every generation is built once, in the group set-up.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <git2.h>

#include "repo/compile.h"
#include "desired.h"
#include "repo/git.h"
#include "repo/model.h"
#include "repo/validate.h"
#include "proto/wire.h"

enum { BIG_GWS = 100, BIG_SUBS = 20 };

#define LAB_NETWORK \
	"apiVersion: orc8r/v1\nkind: Network\nmetadata: {name: lab}\nspec:\n" \
	"  cellular:\n" \
	"    ran: {bandwidthMhz: 20, tddConfig: {earfcndl: 44590, subframeAssignment: 2,\n" \
	"                                         specialSubframePattern: 7}}\n" \
	"    epc: {mcc: \"001\", mnc: \"01\", tac: 1}\n" \
	"---\napiVersion: orc8r/v1\nkind: Tier\nmetadata: {name: default, network: lab}\n" \
	"spec: {version: 1.8.0}\n" \
	"---\napiVersion: orc8r/v1\nkind: PolicyRule\nmetadata: {name: allow-web, network: lab}\n" \
	"spec: {priority: 10}\n"
#define LAB_APN(name, qci) \
	"---\napiVersion: orc8r/v1\nkind: APN\nmetadata: {name: " name ", network: lab}\n" \
	"spec: {ambr: {maxBandwidthUl: 1000, maxBandwidthDl: 2000}, qos: {qci: " #qci "}}\n"

static const char lab_network[] = LAB_NETWORK LAB_APN("internet", 9) LAB_APN("ims", 5);
static const char lab_network_without_ims[] = LAB_NETWORK LAB_APN("internet", 9);

#define LAB_GW(n, enbs) \
	"---\napiVersion: orc8r/v1\nkind: Gateway\nmetadata: {name: agw-" #n ", network: lab}\n" \
	"spec: {hardwareId: 00000000-0000-4000-8000-00000000000" #n ", tier: default, " \
	"epc: {ipBlock: 192.168." #n ".0/24}, ran: {pci: " #n "}, enodebs: [" enbs "]}\n"
#define LAB_ENB(n, cell) \
	"---\napiVersion: orc8r/v1\nkind: ENodeB\nmetadata: {name: enb-" #n ", network: lab}\n" \
	"spec: {serial: \"ENB" #n "\", configType: managed, managed: {deviceClass: " \
	"Baicells Nova-233 G2 OD FDD, earfcndl: 44590, pci: 26" #n ", tac: 1, cellId: " #cell "}}\n"

static const char lab_gateways[] =
	LAB_GW(1, "\"ENB1\"") LAB_GW(2, "\"ENB2\"") LAB_GW(3, "") LAB_ENB(1, 1) LAB_ENB(2, 2);

#define SIM(n) "    - {imsi: \"00101000000000" #n "\", " \
	"ki: \"6513270e269e0d37f2a74de452e6b43" #n "\", " \
	"opc: \"d23f0824128b2f330c5c7fd0a6a3a45" #n "\"}\n"

static const char lab_subscribers[] =
	"apiVersion: orc8r/v1\nkind: SubscriberSet\nmetadata: {name: sims, network: lab}\nspec:\n"
	"  defaults: {state: ACTIVE, authAlgo: MILENAGE, apns: [internet]}\n"
	"  subscribers:\n" SIM(1) SIM(2) SIM(3);

static const char field_all[] =
	"apiVersion: orc8r/v1\nkind: Network\nmetadata: {name: field}\n"
	"spec: {cellular: {ran: {bandwidthMhz: 20, tddConfig: {earfcndl: 44590, subframeAssignment: 2, "
	"specialSubframePattern: 7}}, epc: {mcc: \"001\", mnc: \"02\", tac: 2}}}\n"
	"---\napiVersion: orc8r/v1\nkind: APN\nmetadata: {name: internet, network: field}\n"
	"spec: {ambr: {maxBandwidthUl: 1000, maxBandwidthDl: 2000}, qos: {qci: 9}}\n"
	"---\napiVersion: orc8r/v1\nkind: Gateway\nmetadata: {name: agw-a, network: field}\n"
	"spec: {hardwareId: 00000000-0000-4000-8000-00000000000a, epc: {ipBlock: 10.1.0.0/24}}\n"
	"---\napiVersion: orc8r/v1\nkind: Gateway\nmetadata: {name: agw-b, network: field}\n"
	"spec: {hardwareId: 00000000-0000-4000-8000-00000000000b, epc: {ipBlock: 10.2.0.0/24}}\n"
	"---\napiVersion: orc8r/v1\nkind: Subscriber\nmetadata: {name: s1, network: field}\n"
	"spec: {imsi: \"IMSI001020000000001\", state: ACTIVE, authAlgo: MILENAGE, "
	"ki: \"6513270e269e0d37f2a74de452e6b438\", opc: \"d23f0824128b2f330c5c7fd0a6a3a450\", "
	"apns: [internet]}\n";

/* The commits, in order; each changes one thing (see fixture()). */
enum { C_BASE, C_SUBSCRIBER, C_ENODEB, C_DELETES, C_RENAME, C_INVALID, NCOMMITS };

static struct {
	char root[PATH_MAX];
	struct o8_git *git;
	char commit[NCOMMITS][O8_OID_HEX_SIZE];
	struct o8_desired *gen[NCOMMITS];       /* C_INVALID stays NULL */
} fx;

static void write_file(const char *rel, const char *text)
{
	char path[PATH_MAX + 64], *slash;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fx.root, rel);
	slash = strrchr(path, '/');
	*slash = '\0';
	assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
	*slash = '/';
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* Replaces the one occurrence of from in file rel by to. */
static void edit(const char *rel, const char *from, const char *to)
{
	char path[PATH_MAX + 64], *text = NULL, *at, *out;
	size_t len = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fx.root, rel);
	assert_non_null(f = fopen(path, "r"));
	assert_true(getdelim(&text, &len, '\0', f) > 0);
	fclose(f);
	at = strstr(text, from);
	if (!at || strstr(at + 1, from))
		fail_msg("'%s' is not once in %s", from, rel);
	assert_true(asprintf(&out, "%.*s%s%s", (int)(at - text), text, to,
			     at + strlen(from)) > 0);
	write_file(rel, out);
	free(out);
	free(text);
}

/* "big": BIG_GWS gateways without eNodeBs, BIG_SUBS subscribers. */
static void write_big(void)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int i;

	assert_non_null(f);
	fputs("apiVersion: orc8r/v1\nkind: Network\nmetadata: {name: big}\n"
	      "spec: {cellular: {ran: {bandwidthMhz: 20, tddConfig: {earfcndl: 44590, "
	      "subframeAssignment: 2, specialSubframePattern: 7}}, "
	      "epc: {mcc: \"001\", mnc: \"03\", tac: 3}}}\n"
	      "---\napiVersion: orc8r/v1\nkind: APN\nmetadata: {name: internet, network: big}\n"
	      "spec: {ambr: {maxBandwidthUl: 1000, maxBandwidthDl: 2000}, qos: {qci: 9}}\n", f);
	for (i = 0; i < BIG_GWS; i++)
		fprintf(f, "---\napiVersion: orc8r/v1\nkind: Gateway\n"
			"metadata: {name: gw-%03d, network: big}\n"
			"spec: {hardwareId: 00000000-0000-4000-8000-%012d, "
			"epc: {ipBlock: 172.16.%d.0/24}}\n", i, 100 + i, i);
	fputs("---\napiVersion: orc8r/v1\nkind: SubscriberSet\n"
	      "metadata: {name: sims, network: big}\nspec:\n"
	      "  defaults: {state: ACTIVE, authAlgo: MILENAGE, apns: [internet]}\n"
	      "  subscribers:\n", f);
	for (i = 0; i < BIG_SUBS; i++)
		fprintf(f, "    - {imsi: \"0010300000000%02d\", ki: \"6513270e269e0d37f2a74de452e6b4%02d\", "
			"opc: \"d23f0824128b2f330c5c7fd0a6a3a4%02d\"}\n", i, i, i);
	assert_int_equal(fclose(f), 0);
	write_file("big/all.yaml", text);
	free(text);
}

/* Commits with the library's own commit (what `orc8r apply` does). */
static void commit_as(int which, const char *msg)
{
	struct o8_err err = O8_ERR_INIT;

	if (o8_git_commit_all(fx.commit[which], fx.git, msg, &err))
		fail_msg("commit '%s': %s", msg, err.msg);
}

static void fixture(void)
{
	write_file("lab/network.yaml", lab_network);
	write_file("lab/gateways.yaml", lab_gateways);
	write_file("lab/subscribers.yaml", lab_subscribers);
	write_file("field/all.yaml", field_all);
	write_big();
	commit_as(C_BASE, "base");
	/* one subscriber of lab and one of big */
	edit("lab/subscribers.yaml", "a452\"}", "a452\", state: INACTIVE}");
	edit("big/all.yaml", "a3a407\"}", "a3a407\", state: INACTIVE}");
	commit_as(C_SUBSCRIBER, "subscriber");
	/* agw-1's eNodeB */
	edit("lab/gateways.yaml", "cellId: 1}", "cellId: 7}");
	commit_as(C_ENODEB, "enodeb");
	/* an APN and a subscriber of lab go; agw-2 lets its eNodeB go */
	write_file("lab/network.yaml", lab_network_without_ims);
	edit("lab/subscribers.yaml", SIM(3), "");
	edit("lab/gateways.yaml", "enodebs: [\"ENB2\"]", "enodebs: []");
	commit_as(C_DELETES, "deletes");
	edit("lab/gateways.yaml", "name: agw-3,", "name: agw-9,");
	commit_as(C_RENAME, "rename");
	/* two errors: an unknown eNodeB, an APN without ambr */
	edit("lab/gateways.yaml", "enodebs: [\"ENB1\"]", "enodebs: [\"ENB-7\"]");
	edit("field/all.yaml", "spec: {ambr: {maxBandwidthUl: 1000, maxBandwidthDl: 2000}, qos",
	     "spec: {qos");
	commit_as(C_INVALID, "invalid");
}

static int group_setup(void **state)
{
	const char *t = getenv("TMPDIR");
	struct o8_err err = O8_ERR_INIT;
	git_repository *repo = NULL;
	git_config *cfg = NULL;
	int i;

	(void)state;
	snprintf(fx.root, sizeof(fx.root), "%s/o8-test-desired-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(fx.root) || git_libgit2_init() < 0 ||
	    git_repository_init(&repo, fx.root, 0) || git_repository_config(&cfg, repo) ||
	    git_config_set_string(cfg, "user.name", "Test") ||
	    git_config_set_string(cfg, "user.email", "test@example.com"))
		return -1;
	git_config_free(cfg);
	git_repository_free(repo);
	if (o8_git_open(&fx.git, fx.root, &err))
		return -1;
	fixture();
	for (i = 0; i < C_INVALID; i++)
		if (o8_desired_build(&fx.gen[i], fx.git, fx.commit[i], 10 + (uint64_t)i, NULL, &err)) {
			fprintf(stderr, "build of commit %d: %s\n", i, err.msg);
			return -1;
		}
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[PATH_MAX + 16];
	int i;

	(void)state;
	for (i = 0; i < NCOMMITS; i++)
		o8_desired_free(fx.gen[i]);
	o8_git_free(fx.git);
	git_libgit2_shutdown();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx.root);
	return system(cmd);
}

/* --- helpers ------------------------------------------------------------------ */

/* "Kind:key Kind:key ..." */
static void recs_str(char *out, size_t len, const struct o8_record *const *v, size_t n)
{
	size_t i, off = 0;

	out[0] = '\0';
	for (i = 0; i < n && off < len; i++)
		off += (size_t)snprintf(out + off, len - off, "%s%s:%s", i ? " " : "",
					o8_rec_kind_name(v[i]->kind), v[i]->key);
}

static void keys_str(char *out, size_t len, const struct o8_wire_key *v, size_t n)
{
	size_t i, off = 0;

	out[0] = '\0';
	for (i = 0; i < n && off < len; i++)
		off += (size_t)snprintf(out + off, len - off, "%s%s:%s", i ? " " : "",
					o8_rec_kind_name(v[i].kind), v[i].key);
}

/* Checks the delta from gen[a] to gen[b] of one gateway. */
static void expect_diff(int a, int b, const char *net, const char *gw,
			const char *upserts, const char *deletes)
{
	struct o8_desired_delta d;
	struct o8_err err = O8_ERR_INIT;
	char got[1024];

	if (o8_desired_diff(fx.gen[a], fx.gen[b], net, gw, &d, &err))
		fail_msg("diff %s/%s: %s", net, gw, err.msg);
	assert_false(d.full);
	assert_int_equal(d.from_version, 10 + a);
	assert_int_equal(d.to_version, 10 + b);
	assert_string_equal(d.commit, fx.commit[b]);
	recs_str(got, sizeof(got), d.upserts, d.nupserts);
	assert_string_equal(got, upserts);
	keys_str(got, sizeof(got), d.deletes, d.ndeletes);
	assert_string_equal(got, deletes);
	o8_desired_delta_done(&d);
	assert_null(d.upserts);
}

/* Every gateway of a network gets the same change. */
static void expect_network(int a, int b, const char *net, const char *upserts,
			   const char *deletes)
{
	const struct o8_desired *g = fx.gen[b];
	size_t i, seen = 0;

	for (i = 0; i < o8_desired_gateway_count(g); i++) {
		const struct o8_desired_gateway *x = o8_desired_gateway_at(g, i);
		if (strcmp(x->network, net))
			continue;
		expect_diff(a, b, net, x->name, upserts, deletes);
		seen++;
	}
	assert_true(seen > 0);
}

static void compile_commit(struct o8_records **out, struct o8_model **m, const char *commit)
{
	struct o8_diags diags = O8_DIAGS_INIT;
	struct o8_err err = O8_ERR_INIT;
	struct o8_snapshot *s = NULL;
	struct o8_src *src = NULL;

	assert_int_equal(o8_git_snapshot(&s, fx.git, commit, &diags, &err), O8_OK);
	assert_int_equal(o8_snapshot_srcs(&src, s, &err), O8_OK);
	assert_int_equal(o8_validate_srcs(m, src, o8_snapshot_count(s), NULL, NULL, &diags, &err), O8_OK);
	assert_int_equal(diags.n, 0);
	assert_int_equal(o8_compile(out, *m, &err), O8_OK);
	free(src);
	o8_snapshot_free(s);
}

/* --- building -------------------------------------------------------------- */

static void desired__build_keeps_only_records(void **state)
{
	const struct o8_desired *g = fx.gen[C_BASE];
	const char *want[] = { "big/gw-000", "big/gw-099", "field/agw-a", "field/agw-b",
			       "lab/agw-1", "lab/agw-2", "lab/agw-3" };
	struct o8_desired_iter it;
	const struct o8_record *r;
	struct o8_err err = O8_ERR_INIT;
	char name[64];
	size_t i, n = 0;

	(void)state;
	assert_int_equal(o8_desired_version(g), 10);
	assert_string_equal(o8_desired_commit(g), fx.commit[C_BASE]);
	assert_int_equal(o8_desired_gateway_count(g), BIG_GWS + 2 + 3);
	/* sorted by (network, name) */
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		size_t at = i < 2 ? i * (BIG_GWS - 1) : BIG_GWS + i - 2;
		const struct o8_desired_gateway *x = o8_desired_gateway_at(g, at);
		snprintf(name, sizeof(name), "%s/%s", x->network, x->name);
		assert_string_equal(name, want[i]);
		assert_ptr_equal(o8_desired_find(g, x->network, x->name), x);
	}
	assert_null(o8_desired_gateway_at(g, o8_desired_gateway_count(g)));
	assert_null(o8_desired_find(g, "lab", "agw-4"));
	assert_null(o8_desired_find(g, "field", "agw-1"));
	/* nothing of the model: strings and bodies are the generation's own */
	assert_int_equal(o8_desired_iter_init(&it, g, "lab", "agw-1", &err), O8_OK);
	while ((r = o8_desired_iter_next(&it))) {
		assert_null(r->obj);
		assert_null(r->at);
		assert_null(r->fields);
		assert_int_equal(r->nfields, 0);
		assert_string_equal(r->network, "lab");
		assert_true(strlen(r->key) > 0 && strlen(r->name) > 0);
		if (r->kind == O8_REC_SUBSCRIBER)
			assert_true(!strncmp(r->name, "IMSI", 4) && !strcmp(r->name + 4, r->key));
		n++;
	}
	/* Network, Gateway, ENodeB, 2 APNs, Policy, 3 Subscribers, Tier */
	assert_int_equal(n, 10);
	assert_int_equal(o8_desired_find(g, "lab", "agw-1")->nrecords, 10);
	assert_int_equal(o8_desired_find(g, "lab", "agw-3")->nrecords, 9);
	assert_int_equal(o8_desired_iter_init(&it, g, "lab", "nope", &err), O8_ENOTFOUND);
	assert_null(o8_desired_iter_next(&it));
}

/* The merged config is exactly o8_compile_agw's, and so are its digests. */
static void desired__config_is_compile_agw(void **state)
{
	const struct o8_desired *g = fx.gen[C_ENODEB];
	struct o8_records *recs = NULL;
	struct o8_model *m = NULL;
	struct o8_err err = O8_ERR_INIT;
	size_t i, j;

	(void)state;
	compile_commit(&recs, &m, fx.commit[C_ENODEB]);
	for (i = 0; i < o8_desired_gateway_count(g); i++) {
		const struct o8_desired_gateway *x = o8_desired_gateway_at(g, i);
		struct o8_wire_kind_digests kd;
		struct o8_agw_config want;
		struct o8_desired_iter it;
		const struct o8_record **full;
		size_t n;

		assert_int_equal(o8_compile_agw(&want, recs, x->network, x->name, &err), O8_OK);
		assert_int_equal(o8_desired_full(&full, &n, g, x->network, x->name, &err), O8_OK);
		assert_int_equal(n, want.n);
		assert_int_equal(x->nrecords, n);
		assert_int_equal(o8_desired_iter_init(&it, g, x->network, x->name, &err), O8_OK);
		for (j = 0; j < n; j++) {
			assert_ptr_equal(o8_desired_iter_next(&it), full[j]);
			assert_int_equal(full[j]->kind, want.recs[j]->kind);
			assert_string_equal(full[j]->key, want.recs[j]->key);
			assert_string_equal(full[j]->name, want.recs[j]->name);
			assert_int_equal(full[j]->len, want.recs[j]->len);
			assert_memory_equal(full[j]->body, want.recs[j]->body, full[j]->len);
			assert_memory_equal(full[j]->digest, want.recs[j]->digest, 32);
		}
		assert_null(o8_desired_iter_next(&it));
		assert_int_equal(o8_wire_kind_digests_of(&kd, full, n, &err), O8_OK);
		assert_memory_equal(&kd, &x->kd, sizeof(kd));
		free(full);
		o8_agw_config_done(&want);
	}
	o8_records_free(recs);
	o8_model_free(m);
}

static void desired__invalid_commit(void **state)
{
	struct o8_diags diags = O8_DIAGS_INIT;
	struct o8_err err = O8_ERR_INIT;
	struct o8_desired *g = (struct o8_desired *)1;
	char want[1024];

	(void)state;
	assert_int_equal(o8_desired_build(&g, fx.git, fx.commit[C_INVALID], 99, &diags, &err),
			 O8_EINVALID);
	assert_null(g);
	assert_int_equal(diags.n, 2);
	/* sorted: field/ before lab/ */
	assert_string_equal(diags.v[0].file, "field/all.yaml");
	assert_string_equal(diags.v[1].file, "lab/gateways.yaml");
	assert_non_null(strstr(diags.v[1].msg, "'ENB-7'"));
	snprintf(want, sizeof(want), "2 errors: field/all.yaml:%u:%u: APN/internet: %s",
		 diags.v[0].line, diags.v[0].col, diags.v[0].msg);
	assert_string_equal(err.msg, want);
	o8_diags_free(&diags);

	/* without a list, the message alone */
	o8_err_clear(&err);
	assert_int_equal(o8_desired_build(&g, fx.git, fx.commit[C_INVALID], 99, NULL, &err),
			 O8_EINVALID);
	assert_string_equal(err.msg, want);

	o8_err_clear(&err);
	assert_int_equal(o8_desired_build(&g, fx.git, "no-such-branch", 99, NULL, &err),
			 O8_ENOTFOUND);
	o8_err_clear(&err);
	assert_int_equal(o8_desired_build(&g, fx.git, "HEAD^{tree}", 99, NULL, &err),
			 O8_EINVALID);
	assert_non_null(strstr(err.msg, "names no commit"));
}

/* --- diffs between generations ------------------------------------------- */

static void desired__diff_one_subscriber(void **state)
{
	(void)state;
	expect_network(C_BASE, C_SUBSCRIBER, "lab", "Subscriber:001010000000002", "");
	expect_network(C_BASE, C_SUBSCRIBER, "big", "Subscriber:001030000000007", "");
	expect_network(C_BASE, C_SUBSCRIBER, "field", "", "");
}

static void desired__diff_one_enodeb(void **state)
{
	(void)state;
	expect_diff(C_SUBSCRIBER, C_ENODEB, "lab", "agw-1", "ENodeB:ENB1", "");
	expect_diff(C_SUBSCRIBER, C_ENODEB, "lab", "agw-2", "", "");
	expect_diff(C_SUBSCRIBER, C_ENODEB, "lab", "agw-3", "", "");
	expect_network(C_SUBSCRIBER, C_ENODEB, "field", "", "");
	/* across two commits: both changes */
	expect_diff(C_BASE, C_ENODEB, "lab", "agw-1", "ENodeB:ENB1 Subscriber:001010000000002", "");
}

static void desired__diff_deletes(void **state)
{
	(void)state;
	expect_diff(C_ENODEB, C_DELETES, "lab", "agw-1", "",
		    "APN:ims Subscriber:001010000000003");
	/* its own deletes and the network's, merged in (kind, key) order */
	expect_diff(C_ENODEB, C_DELETES, "lab", "agw-2", "Gateway:agw-2",
		    "ENodeB:ENB2 APN:ims Subscriber:001010000000003");
	expect_network(C_ENODEB, C_DELETES, "big", "", "");
}

static void desired__diff_renamed_gateway(void **state)
{
	struct o8_desired_delta d;
	struct o8_err err = O8_ERR_INIT;
	const struct o8_record **full;
	size_t n, i;

	(void)state;
	/* the old name is gone; the new one starts from nothing */
	assert_int_equal(o8_desired_diff(fx.gen[C_DELETES], fx.gen[C_RENAME], "lab", "agw-3",
					 &d, &err), O8_ENOTFOUND);
	assert_non_null(strstr(err.msg, "'agw-3'"));
	assert_int_equal(d.nupserts, 0);
	assert_int_equal(o8_desired_diff(fx.gen[C_DELETES], fx.gen[C_RENAME], "lab", "agw-9",
					 &d, &err), O8_OK);
	assert_true(d.full);
	assert_int_equal(d.from_version, 0);
	assert_int_equal(d.ndeletes, 0);
	assert_int_equal(o8_desired_full(&full, &n, fx.gen[C_RENAME], "lab", "agw-9", &err), O8_OK);
	assert_int_equal(d.nupserts, n);
	for (i = 0; i < n; i++)
		assert_ptr_equal(d.upserts[i], full[i]);
	free(full);
	o8_desired_delta_done(&d);
	expect_diff(C_DELETES, C_RENAME, "lab", "agw-1", "", "");
	expect_network(C_DELETES, C_RENAME, "field", "", "");
}

static void desired__diff_from_nothing(void **state)
{
	struct o8_desired_delta d;
	struct o8_wire_delta w;
	struct o8_err err = O8_ERR_INIT;
	struct Orc8r__V1__Envelope *env = NULL;
	char got[1024];

	(void)state;
	assert_int_equal(o8_desired_diff(NULL, fx.gen[C_DELETES], "lab", "agw-2", &d, &err), O8_OK);
	assert_true(d.full);
	assert_int_equal(d.from_version, 0);
	assert_int_equal(d.to_version, 10 + C_DELETES);
	recs_str(got, sizeof(got), d.upserts, d.nupserts);
	assert_string_equal(got, "Network:lab Gateway:agw-2 APN:internet PolicyRule:allow-web "
			    "Subscriber:001010000000001 Subscriber:001010000000002 Tier:default");
	/* what the wire builder takes */
	o8_desired_delta_wire(&d, &w);
	assert_true(w.full);
	assert_ptr_equal(w.upserts, d.upserts);
	assert_int_equal(w.nupserts, d.nupserts);
	assert_string_equal(w.commit, fx.commit[C_DELETES]);
	assert_int_equal(o8_wire_build_delta(&env, &w, &err), O8_OK);
	o8_wire_built_free(env);
	o8_desired_delta_done(&d);
	assert_int_equal(o8_desired_diff(NULL, fx.gen[C_DELETES], "lab", "agw-9", &d, &err),
			 O8_ENOTFOUND);
}

/* --- the shared network-wide half ---------------------------------------- */

static void desired__network_shares_one_delta(void **state)
{
	struct o8_desired_delta d;
	struct o8_err err = O8_ERR_INIT;
	const struct o8_desired_shared *shared = NULL;
	const struct o8_record *const *up = NULL;
	size_t i, nup, ndel, seen = 0;
	struct o8_desired *g = fx.gen[C_SUBSCRIBER];

	(void)state;
	for (i = 0; i < o8_desired_gateway_count(g); i++) {
		const struct o8_desired_gateway *x = o8_desired_gateway_at(g, i);
		if (strcmp(x->network, "big"))
			continue;
		assert_int_equal(o8_desired_diff(fx.gen[C_BASE], g, "big", x->name, &d, &err), O8_OK);
		assert_non_null(d.shared);
		if (!shared) {
			shared = d.shared;
			up = d.upserts;
		}
		/* one object, and the AGW's delta is its array, not a copy */
		assert_ptr_equal(d.shared, shared);
		assert_ptr_equal(d.upserts, up);
		assert_int_equal(d.nupserts, 1);
		o8_desired_delta_done(&d);
		seen++;
	}
	assert_int_equal(seen, BIG_GWS);
	o8_desired_shared_size(shared, &nup, &ndel);
	assert_int_equal(nup, 1);
	assert_int_equal(ndel, 0);
	/* from another generation: another object */
	assert_int_equal(o8_desired_diff(fx.gen[C_SUBSCRIBER], g, "big", "gw-000", &d, &err), O8_OK);
	assert_ptr_not_equal(d.shared, shared);
	assert_int_equal(d.nupserts, 0);
	o8_desired_delta_done(&d);
	/* another network: another object */
	assert_int_equal(o8_desired_diff(fx.gen[C_BASE], g, "lab", "agw-1", &d, &err), O8_OK);
	assert_ptr_not_equal(d.shared, shared);
	o8_desired_delta_done(&d);
}

struct racer {
	const struct o8_desired_shared *seen[BIG_GWS];
	int failed;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct o8_desired_delta d;
	struct o8_err err = O8_ERR_INIT;
	char name[16];
	int i;

	for (i = 0; i < BIG_GWS; i++) {
		snprintf(name, sizeof(name), "gw-%03d", i);
		if (o8_desired_diff(fx.gen[C_BASE], fx.gen[C_RENAME], "big", name, &d, &err) ||
		    d.nupserts != 1) {
			r->failed = 1;
			return NULL;
		}
		r->seen[i] = d.shared;
		o8_desired_delta_done(&d);
	}
	return NULL;
}

/* Threads diffing the same pair at once still compute it once. */
static void desired__shared_delta_under_threads(void **state)
{
	struct racer r[4];
	pthread_t t[4];
	int i, j;

	(void)state;
	memset(r, 0, sizeof(r));
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < 4; i++) {
		assert_false(r[i].failed);
		for (j = 0; j < BIG_GWS; j++)
			assert_ptr_equal(r[i].seen[j], r[0].seen[0]);
	}
}

/* --- digests ------------------------------------------------------------------ */

/* The AGW's list as if it held everything of gen for that gateway. */
static struct o8_desired_have *have_all(size_t *n, const struct o8_desired *g,
					const char *net, const char *gw)
{
	const struct o8_record **full;
	struct o8_desired_have *h;
	struct o8_err err = O8_ERR_INIT;
	size_t i;

	assert_int_equal(o8_desired_full(&full, n, g, net, gw, &err), O8_OK);
	assert_non_null(h = calloc(*n + 1, sizeof(*h)));
	for (i = 0; i < *n; i++) {
		h[i].kind = full[i]->kind;
		assert_non_null(h[i].key = strdup(full[i]->key));
		memcpy(h[i].digest, full[i]->digest, 32);
	}
	free(full);
	return h;
}

static void free_have(struct o8_desired_have *h, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free((char *)h[i].key);
	free(h);
}

static void digest_diff(char *ups, char *dels, size_t len, const struct o8_desired_have *h,
			size_t n, uint32_t mask, struct o8_desired_have *to_free)
{
	struct o8_desired_delta d;
	struct o8_err err = O8_ERR_INIT;

	if (o8_desired_diff_digests(fx.gen[C_DELETES], "lab", "agw-1", h, n, mask, &d, &err))
		fail_msg("diff_digests: %s", err.msg);
	if (to_free)
		free_have(to_free, n);  /* the delta's keys are its own */
	assert_false(d.full);
	assert_int_equal(d.to_version, 10 + C_DELETES);
	recs_str(ups, len, d.upserts, d.nupserts);
	keys_str(dels, len, d.deletes, d.ndeletes);
	o8_desired_delta_done(&d);
}

static void desired__diff_digests(void **state)
{
	struct o8_desired_have *h;
	char ups[1024], dels[1024];
	size_t n;

	(void)state;
	/* holds exactly the config: nothing to send */
	h = have_all(&n, fx.gen[C_DELETES], "lab", "agw-1");
	digest_diff(ups, dels, sizeof(ups), h, n, 0, h);
	assert_string_equal(ups, "");
	assert_string_equal(dels, "");

	/* holds the base's config: the subscriber and eNodeB changed, two went */
	h = have_all(&n, fx.gen[C_BASE], "lab", "agw-1");
	digest_diff(ups, dels, sizeof(ups), h, n, 0, h);
	assert_string_equal(ups, "ENodeB:ENB1 Subscriber:001010000000002");
	assert_string_equal(dels, "APN:ims Subscriber:001010000000003");

	/* holds nothing */
	digest_diff(ups, dels, sizeof(ups), NULL, 0, 0, NULL);
	assert_string_equal(ups, "Network:lab Gateway:agw-1 ENodeB:ENB1 APN:internet "
			    "PolicyRule:allow-web Subscriber:001010000000001 "
			    "Subscriber:001010000000002 Tier:default");

	/* only the subscribers were asked for: the rest of the list is ignored */
	h = have_all(&n, fx.gen[C_BASE], "lab", "agw-1");
	digest_diff(ups, dels, sizeof(ups), h, n, 1u << O8_REC_SUBSCRIBER, h);
	assert_string_equal(ups, "Subscriber:001010000000002");
	assert_string_equal(dels, "Subscriber:001010000000003");
	digest_diff(ups, dels, sizeof(ups), NULL, 0,
		    1u << O8_REC_APN | 1u << O8_REC_TIER, NULL);
	assert_string_equal(ups, "APN:internet Tier:default");
	assert_string_equal(dels, "");
}

static void desired__diff_digests_refuses_bad_lists(void **state)
{
	struct o8_desired_have h[3] = {
		{ O8_REC_APN, "internet", { 0 } },
		{ O8_REC_APN, "ims", { 0 } },           /* before internet */
		{ O8_REC_TIER, "default", { 0 } },
	};
	struct o8_desired_delta d;
	struct o8_err err = O8_ERR_INIT;

	(void)state;
	assert_int_equal(o8_desired_diff_digests(fx.gen[C_BASE], "lab", "agw-1", h, 3, 0, &d, &err),
			 O8_EINVALID);
	assert_non_null(strstr(err.msg, "not sorted"));
	assert_int_equal(d.nupserts, 0);
	h[1].key = "internet";                  /* twice */
	o8_err_clear(&err);
	assert_int_equal(o8_desired_diff_digests(fx.gen[C_BASE], "lab", "agw-1", h, 3, 0, &d, &err),
			 O8_EINVALID);
	h[1].key = "zz";
	h[2].kind = (enum o8_rec_kind)O8_REC__COUNT;
	o8_err_clear(&err);
	assert_int_equal(o8_desired_diff_digests(fx.gen[C_BASE], "lab", "agw-1", h, 3, 0, &d, &err),
			 O8_EINVALID);
	assert_non_null(strstr(err.msg, "unknown kind"));
	o8_err_clear(&err);
	assert_int_equal(o8_desired_diff_digests(fx.gen[C_BASE], "lab", "agw-7", h, 0, 0, &d, &err),
			 O8_ENOTFOUND);
}

static void desired__kinds_differing(void **state)
{
	const struct o8_desired_gateway *was = o8_desired_find(fx.gen[C_BASE], "lab", "agw-1");
	const struct o8_desired_gateway *now = o8_desired_find(fx.gen[C_ENODEB], "lab", "agw-1");
	const struct o8_desired_gateway *other;
	struct o8_wire_kind_digests kd;

	(void)state;
	assert_int_equal(o8_desired_kinds_differing(fx.gen[C_ENODEB], "lab", "agw-1", &now->kd), 0);
	assert_int_equal(o8_desired_kinds_differing(fx.gen[C_ENODEB], "lab", "agw-1", &was->kd),
			 1u << O8_REC_ENODEB | 1u << O8_REC_SUBSCRIBER);
	kd = now->kd;
	kd.digest[O8_REC_TIER][5] ^= 1;
	assert_int_equal(o8_desired_kinds_differing(fx.gen[C_ENODEB], "lab", "agw-1", &kd),
			 1u << O8_REC_TIER);
	assert_int_equal(o8_desired_kinds_differing(fx.gen[C_ENODEB], "lab", "agw-7", &kd), 0);
	/* the network-wide kinds are the network's: alike on every gateway */
	other = o8_desired_find(fx.gen[C_ENODEB], "lab", "agw-2");
	assert_memory_equal(other->kd.digest[O8_REC_SUBSCRIBER],
			    now->kd.digest[O8_REC_SUBSCRIBER], 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(desired__build_keeps_only_records),
		cmocka_unit_test(desired__config_is_compile_agw),
		cmocka_unit_test(desired__invalid_commit),
		cmocka_unit_test(desired__diff_one_subscriber),
		cmocka_unit_test(desired__diff_one_enodeb),
		cmocka_unit_test(desired__diff_deletes),
		cmocka_unit_test(desired__diff_renamed_gateway),
		cmocka_unit_test(desired__diff_from_nothing),
		cmocka_unit_test(desired__network_shares_one_delta),
		cmocka_unit_test(desired__shared_delta_under_threads),
		cmocka_unit_test(desired__diff_digests),
		cmocka_unit_test(desired__diff_digests_refuses_bad_lists),
		cmocka_unit_test(desired__kinds_differing),
	};

	/* libgit2 sees only the test repository's config */
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("HOME", "/nonexistent", 1);
	setenv("XDG_CONFIG_HOME", "/nonexistent", 1);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
