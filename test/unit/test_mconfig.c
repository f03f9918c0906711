/*
 * test_mconfig.c - records to Magma's gateway.mconfig and the subscribers
 * file (agent/mconfig.h): the values land under Magma's names, unset radio
 * settings are inherited from the gateway and network, every eNodeB model
 * keeps Magma's spelling, the output depends on nothing but the records
 * (not their order), keys never reach the mconfig but do reach the
 * subscribers file, and missing or broken records are refused by name.
 * The byte-exact output is pinned by test/golden/mconfig.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <nettle/base16.h>
#include <nettle/base64.h>
#include <protobuf-c/protobuf-c.h>

#include "repo/compile.h"
#include "mconfig.h"
#include "orc8r.pb-c.h"
#include "repo/schema.h"
#include "repo/validate.h"

/* One compiled repository and one gateway's config in it. */
struct lab {
	struct o8_model *m;
	struct o8_records *r;
	struct o8_agw_config c;
};

static void print_diags(const struct o8_diags *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		fprintf(stderr, "%s:%u:%u: %s\n", d->v[i].file, d->v[i].line,
			d->v[i].col, d->v[i].msg);
}

static void compile_model(struct lab *l, const struct o8_diags *d,
			  const char *network, const char *gateway)
{
	struct o8_err err = O8_ERR_INIT;

	if (d->n) {
		print_diags(d);
		fail_msg("the test input is not valid");
	}
	assert_int_equal(o8_compile(&l->r, l->m, &err), O8_OK);
	assert_int_equal(o8_compile_agw(&l->c, l->r, network, gateway, &err), O8_OK);
}

static void lab_open(struct lab *l, const char *gateway)
{
	const char *src = getenv("O8_SOURCE_DIR");
	struct o8_diags d = O8_DIAGS_INIT;
	struct o8_err err = O8_ERR_INIT;
	char dir[4096];

	assert_non_null(src);
	memset(l, 0, sizeof(*l));
	snprintf(dir, sizeof(dir), "%s/examples/networks", src);
	assert_int_equal(o8_validate_dir(&l->m, dir, NULL, NULL, &d, &err), O8_OK);
	compile_model(l, &d, "lab", gateway);
	o8_diags_free(&d);
}

/* From YAML documents in memory, one file each. */
static void yaml_open(struct lab *l, const char *const *docs, size_t n,
		      const char *network, const char *gateway)
{
	struct o8_src srcs[8];
	char names[8][32];
	struct o8_diags d = O8_DIAGS_INIT;
	struct o8_err err = O8_ERR_INIT;
	size_t i;

	assert_true(n <= 8);
	memset(l, 0, sizeof(*l));
	for (i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "networks/t/f%zu.yaml", i);
		srcs[i].path = names[i];
		srcs[i].buf = docs[i];
		srcs[i].len = strlen(docs[i]);
	}
	assert_int_equal(o8_validate_srcs(&l->m, srcs, n, NULL, NULL, &d, &err), O8_OK);
	compile_model(l, &d, network, gateway);
	o8_diags_free(&d);
}

static void lab_close(struct lab *l)
{
	o8_agw_config_done(&l->c);
	o8_records_free(l->r);
	o8_model_free(l->m);
}

static const struct o8_record *const *recs_of(const struct lab *l)
{
	return (const struct o8_record *const *)l->c.recs;
}

static json_t *render_json(const struct lab *l, const char *gateway, char **text)
{
	struct o8_err err = O8_ERR_INIT;
	json_t *j;

	assert_int_equal(o8_mconfig_render(text, NULL, recs_of(l), l->c.n, "lab",
					   gateway, &err), O8_OK);
	j = json_loads(*text, 0, NULL);
	assert_non_null(j);
	return j;
}

/* The value at a path of object keys and array indexes, "a.b.0". */
static json_t *at(json_t *j, const char *path)
{
	char buf[256], *save = NULL, *k;

	snprintf(buf, sizeof(buf), "%s", path);
	for (k = strtok_r(buf, ".", &save); k && j; k = strtok_r(NULL, ".", &save))
		j = json_is_array(j) ? json_array_get(j, strtoul(k, NULL, 10)) :
				       json_object_get(j, k);
	if (!j)
		fail_msg("no '%s'", path);
	return j;
}

static void is_int(json_t *j, const char *path, json_int_t want)
{
	json_t *v = at(j, path);

	if (!json_is_integer(v) || json_integer_value(v) != want)
		fail_msg("%s: expected %lld", path, (long long)want);
}

static void is_str(json_t *j, const char *path, const char *want)
{
	json_t *v = at(j, path);

	if (!json_is_string(v) || strcmp(json_string_value(v), want))
		fail_msg("%s: expected '%s', got '%s'", path, want,
			 json_is_string(v) ? json_string_value(v) : "(not a string)");
}

static void is_bool(json_t *j, const char *path, bool want)
{
	json_t *v = at(j, path);

	if (!json_is_boolean(v) || json_is_true(v) != want)
		fail_msg("%s: expected %s", path, want ? "true" : "false");
}

static void absent(json_t *j, const char *parent, const char *key)
{
	if (json_object_get(at(j, parent), key))
		fail_msg("%s.%s should be absent", parent, key);
}

/* --- values ------------------------------------------------------------ */

static void mconfig__lab_values_under_magma_names(void **state)
{
	struct lab l;
	char *text;
	json_t *j;

	(void)state;
	lab_open(&l, "agw-berlin-1");
	j = render_json(&l, "agw-berlin-1", &text);
	is_str(j, "configsByKey.mme.@type", "type.googleapis.com/magma.mconfig.MME");
	is_str(j, "configsByKey.mme.mcc", "001");
	is_str(j, "configsByKey.mme.mnc", "01");
	is_int(j, "configsByKey.mme.tac", 1);
	is_int(j, "configsByKey.mme.mmeGid", 1);
	is_int(j, "configsByKey.mme.mmeCode", 1);
	is_int(j, "configsByKey.mme.mmeRelativeCapacity", 10);
	is_str(j, "configsByKey.mme.dnsPrimary", "8.8.8.8");
	is_str(j, "configsByKey.mme.dnsSecondary", "8.8.4.4");
	is_bool(j, "configsByKey.mme.natEnabled", true);
	is_bool(j, "configsByKey.mme.enableDnsCaching", true);    /* network's */
	is_str(j, "configsByKey.enodebd.plmnidList", "00101");
	is_int(j, "configsByKey.enodebd.pci", 260);
	is_int(j, "configsByKey.enodebd.earfcndl", 44590);
	is_int(j, "configsByKey.enodebd.bandwidthMhz", 20);
	is_int(j, "configsByKey.enodebd.tddConfig.subframeAssignment", 2);
	is_bool(j, "configsByKey.enodebd.allowEnodebTransmit", true);
	absent(j, "configsByKey.enodebd", "fddConfig");
	/* the eNodeB sets no TDD pattern: the network's */
	is_int(j, "configsByKey.enodebd.enbConfigsBySerial.120200002618AGP0001.specialSubframePattern", 7);
	is_int(j, "configsByKey.enodebd.enbConfigsBySerial.120200002618AGP0001.cellId", 138777000);
	is_str(j, "configsByKey.enodebd.enbConfigsBySerial.120200002618AGP0001.deviceClass",
	       "Baicells Nova-233 G2 OD FDD");
	is_str(j, "configsByKey.mobilityd.ipBlock", "192.168.128.0/24");
	is_str(j, "configsByKey.mobilityd.ipAllocatorType", "IP_POOL");
	is_str(j, "configsByKey.pipelined.ueIpBlock", "192.168.128.0/24");
	is_str(j, "configsByKey.pipelined.services.0", "ENFORCEMENT");
	is_str(j, "configsByKey.subscriberdb.lteAuthAmf", "gAA=");       /* 0x8000 */
	absent(j, "configsByKey.subscriberdb", "lteAuthOp");
	is_str(j, "configsByKey.subscriberdb.subProfiles.default.maxUlBitRate", "100000000");
	is_str(j, "configsByKey.subscriberdb.subProfiles.iot.maxDlBitRate", "2000000");
	is_str(j, "configsByKey.magmad.packageVersion", "1.8.0");
	is_int(j, "configsByKey.magmad.checkinInterval", 60);
	is_bool(j, "configsByKey.sessiond.gxGyRelayEnabled", false);
	is_int(j, "metadata.createdAt", 0);
	/* every key of Magma's LTE and orchestrator builders */
	assert_int_equal(json_object_size(at(j, "configsByKey")), 18);
	is_str(j, "configsByKey.mme.logLevel", "INFO");
	is_str(j, "configsByKey.control_proxy.logLevel", "INFO");
	absent(j, "configsByKey.td-agent-bit", "logLevel");
	is_bool(j, "configsByKey.mme.congestionControlEnabled", true);
	/* Magma's 300 s and 60 s, with its jitter for this gateway's id */
	is_int(j, "configsByKey.subscriberdb.syncInterval", 352);
	is_int(j, "configsByKey.state.syncInterval", 73);
	is_str(j, "configsByKey.td-agent-bit.extraTags.gateway_id", "agw-berlin-1");
	json_decref(j);
	free(text);
	lab_close(&l);
}

static void mconfig__unmanaged_enodeb_and_no_pool(void **state)
{
	const char *enb = "configsByKey.enodebd.enbConfigsBySerial.120200002618AGP0003";
	struct lab l;
	char *text;
	json_t *j;

	(void)state;
	lab_open(&l, "agw-potsdam-1");
	j = render_json(&l, "agw-potsdam-1", &text);
	is_str(j, "configsByKey.enodebd.enbConfigsBySerial.120200002618AGP0003.ipAddress",
	       "10.0.3.20");
	is_int(j, "configsByKey.enodebd.enbConfigsBySerial.120200002618AGP0003.cellId",
	       138777002);
	absent(j, enb, "deviceClass");
	absent(j, enb, "earfcndl");
	is_bool(j, "configsByKey.enodebd.allowEnodebTransmit", false);
	/* no pool: Magma's defaults, relative capacity from the schema */
	is_int(j, "configsByKey.mme.mmeGid", 1);
	is_int(j, "configsByKey.mme.mmeRelativeCapacity", 10);
	is_str(j, "configsByKey.mme.dnsSecondary", "");
	json_decref(j);
	free(text);
	lab_close(&l);
}

static const char *const net_fdd =
	"apiVersion: orc8r/v1\nkind: Network\nmetadata: {name: lab}\nspec:\n"
	"  cellular:\n"
	"    ran: {bandwidthMhz: 5, fddConfig: {earfcndl: 1575, earfcnul: 19575}}\n"
	"    epc:\n"
	"      mcc: \"310\"\n      mnc: \"410\"\n      tac: 7\n"
	"      lteAuthOp: \"00112233445566778899aabbccddeeff\"\n"
	"      ipAllocationMode: DHCP_BROADCAST\n"
	"      networkServices: [policy_enforcement, dpi]\n";
static const char *const gw_bare =
	"apiVersion: orc8r/v1\nkind: Gateway\n"
	"metadata: {name: gw, network: lab}\nspec:\n"
	"  hardwareId: 3f2e1d0c-4b5a-4968-8776-a5b4c3d2e1f0\n"
	"  epc: {ipBlock: 192.168.130.0/24}\n"
	"  enodebs: [E1]\n";
static const char *const enb_bare =
	"apiVersion: orc8r/v1\nkind: ENodeB\nmetadata: {name: e1, network: lab}\n"
	"spec:\n  serial: E1\n  managed:\n    deviceClass: FreedomFi One\n"
	"    cellId: 1\n";

/* A gateway that leaves out ran, dns and pool, and every epc field but the
 * ipBlock Magma requires: schema defaults. */
static void mconfig__left_out_objects_take_schema_defaults(void **state)
{
	const char *docs[] = { net_fdd, gw_bare, enb_bare };
	struct lab l;
	char *text;
	json_t *j;

	(void)state;
	yaml_open(&l, docs, 3, "lab", "gw");
	j = render_json(&l, "gw", &text);
	is_bool(j, "configsByKey.mme.natEnabled", true);
	is_bool(j, "configsByKey.enodebd.allowEnodebTransmit", true);
	is_bool(j, "configsByKey.dnsd.dhcpServerEnabled", true);
	is_str(j, "configsByKey.mobilityd.ipAllocatorType", "DHCP");
	is_str(j, "configsByKey.pipelined.services.0", "ENFORCEMENT");
	is_str(j, "configsByKey.pipelined.services.1", "DPI");
	is_str(j, "configsByKey.subscriberdb.lteAuthOp", "ABEiM0RVZneImaq7zN3u/w==");
	is_int(j, "configsByKey.enodebd.fddConfig.earfcnul", 19575);
	absent(j, "configsByKey.enodebd", "tddConfig");
	absent(j, "configsByKey.enodebd", "pci");
	absent(j, "configsByKey.enodebd", "subframeAssignment");
	/* the eNodeB inherits the network's channel, bandwidth and TAC; there
	   is no PCI anywhere to inherit */
	is_int(j, "configsByKey.enodebd.enbConfigsBySerial.E1.earfcndl", 1575);
	is_int(j, "configsByKey.enodebd.enbConfigsBySerial.E1.bandwidthMhz", 5);
	is_int(j, "configsByKey.enodebd.enbConfigsBySerial.E1.tac", 7);
	absent(j, "configsByKey.enodebd.enbConfigsBySerial.E1", "pci");
	absent(j, "configsByKey.enodebd.enbConfigsBySerial.E1", "subframeAssignment");
	/* no tier: Magma's placeholder version, no images */
	is_str(j, "configsByKey.magmad.packageVersion", "0.0.0-0");
	assert_int_equal(json_array_size(at(j, "configsByKey.magmad.images")), 0);
	json_decref(j);
	free(text);
	/* a network without subscribers */
	assert_int_equal(o8_mconfig_render(NULL, &text, recs_of(&l), l.c.n, "lab",
					   "gw", &(struct o8_err){ 0 }), O8_OK);
	assert_string_equal(text, "{\"network\":\"lab\",\"subscribers\":[]}\n");
	free(text);
	lab_close(&l);
}

/* The network may turn Magma's congestion control off. */
static void mconfig__congestion_control_off(void **state)
{
	char net[1024];
	const char *docs[3];
	struct lab l;
	char *text;
	json_t *j;

	(void)state;
	snprintf(net, sizeof(net), "%s      congestionControlEnabled: false\n",
		 net_fdd);
	docs[0] = net;
	docs[1] = gw_bare;
	docs[2] = enb_bare;
	yaml_open(&l, docs, 3, "lab", "gw");
	j = render_json(&l, "gw", &text);
	is_bool(j, "configsByKey.mme.congestionControlEnabled", false);
	json_decref(j);
	free(text);
	lab_close(&l);
}

/* Every eNodeB model of the schema comes out in Magma's spelling. */
static void mconfig__every_device_class_keeps_its_name(void **state)
{
	const struct o8_field *f = o8_schema_field(o8_schema_kind(O8_KIND_ENODEB),
						   "managed.deviceClass");
	const char *const *e;

	(void)state;
	assert_non_null(f);
	for (e = f->enums; *e; e++) {
		char enb[512], path[128];
		const char *docs[3];
		struct lab l;
		char *text;
		json_t *j;

		snprintf(enb, sizeof(enb),
			 "apiVersion: orc8r/v1\nkind: ENodeB\n"
			 "metadata: {name: e1, network: lab}\nspec:\n  serial: E1\n"
			 "  managed:\n    deviceClass: \"%s\"\n    cellId: 1\n", *e);
		docs[0] = net_fdd;
		docs[1] = gw_bare;
		docs[2] = enb;
		yaml_open(&l, docs, 3, "lab", "gw");
		j = render_json(&l, "gw", &text);
		snprintf(path, sizeof(path),
			 "configsByKey.enodebd.enbConfigsBySerial.E1.deviceClass");
		is_str(j, path, *e);
		json_decref(j);
		free(text);
		lab_close(&l);
	}
}

/* --- secrets -------------------------------------------------------------- */

static void mconfig__keys_go_to_subscribers_only(void **state)
{
	struct o8_err err = O8_ERR_INIT;
	struct lab l;
	char *mc, *subs;
	size_t i, checked = 0;

	(void)state;
	lab_open(&l, "agw-berlin-1");
	assert_int_equal(o8_mconfig_render(&mc, &subs, recs_of(&l), l.c.n, "lab",
					   "agw-berlin-1", &err), O8_OK);
	for (i = 0; i < l.c.n; i++) {
		const struct o8_record *r = l.c.recs[i];
		Orc8r__V1__Subscriber *u;
		char hex[33], b64[25];

		if (r->kind != O8_REC_SUBSCRIBER)
			continue;
		u = orc8r__v1__subscriber__unpack(NULL, r->len, r->body);
		assert_non_null(u);
		assert_int_equal(u->ki.len, 16);
		base16_encode_update(hex, 16, u->ki.data);
		hex[32] = '\0';
		base64_encode_raw(b64, 16, u->ki.data);
		b64[24] = '\0';
		assert_null(strstr(mc, hex));
		assert_null(strstr(mc, b64));
		assert_non_null(strstr(subs, hex));
		base16_encode_update(hex, 16, u->opc.data);
		assert_null(strstr(mc, hex));
		assert_non_null(strstr(subs, hex));
		orc8r__v1__subscriber__free_unpacked(u, NULL);
		checked++;
	}
	assert_int_equal(checked, 100);
	free(mc);
	free(subs);
	lab_close(&l);
}

static void mconfig__subscribers_file(void **state)
{
	struct o8_err err = O8_ERR_INIT;
	struct lab l;
	json_t *j, *a, *first;
	char *subs;
	size_t i;

	(void)state;
	lab_open(&l, "agw-berlin-1");
	assert_int_equal(o8_mconfig_render(NULL, &subs, recs_of(&l), l.c.n, "lab",
					   "agw-berlin-1", &err), O8_OK);
	assert_non_null(j = json_loads(subs, 0, NULL));
	is_str(j, "network", "lab");
	a = at(j, "subscribers");
	assert_int_equal(json_array_size(a), 100);
	for (i = 1; i < json_array_size(a); i++)
		assert_true(strcmp(json_string_value(json_object_get(json_array_get(a, i - 1), "imsi")),
				   json_string_value(json_object_get(json_array_get(a, i), "imsi"))) < 0);
	first = json_array_get(a, 0);
	is_str(first, "imsi", "IMSI001010000000001");
	is_str(first, "ki", "e1c60aa3d510bb0432d90dcd57bb7d97");
	is_str(first, "opc", "23c49caea2cf62baba958810b4ebf4b6");
	is_str(first, "state", "ACTIVE");
	is_str(first, "authAlgo", "MILENAGE");
	is_str(first, "profile", "default");
	is_str(first, "apns.1", "ims");
	is_str(first, "staticIps.internet", "192.168.128.10");
	is_str(first, "policies.0", "allow-web");
	json_decref(j);
	free(subs);
	lab_close(&l);
}

/* --- determinism ------------------------------------------------------------ */

static void mconfig__same_bytes_in_any_order(void **state)
{
	struct o8_err err = O8_ERR_INIT;
	const struct o8_record **shuffled;
	char *mc1, *subs1, *mc2, *subs2, *canon;
	uint32_t x = 12345;
	struct lab l;
	json_t *j;
	size_t i;

	(void)state;
	lab_open(&l, "agw-berlin-1");
	assert_int_equal(o8_mconfig_render(&mc1, &subs1, recs_of(&l), l.c.n, "lab",
					   "agw-berlin-1", &err), O8_OK);
	assert_non_null(shuffled = malloc(l.c.n * sizeof(*shuffled)));
	memcpy(shuffled, l.c.recs, l.c.n * sizeof(*shuffled));
	for (i = l.c.n - 1; i > 0; i--) {
		const struct o8_record *t;
		size_t k;

		x = x * 1103515245u + 12345u;
		k = (x >> 8) % (i + 1);
		t = shuffled[i];
		shuffled[i] = shuffled[k];
		shuffled[k] = t;
	}
	assert_int_equal(o8_mconfig_render(&mc2, &subs2, shuffled, l.c.n, "lab",
					   "agw-berlin-1", &err), O8_OK);
	assert_string_equal(mc1, mc2);
	assert_string_equal(subs1, subs2);
	/* compact, sorted, one line */
	assert_non_null(j = json_loads(mc1, 0, NULL));
	assert_non_null(canon = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS));
	assert_int_equal(strlen(mc1), strlen(canon) + 1);
	assert_memory_equal(mc1, canon, strlen(canon));
	assert_int_equal(mc1[strlen(canon)], '\n');
	free(canon);
	json_decref(j);
	free(shuffled);
	free(mc1);
	free(mc2);
	free(subs1);
	free(subs2);
	lab_close(&l);
}

/* --- refusals ---------------------------------------------------------------- */

static void mconfig__missing_or_broken_records(void **state)
{
	struct o8_err err = O8_ERR_INIT;
	const struct o8_record **v;
	struct o8_record bad;
	char *mc = (char *)"x", *subs = (char *)"x";
	struct lab l;
	size_t i, n = 0, gwi = 0;

	(void)state;
	lab_open(&l, "agw-berlin-1");
	assert_int_equal(o8_mconfig_render(&mc, &subs, recs_of(&l), l.c.n, "lab",
					   "agw-nowhere", &err), O8_ENOTFOUND);
	assert_non_null(strstr(err.msg, "agw-nowhere"));
	assert_null(mc);
	assert_null(subs);

	/* without the network record */
	assert_non_null(v = malloc(l.c.n * sizeof(*v)));
	for (i = 0; i < l.c.n; i++)
		if (l.c.recs[i]->kind != O8_REC_NETWORK)
			v[n++] = l.c.recs[i];
	o8_err_clear(&err);
	assert_int_equal(o8_mconfig_render(&mc, NULL, v, n, "lab", "agw-berlin-1",
					   &err), O8_ENOTFOUND);
	assert_non_null(strstr(err.msg, "Network"));

	/* without the eNodeB the gateway lists */
	for (i = n = 0; i < l.c.n; i++)
		if (l.c.recs[i]->kind != O8_REC_ENODEB)
			v[n++] = l.c.recs[i];
	o8_err_clear(&err);
	assert_int_equal(o8_mconfig_render(&mc, NULL, v, n, "lab", "agw-berlin-1",
					   &err), O8_EINVALID);
	assert_non_null(strstr(err.msg, "120200002618AGP0001"));

	/* a gateway body that does not decode */
	memcpy(v, l.c.recs, l.c.n * sizeof(*v));
	for (i = 0; i < l.c.n; i++)
		if (l.c.recs[i]->kind == O8_REC_GATEWAY)
			gwi = i;
	bad = *l.c.recs[gwi];
	bad.body = (const uint8_t *)"\xff\xff\xff";
	bad.len = 3;
	v[gwi] = &bad;
	o8_err_clear(&err);
	assert_int_equal(o8_mconfig_render(&mc, NULL, v, l.c.n, "lab",
					   "agw-berlin-1", &err), O8_EINVALID);
	assert_non_null(strstr(err.msg, "Gateway 'agw-berlin-1'"));
	assert_null(mc);

	/* records of another network are not this one's */
	o8_err_clear(&err);
	assert_int_equal(o8_mconfig_render(&mc, NULL, recs_of(&l), l.c.n, "lab2",
					   "agw-berlin-1", &err), O8_ENOTFOUND);
	free(v);
	lab_close(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mconfig__lab_values_under_magma_names),
		cmocka_unit_test(mconfig__unmanaged_enodeb_and_no_pool),
		cmocka_unit_test(mconfig__left_out_objects_take_schema_defaults),
		cmocka_unit_test(mconfig__congestion_control_off),
		cmocka_unit_test(mconfig__every_device_class_keeps_its_name),
		cmocka_unit_test(mconfig__keys_go_to_subscribers_only),
		cmocka_unit_test(mconfig__subscribers_file),
		cmocka_unit_test(mconfig__same_bytes_in_any_order),
		cmocka_unit_test(mconfig__missing_or_broken_records),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
