/*
 * mconfig.c - records to Magma's gateway.mconfig and the subscribers file.
 *
 * Each service of the mconfig is one row of services[]: its key, its Magma
 * message and the function that fills it from the decoded records.  The
 * rows are every key Magma's cloud builds for an LTE gateway: the LTE
 * builder (lte/cloud/go/services/lte/servicers/protected/
 * builder_servicer.go) and the orchestrator's (orc8r/cloud/go/services/
 * orchestrator/servicers/protected/builder_servicer.go).  Field names, the
 * defaults Magma fills in (log level INFO, congestion control, sync
 * intervals with their jitter, package version 0.0.0-0) and how a value is
 * derived when the network and the gateway both have a say follow those
 * builders, so that an AGW's services see what Magma's cloud would have
 * sent them for the same settings.  Keys of cloud services that agwd
 * stands in for (control_proxy, state) are still sent as Magma sends
 * them: the AGW's services read them, and Magma's messages have no field
 * that could say who serves them.
 *
 * Defaults come from the schema tables (schema.c), not from constants here:
 * compile.c fills them in within an object the operator wrote, but an
 * object left out altogether (a gateway without `dns`) has no message, and
 * its fields then take the schema's defaults.
 */
#include "mconfig.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <nettle/base16.h>
#include <nettle/base64.h>
#include <protobuf-c/protobuf-c.h>

#include "orc8r.pb-c.h"
#include "repo/schema.h"

#define JSON_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)
#define MCONFIG_TYPE_PREFIX "type.googleapis.com/magma.mconfig."

/* Magma's defaults where nothing in the YAML says otherwise. */
#define LOG_LEVEL "INFO"                /* every builder's */
#define NO_PACKAGE_VERSION "0.0.0-0"    /* a gateway without a tier */
#define SUBSCRIBERDB_SYNC_S 300u        /* lte.yml defaultSubscriberdbSyncInterval */
#define SUBSCRIBERDB_JITTER 0.2f
#define STATE_SYNC_S 60u
#define STATE_JITTER 0.25f

/* What the services are built from, decoded (the messages are owned). */
struct src {
	Orc8r__V1__Network *net;
	Orc8r__V1__Network__Epc *epc;           /* net's, never NULL */
	Orc8r__V1__Network__Ran *ran;           /* net's, never NULL */
	Orc8r__V1__Gateway *gw;
	const Orc8r__V1__Gateway__Epc *gepc;    /* gw's, or the defaults */
	const Orc8r__V1__Gateway__Ran *gran;    /* gw's, or the defaults */
	Orc8r__V1__Gateway__Epc gepc_def;
	Orc8r__V1__Gateway__Ran gran_def;
	Orc8r__V1__Tier *tier;                  /* NULL: the gateway has none */
	Orc8r__V1__ENodeB **enbs;               /* index i: gw->enodebs[i] */
	const struct o8_record **subs;          /* the network's subscribers */
	size_t nsubs;
	bool oom;                               /* a json_* call failed */
};

/* --- small helpers ------------------------------------------------------- */

/* Adds v to o under k; a NULL v (jansson out of memory) is remembered. */
static void set(struct src *s, json_t *o, const char *k, json_t *v)
{
	if (!v || json_object_set_new(o, k, v))
		s->oom = true;
}

static void push(struct src *s, json_t *a, json_t *v)
{
	if (!v || json_array_append_new(a, v))
		s->oom = true;
}

/* protobuf's JSON mapping writes 64-bit integers as strings. */
static json_t *j_u64(uint64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "%" PRIu64, v);
	return json_string(b);
}

/*
 * Bytes as text: base64 with padding (protobuf's JSON mapping of bytes),
 * or lowercase hex for keys meant for people and scripts (Magma's
 * subscriber_cli takes Ki and OPc in hex).  The scratch copy is wiped: it
 * may hold a key.
 */
static json_t *j_bytes(const ProtobufCBinaryData *d, bool hex)
{
	size_t n = hex ? BASE16_ENCODE_LENGTH(d->len) :
			 BASE64_ENCODE_RAW_LENGTH(d->len);
	char *p = malloc(n + 1);
	json_t *j;

	if (!p)
		return NULL;
	(hex ? base16_encode_update : base64_encode_raw)(p, d->len, d->data);
	j = json_stringn(p, n);
	explicit_bzero(p, n);
	free(p);
	return j;
}

static json_t *j_strs(struct src *s, char *const *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	if (!a)
		return NULL;
	for (i = 0; i < n; i++)
		push(s, a, json_string(v[i]));
	return a;
}

static const struct o8_field *schema_row(enum o8_kind k, const char *path)
{
	return o8_schema_field(o8_schema_kind(k), path);
}

static bool def_bool(enum o8_kind k, const char *path)
{
	const struct o8_field *f = schema_row(k, path);

	return f && f->def && !strcmp(f->def, "true");
}

static uint32_t def_u32(enum o8_kind k, const char *path)
{
	const struct o8_field *f = schema_row(k, path);

	return f && f->def ? (uint32_t)strtoul(f->def, NULL, 10) : 0;
}

/* Does the protobuf enum value name `pv` (prefix stripped) spell YAML's
 * `yaml` (upper case, non-alphanumerics as '_')?  See orc8r.proto. */
static bool enum_spells(const char *pv, const char *yaml)
{
	for (; *yaml; yaml++, pv++) {
		char c = *yaml;

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			c = '_';
		if (*pv != c)
			return false;
	}
	return *pv == '\0';
}

/*
 * The YAML text of enum value v ("Baicells Nova-233 G2 OD FDD" for
 * DEVICE_CLASS_BAICELLS_NOVA_233_G2_OD_FDD), found by name through the
 * schema row kind/path; NULL for UNSPECIFIED or an unknown value.
 */
static const char *enum_text(const ProtobufCEnumDescriptor *ed, int v,
			     enum o8_kind kind, const char *path)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(ed, v);
	const ProtobufCEnumValue *zero = protobuf_c_enum_descriptor_get_value(ed, 0);
	const struct o8_field *f = schema_row(kind, path);
	const char *const *e;
	size_t plen;

	if (!ev || !zero || !f || !f->enums || v == 0 ||
	    strlen(zero->name) < sizeof("UNSPECIFIED") - 1)
		return NULL;
	/* every value shares value 0's prefix: "DEVICE_CLASS_" */
	plen = strlen(zero->name) - (sizeof("UNSPECIFIED") - 1);
	if (strlen(ev->name) < plen)
		return NULL;
	for (e = f->enums; *e; e++)
		if (enum_spells(ev->name + plen, *e))
			return *e;
	return NULL;
}

static json_t *j_enum(const ProtobufCEnumDescriptor *ed, int v,
		      enum o8_kind kind, const char *path)
{
	const char *t = enum_text(ed, v, kind, path);

	return json_string(t ? t : "");
}

/* Magma's int32 bandwidth_mhz: 1.4 MHz truncates to 1 there too. */
static json_t *j_mhz(double mhz)
{
	return json_integer((json_int_t)mhz);
}

/* --- derived values -------------------------------------------------------- */

static const Orc8r__V1__Network__TddConfig *tdd(const struct src *s)
{
	return s->ran->tdd_config;
}

/* The network's downlink channel, from whichever duplex it uses. */
static bool net_earfcndl(const struct src *s, uint32_t *out)
{
	if (s->ran->tdd_config)
		*out = s->ran->tdd_config->earfcndl;
	else if (s->ran->fdd_config)
		*out = s->ran->fdd_config->earfcndl;
	else
		return false;
	return true;
}

/* Either level turns caching on; the gateway's TTL wins when set. */
static bool dns_caching(const struct src *s)
{
	return (s->gw->dns && s->gw->dns->enable_caching) ||
	       (s->net->dns && s->net->dns->enable_caching);
}

static uint32_t dns_ttl(const struct src *s)
{
	if (s->gw->dns && s->gw->dns->local_ttl)
		return s->gw->dns->local_ttl;
	return s->net->dns ? s->net->dns->local_ttl : 0;
}

/* An eNodeB's tracking area: its own, else the network's. */
static uint32_t enb_tac(const struct src *s, const Orc8r__V1__ENodeB *e)
{
	uint32_t tac = 0;

	if (e->config_type == ORC8R__V1__CONFIG_TYPE__CONFIG_TYPE_UNMANAGED) {
		if (e->unmanaged)
			tac = e->unmanaged->tac;
	} else if (e->managed) {
		tac = e->managed->tac;
	}
	return tac ? tac : s->epc->tac;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/*
 * Magma's JitterUint32 (orc8r/cloud/go/orc8r/math): n grown by up to
 * max_mult, by an amount fixed per gateway (FNV-1a of its id), so that a
 * fleet's syncs spread out yet one gateway's interval never changes.  The
 * float arithmetic is Magma's, so the value is the one its cloud sends.
 */
static uint32_t jitter(uint32_t n, const char *key, float max_mult)
{
	uint32_t h = 2166136261u;
	float mult, j;

	for (; *key; key++) {
		h ^= (unsigned char)*key;
		h *= 16777619u;
	}
	mult = max_mult * (float)(h % 100) / 100.0f;
	j = (float)n * (1.0f + mult);
	return (uint32_t)j < n ? n : (uint32_t)j;
}

/* --- the services ---------------------------------------------------------- */

static void build_dnsd(struct src *s, json_t *o)
{
	const Orc8r__V1__Network__Dns *nd = s->net->dns;
	json_t *recs = json_array();
	size_t i;

	set(s, o, "dhcpServerEnabled", json_boolean(s->gw->dns ?
		s->gw->dns->dhcp_server_enabled :
		def_bool(O8_KIND_GATEWAY, "dns.dhcpServerEnabled")));
	set(s, o, "enableCaching", json_boolean(dns_caching(s)));
	set(s, o, "localTTL", json_integer(dns_ttl(s)));
	/* the network's local records are what the gateway serves to UEs */
	for (i = 0; recs && nd && i < nd->n_records; i++) {
		const Orc8r__V1__Network__DomainRecords *r = nd->records[i];
		json_t *x = json_object();

		if (x) {
			set(s, x, "domain", json_string(r->domain));
			set(s, x, "aRecord", j_strs(s, r->a_record, r->n_a_record));
			set(s, x, "cnameRecord",
			    j_strs(s, r->cname_record, r->n_cname_record));
		}
		push(s, recs, x);
	}
	set(s, o, "records", recs);
}

/* Unset radio settings of a managed eNodeB come from its gateway and
 * network, as in Magma's builder. */
static void enb_managed(struct src *s, json_t *c, const Orc8r__V1__ENodeB__Managed *m)
{
	const Orc8r__V1__Network__TddConfig *t = tdd(s);
	uint32_t earfcn;

	if (m->has_earfcndl_case == ORC8R__V1__ENODE_B__MANAGED__HAS_EARFCNDL_EARFCNDL)
		set(s, c, "earfcndl", json_integer(m->earfcndl));
	else if (net_earfcndl(s, &earfcn))
		set(s, c, "earfcndl", json_integer(earfcn));
	if (m->has_subframe_assignment_case ==
	    ORC8R__V1__ENODE_B__MANAGED__HAS_SUBFRAME_ASSIGNMENT_SUBFRAME_ASSIGNMENT)
		set(s, c, "subframeAssignment", json_integer(m->subframe_assignment));
	else if (t)
		set(s, c, "subframeAssignment", json_integer(t->subframe_assignment));
	if (m->has_special_subframe_pattern_case ==
	    ORC8R__V1__ENODE_B__MANAGED__HAS_SPECIAL_SUBFRAME_PATTERN_SPECIAL_SUBFRAME_PATTERN)
		set(s, c, "specialSubframePattern",
		    json_integer(m->special_subframe_pattern));
	else if (t)
		set(s, c, "specialSubframePattern",
		    json_integer(t->special_subframe_pattern));
	if (m->has_pci_case == ORC8R__V1__ENODE_B__MANAGED__HAS_PCI_PCI)
		set(s, c, "pci", json_integer(m->pci));
	else if (s->gran->has_pci_case == ORC8R__V1__GATEWAY__RAN__HAS_PCI_PCI)
		set(s, c, "pci", json_integer(s->gran->pci));
	set(s, c, "transmitEnabled", json_boolean(m->transmit_enabled));
	set(s, c, "deviceClass", j_enum(&orc8r__v1__device_class__descriptor,
					m->device_class, O8_KIND_ENODEB,
					"managed.deviceClass"));
	set(s, c, "bandwidthMhz",
	    j_mhz(m->bandwidth_mhz ? m->bandwidth_mhz : s->ran->bandwidth_mhz));
	set(s, c, "cellId", json_integer(m->cell_id));
}

static json_t *enb_config(struct src *s, const Orc8r__V1__ENodeB *e)
{
	json_t *c = json_object();

	if (!c)
		return NULL;
	if (e->config_type == ORC8R__V1__CONFIG_TYPE__CONFIG_TYPE_UNMANAGED) {
		if (e->unmanaged) {
			set(s, c, "cellId", json_integer(e->unmanaged->cell_id));
			set(s, c, "ipAddress", json_string(e->unmanaged->ip_address));
		}
	} else if (e->managed) {
		enb_managed(s, c, e->managed);
	}
	set(s, c, "tac", json_integer(enb_tac(s, e)));
	return c;
}

static void build_enodebd(struct src *s, json_t *o)
{
	const Orc8r__V1__Network__TddConfig *t = tdd(s);
	const Orc8r__V1__Network__FddConfig *f = s->ran->fdd_config;
	json_t *by_serial = json_object();
	char plmn[16];
	uint32_t earfcn;
	size_t i;

	snprintf(plmn, sizeof(plmn), "%s%s", s->epc->mcc, s->epc->mnc);
	set(s, o, "plmnidList", json_string(plmn));
	set(s, o, "tac", json_integer(s->epc->tac));
	set(s, o, "bandwidthMhz", j_mhz(s->ran->bandwidth_mhz));
	set(s, o, "allowEnodebTransmit", json_boolean(s->gran->transmit_enabled));
	if (s->gran->has_pci_case == ORC8R__V1__GATEWAY__RAN__HAS_PCI_PCI)
		set(s, o, "pci", json_integer(s->gran->pci));
	if (net_earfcndl(s, &earfcn))
		set(s, o, "earfcndl", json_integer(earfcn));
	if (t) {
		set(s, o, "subframeAssignment", json_integer(t->subframe_assignment));
		set(s, o, "specialSubframePattern",
		    json_integer(t->special_subframe_pattern));
		set(s, o, "tddConfig", json_pack("{s:I,s:I,s:I}",
			"earfcndl", (json_int_t)t->earfcndl,
			"subframeAssignment", (json_int_t)t->subframe_assignment,
			"specialSubframePattern",
			(json_int_t)t->special_subframe_pattern));
	} else if (f) {
		set(s, o, "fddConfig", json_pack("{s:I,s:I}",
			"earfcndl", (json_int_t)f->earfcndl,
			"earfcnul", (json_int_t)f->earfcnul));
	}
	for (i = 0; by_serial && i < s->gw->n_enodebs; i++)
		set(s, by_serial, s->gw->enodebs[i], enb_config(s, s->enbs[i]));
	set(s, o, "enbConfigsBySerial", by_serial);
}

static void build_magmad(struct src *s, json_t *o)
{
	const Orc8r__V1__Gateway *g = s->gw;
	json_t *images;
	size_t i;

	set(s, o, "checkinInterval", json_integer(g->checkin_interval));
	set(s, o, "checkinTimeout", json_integer(g->checkin_timeout));
	set(s, o, "autoupgradeEnabled", json_boolean(g->autoupgrade_enabled));
	set(s, o, "autoupgradePollInterval",
	    json_integer(g->autoupgrade_poll_interval));
	/* the model has no per-gateway services or flags: Magma's empty ones */
	set(s, o, "dynamicServices", json_array());
	set(s, o, "featureFlags", json_object());
	set(s, o, "packageVersion",
	    json_string(s->tier ? s->tier->version : NO_PACKAGE_VERSION));
	images = json_array();
	for (i = 0; images && s->tier && i < s->tier->n_images; i++) {
		const Orc8r__V1__Tier__Image *im = s->tier->images[i];
		json_t *x = json_object();

		if (x) {
			set(s, x, "name", json_string(im->name));
			set(s, x, "order", j_u64(im->order));
		}
		push(s, images, x);
	}
	set(s, o, "images", images);
}

static void build_mme(struct src *s, json_t *o)
{
	const Orc8r__V1__Gateway__Pool *p = s->gw->pool;
	uint32_t *tacs = NULL;
	json_t *a;
	size_t i, n = s->gw->n_enodebs;

	set(s, o, "mcc", json_string(s->epc->mcc));
	set(s, o, "mnc", json_string(s->epc->mnc));
	set(s, o, "tac", json_integer(s->epc->tac));
	/* a gateway outside any pool: Magma's group 1, code 1 */
	set(s, o, "mmeGid", json_integer(p ? p->mme_group_id : 1));
	set(s, o, "mmeCode", json_integer(p ? p->mme_code : 1));
	set(s, o, "mmeRelativeCapacity", json_integer(p ? p->mme_relative_capacity :
		def_u32(O8_KIND_GATEWAY, "pool.mmeRelativeCapacity")));
	set(s, o, "enableDnsCaching", json_boolean(dns_caching(s)));
	set(s, o, "hssRelayEnabled", json_boolean(s->epc->hss_relay_enabled));
	set(s, o, "cloudSubscriberdbEnabled",
	    json_boolean(s->epc->cloud_subscriberdb_enabled));
	set(s, o, "dnsPrimary", json_string(s->gepc->dns_primary));
	set(s, o, "dnsSecondary", json_string(s->gepc->dns_secondary));
	set(s, o, "ipv4PCscfAddress", json_string(s->gepc->ipv4_p_cscf_addr));
	set(s, o, "natEnabled", json_boolean(s->gepc->nat_enabled));
	set(s, o, "congestionControlEnabled",
	    json_boolean(s->epc->congestion_control_enabled));
	/* the MME registers the TAC of every attached eNodeB, sorted */
	if (n && !(tacs = malloc(n * sizeof(*tacs)))) {
		s->oom = true;
		return;
	}
	for (i = 0; i < n; i++)
		tacs[i] = enb_tac(s, s->enbs[i]);
	if (n)
		qsort(tacs, n, sizeof(*tacs), cmp_u32);
	a = json_array();
	for (i = 0; a && i < n; i++)
		push(s, a, json_integer(tacs[i]));
	set(s, o, "attachedEnodebTacs", a);
	free(tacs);
}

static void build_mobilityd(struct src *s, json_t *o)
{
	bool dhcp = s->epc->ip_allocation_mode ==
		    ORC8R__V1__IP_ALLOCATION_MODE__IP_ALLOCATION_MODE_DHCP_BROADCAST;

	set(s, o, "ipBlock", json_string(s->gepc->ip_block));
	/* Magma's mobilityd has two allocators: DHCP for DHCP_BROADCAST, its
	   IP pool for every other mode */
	set(s, o, "ipAllocatorType", json_string(dhcp ? "DHCP" : "IP_POOL"));
	set(s, o, "staticIpEnabled",
	    json_boolean(s->epc->enable_static_ip_assignments));
	set(s, o, "multiApnIpAlloc",
	    json_boolean(s->epc->enable_multi_apn_ip_allocation));
}

/* Our networkServices values as Magma's PipelineD.NetworkServices. */
static const char *const pipeline_services[] = {
	[ORC8R__V1__NETWORK_SERVICE__NETWORK_SERVICE_DPI] = "DPI",
	[ORC8R__V1__NETWORK_SERVICE__NETWORK_SERVICE_POLICY_ENFORCEMENT] = "ENFORCEMENT",
};

static void build_pipelined(struct src *s, json_t *o)
{
	const Orc8r__V1__Gateway__Epc *e = s->gepc;
	json_t *svc = json_array();
	char vlan[16] = "";
	size_t i;

	set(s, o, "ueIpBlock", json_string(e->ip_block));
	set(s, o, "natEnabled", json_boolean(e->nat_enabled));
	set(s, o, "defaultRuleId", json_string(s->epc->default_rule_id));
	for (i = 0; svc && i < s->epc->n_network_services; i++) {
		unsigned v = (unsigned)s->epc->network_services[i];

		if (v < sizeof(pipeline_services) / sizeof(pipeline_services[0]) &&
		    pipeline_services[v])
			push(s, svc, json_string(pipeline_services[v]));
	}
	/* a network naming no services gets enforcement, as in Magma */
	if (svc && !json_array_size(svc))
		push(s, svc, json_string("ENFORCEMENT"));
	set(s, o, "services", svc);
	/* Magma carries the VLAN id as a string, empty for none */
	if (e->sgi_management_iface_vlan)
		snprintf(vlan, sizeof(vlan), "%" PRIu32, e->sgi_management_iface_vlan);
	set(s, o, "sgiManagementIfaceVlan", json_string(vlan));
	set(s, o, "sgiManagementIfaceIpAddr",
	    json_string(e->sgi_management_iface_static_ip));
	set(s, o, "sgiManagementIfaceGw", json_string(e->sgi_management_iface_gw));
}

static void build_policydb(struct src *s, json_t *o)
{
	/* PolicyDB's only field is its log level: rules are streamed */
	(void)s;
	(void)o;
}

static void build_sessiond(struct src *s, json_t *o)
{
	set(s, o, "gxGyRelayEnabled", json_boolean(s->epc->gx_gy_relay_enabled));
	/* Magma's builder always sends this, switched off */
	set(s, o, "walletExhaustDetection",
	    json_pack("{s:b}", "terminateOnExhaust", 0));
}

static void build_subscriberdb(struct src *s, json_t *o)
{
	json_t *profiles = json_object();
	size_t i;

	set(s, o, "lteAuthAmf", j_bytes(&s->epc->lte_auth_amf, false));
	if (s->epc->lte_auth_op.len)
		set(s, o, "lteAuthOp", j_bytes(&s->epc->lte_auth_op, false));
	set(s, o, "hssRelayEnabled", json_boolean(s->epc->hss_relay_enabled));
	/* Magma never sends less than 60 s: subscriberdb's cloud sync would
	   spin on 0 */
	set(s, o, "syncInterval", json_integer(jitter(SUBSCRIBERDB_SYNC_S,
		s->gw->name, SUBSCRIBERDB_JITTER)));
	for (i = 0; profiles && i < s->epc->n_sub_profiles; i++) {
		const Orc8r__V1__Network__SubProfile *p = s->epc->sub_profiles[i];
		json_t *x = json_object();

		if (x) {
			set(s, x, "maxUlBitRate", j_u64(p->max_ul_bit_rate));
			set(s, x, "maxDlBitRate", j_u64(p->max_dl_bit_rate));
		}
		set(s, profiles, p->name, x);
	}
	set(s, o, "subProfiles", profiles);
}

/* Services whose message is its log level alone. */
static void build_nothing(struct src *s, json_t *o)
{
	(void)s;
	(void)o;
}

static void build_eventd(struct src *s, json_t *o)
{
	/* -1: Magma's "no logging config", every event is logged */
	set(s, o, "eventVerbosity", json_integer(-1));
}

static void build_liagentd(struct src *s, json_t *o)
{
	/* lawful-interception tasks come from Magma's nprobe service, which
	   the model has no counterpart of */
	set(s, o, "nprobeTasks", json_array());
}

static void build_ovpn(struct src *s, json_t *o)
{
	set(s, o, "enableShellAccess", json_false());
}

static void build_state(struct src *s, json_t *o)
{
	set(s, o, "syncInterval",
	    json_integer(jitter(STATE_SYNC_S, s->gw->name, STATE_JITTER)));
}

static void build_fluent_bit(struct src *s, json_t *o)
{
	set(s, o, "extraTags", json_pack("{s:s,s:s}", "gateway_id", s->gw->name,
					 "network_id", s->net->name));
	set(s, o, "throttleRate", json_integer(1000));
	set(s, o, "throttleWindow", json_integer(5));
	set(s, o, "throttleInterval", json_string("1m"));
}

static const struct service {
	const char *key;                /* configsByKey */
	const char *message;            /* in package magma.mconfig */
	bool log_level;                 /* the message has log_level */
	void (*build)(struct src *s, json_t *o);
} services[] = {
	/* Magma's LTE builder */
	{ "dnsd", "DnsD", true, build_dnsd },
	{ "enodebd", "EnodebD", true, build_enodebd },
	{ "liagentd", "LIAgentD", true, build_liagentd },
	{ "mme", "MME", true, build_mme },
	{ "mobilityd", "MobilityD", true, build_mobilityd },
	{ "pipelined", "PipelineD", true, build_pipelined },
	{ "policydb", "PolicyDB", true, build_policydb },
	{ "sctpd", "SctpD", true, build_nothing },
	{ "sessiond", "SessionD", true, build_sessiond },
	{ "subscriberdb", "SubscriberDB", true, build_subscriberdb },
	/* Magma's orchestrator builder */
	{ "control_proxy", "ControlProxy", true, build_nothing },
	{ "eventd", "EventD", true, build_eventd },
	{ "magmad", "MagmaD", true, build_magmad },
	{ "metricsd", "MetricsD", true, build_nothing },
	{ "ovpn", "OpenVPN", false, build_ovpn },
	{ "shared_mconfig", "SharedMconfig", false, build_nothing },
	{ "state", "State", true, build_state },
	{ "td-agent-bit", "FluentBit", false, build_fluent_bit },
};

/* --- output ------------------------------------------------------------------ */

struct buf {
	char *p;
	size_t n, cap;
};

static int buf_add(const char *p, size_t n, void *payload)
{
	struct buf *b = payload;

	if (b->cap - b->n < n + 1) {
		size_t cap = b->cap ? b->cap : 4096;
		char *np;

		while (cap - b->n < n + 1)
			cap *= 2;
		if (!(np = malloc(cap)))
			return -1;
		/* copy rather than realloc: the old block may hold keys and is
		   wiped before it goes back to the allocator */
		if (b->n)
			memcpy(np, b->p, b->n);
		if (b->p) {
			explicit_bzero(b->p, b->cap);
			free(b->p);
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
	b->p[b->n] = '\0';
	return 0;
}

static int buf_dump(struct buf *b, const json_t *j)
{
	return json_dump_callback(j, buf_add, b, JSON_FLAGS | JSON_ENCODE_ANY);
}

static void buf_wipe(struct buf *b)
{
	if (b->p) {
		explicit_bzero(b->p, b->cap);
		free(b->p);
	}
	b->p = NULL;
	b->n = b->cap = 0;
}

static enum o8_rc oom(struct o8_err *err)
{
	return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
}

static enum o8_rc render_mconfig(char **out, struct src *s, struct o8_err *err)
{
	json_t *root = json_object(), *by_key = json_object();
	struct buf b = { 0 };
	size_t i;

	for (i = 0; by_key && i < sizeof(services) / sizeof(services[0]); i++) {
		json_t *o = json_object();
		char type[96];

		if (!o) {
			s->oom = true;
			break;
		}
		snprintf(type, sizeof(type), MCONFIG_TYPE_PREFIX "%s",
			 services[i].message);
		set(s, o, "@type", json_string(type));
		if (services[i].log_level)
			set(s, o, "logLevel", json_string(LOG_LEVEL));
		services[i].build(s, o);
		set(s, by_key, services[i].key, o);
	}
	if (root) {
		set(s, root, "configsByKey", by_key);
		set(s, root, "metadata", json_pack("{s:i}", "createdAt", 0));
	} else {
		json_decref(by_key);
	}
	if (!root || s->oom || buf_dump(&b, root) || buf_add("\n", 1, &b)) {
		json_decref(root);
		buf_wipe(&b);
		return oom(err);
	}
	json_decref(root);
	*out = b.p;
	return O8_OK;
}

static enum o8_rc decode(void **out, const ProtobufCMessageDescriptor *d,
			 const struct o8_record *r, struct o8_err *err)
{
	*out = protobuf_c_message_unpack(d, NULL, r->len, r->body);
	if (!*out)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "%s '%s': body does not decode",
				  o8_rec_kind_name(r->kind), r->key);
	return O8_OK;
}

static json_t *subscriber_json(struct src *s, const Orc8r__V1__Subscriber *u)
{
	json_t *o = json_object(), *ips;
	char imsi[32];
	size_t i;

	if (!o)
		return NULL;
	snprintf(imsi, sizeof(imsi), "IMSI%s", u->imsi);
	set(s, o, "imsi", json_string(imsi));
	set(s, o, "state", j_enum(&orc8r__v1__subscriber_state__descriptor,
				  u->state, O8_KIND_SUBSCRIBER, "state"));
	set(s, o, "authAlgo", j_enum(&orc8r__v1__auth_algo__descriptor,
				     u->auth_algo, O8_KIND_SUBSCRIBER, "authAlgo"));
	if (u->ki.len)
		set(s, o, "ki", j_bytes(&u->ki, true));
	if (u->opc.len)
		set(s, o, "opc", j_bytes(&u->opc, true));
	set(s, o, "profile", json_string(u->profile));
	set(s, o, "apns", j_strs(s, u->apns, u->n_apns));
	set(s, o, "policies", j_strs(s, u->policies, u->n_policies));
	ips = json_object();
	for (i = 0; ips && i < u->n_static_ips; i++)
		set(s, ips, u->static_ips[i]->apn, json_string(u->static_ips[i]->ip));
	set(s, o, "staticIps", ips);
	return o;
}

static void wipe_keys(Orc8r__V1__Subscriber *u)
{
	if (u->ki.data)
		explicit_bzero(u->ki.data, u->ki.len);
	if (u->opc.data)
		explicit_bzero(u->opc.data, u->opc.len);
}

static int rec_key_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct o8_record *const *)a)->key,
		      (*(const struct o8_record *const *)b)->key);
}

/* Built one subscriber at a time: a million of them never sit in memory
 * as JSON values at once, only as the text. */
static enum o8_rc render_subscribers(char **out, struct src *s,
				     const char *network, struct o8_err *err)
{
	struct buf b = { 0 };
	json_t *net = json_string(network);
	enum o8_rc rc = O8_OK;
	size_t i;

	if (s->nsubs)
		qsort(s->subs, s->nsubs, sizeof(*s->subs), rec_key_cmp);
	if (!net || buf_add("{\"network\":", 11, &b) || buf_dump(&b, net) ||
	    buf_add(",\"subscribers\":[", 16, &b))
		s->oom = true;
	json_decref(net);
	for (i = 0; !s->oom && i < s->nsubs; i++) {
		Orc8r__V1__Subscriber *u;
		json_t *j;

		if ((rc = decode((void **)&u, &orc8r__v1__subscriber__descriptor,
				 s->subs[i], err)))
			break;
		j = subscriber_json(s, u);
		wipe_keys(u);
		protobuf_c_message_free_unpacked(&u->base, NULL);
		if (!j || (i && buf_add(",", 1, &b)) || buf_dump(&b, j))
			s->oom = true;
		json_decref(j);
	}
	if (!rc && (s->oom || buf_add("]}\n", 3, &b)))
		rc = oom(err);
	if (rc) {
		buf_wipe(&b);
		return rc;
	}
	*out = b.p;
	return O8_OK;
}

/* --- finding and decoding the records ------------------------------------------ */

static enum o8_rc find(struct src *s, const struct o8_record *const *recs,
		       size_t n, const char *network, const char *gateway,
		       bool want_subs, struct o8_err *err)
{
	const struct o8_record *net = NULL, *gw = NULL;
	size_t i, nsubs = 0;

	for (i = 0; i < n; i++) {
		const struct o8_record *r = recs[i];

		if (strcmp(r->network, network))
			continue;
		if (r->kind == O8_REC_NETWORK && !strcmp(r->key, network))
			net = r;
		else if (r->kind == O8_REC_GATEWAY && !strcmp(r->key, gateway))
			gw = r;
		else if (r->kind == O8_REC_SUBSCRIBER)
			nsubs++;
	}
	if (!net)
		return o8_err_set(err, O8_ENOTFOUND, NULL, 0, 0,
				  "no Network record '%s'", network);
	if (!gw)
		return o8_err_set(err, O8_ENOTFOUND, NULL, 0, 0,
				  "no Gateway record '%s' in network '%s'",
				  gateway, network);
	if (decode((void **)&s->net, &orc8r__v1__network__descriptor, net, err) ||
	    decode((void **)&s->gw, &orc8r__v1__gateway__descriptor, gw, err))
		return err->rc;
	if (!s->net->cellular || !s->net->cellular->ran || !s->net->cellular->epc)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0, "Network record "
				  "'%s' has no cellular.ran or cellular.epc",
				  network);
	s->ran = s->net->cellular->ran;
	s->epc = s->net->cellular->epc;
	if (want_subs && nsubs && !(s->subs = malloc(nsubs * sizeof(*s->subs))))
		return oom(err);
	if (s->gw->n_enodebs &&
	    !(s->enbs = calloc(s->gw->n_enodebs, sizeof(*s->enbs))))
		return oom(err);
	return O8_OK;
}

/* The gateway's Tier, its eNodeBs (in its order) and the subscribers. */
static enum o8_rc collect(struct src *s, const struct o8_record *const *recs,
			  size_t n, const char *network, struct o8_err *err)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		const struct o8_record *r = recs[i];

		if (strcmp(r->network, network))
			continue;
		if (r->kind == O8_REC_SUBSCRIBER && s->subs) {
			s->subs[s->nsubs++] = r;
		} else if (r->kind == O8_REC_TIER && !s->tier &&
			   !strcmp(r->key, s->gw->tier)) {
			if (decode((void **)&s->tier, &orc8r__v1__tier__descriptor,
				   r, err))
				return err->rc;
		} else if (r->kind == O8_REC_ENODEB) {
			for (j = 0; j < s->gw->n_enodebs; j++)
				if (!s->enbs[j] && !strcmp(r->key, s->gw->enodebs[j]) &&
				    decode((void **)&s->enbs[j],
					   &orc8r__v1__enode_b__descriptor, r, err))
					return err->rc;
		}
	}
	for (j = 0; j < s->gw->n_enodebs; j++)
		if (!s->enbs[j])
			return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
					  "gateway '%s' lists eNodeB '%s', which "
					  "its config lacks", s->gw->name,
					  s->gw->enodebs[j]);
	return O8_OK;
}

/* Gateway objects the operator left out, as their schema defaults. */
static void gateway_defaults(struct src *s)
{
	orc8r__v1__gateway__epc__init(&s->gepc_def);
	s->gepc_def.nat_enabled = def_bool(O8_KIND_GATEWAY, "epc.natEnabled");
	orc8r__v1__gateway__ran__init(&s->gran_def);
	s->gran_def.transmit_enabled = def_bool(O8_KIND_GATEWAY, "ran.transmitEnabled");
	s->gepc = s->gw->epc ? s->gw->epc : &s->gepc_def;
	s->gran = s->gw->ran ? s->gw->ran : &s->gran_def;
}

static void src_done(struct src *s)
{
	size_t i;

	if (s->enbs)
		for (i = 0; i < s->gw->n_enodebs; i++)
			if (s->enbs[i])
				protobuf_c_message_free_unpacked(&s->enbs[i]->base, NULL);
	free(s->enbs);
	free(s->subs);
	if (s->tier)
		protobuf_c_message_free_unpacked(&s->tier->base, NULL);
	if (s->gw)
		protobuf_c_message_free_unpacked(&s->gw->base, NULL);
	if (s->net) {
		/* lteAuthOp is a key: do not leave it in freed memory */
		if (s->net->cellular && s->net->cellular->epc &&
		    s->net->cellular->epc->lte_auth_op.data)
			explicit_bzero(s->net->cellular->epc->lte_auth_op.data,
				       s->net->cellular->epc->lte_auth_op.len);
		protobuf_c_message_free_unpacked(&s->net->base, NULL);
	}
}

enum o8_rc o8_mconfig_render(char **out_mconfig_json,
			     char **out_subscribers_json,
			     const struct o8_record *const *recs, size_t n,
			     const char *network, const char *gateway,
			     struct o8_err *err)
{
	struct src s = { 0 };
	char *mc = NULL, *subs = NULL;
	enum o8_rc rc;

	if (out_mconfig_json)
		*out_mconfig_json = NULL;
	if (out_subscribers_json)
		*out_subscribers_json = NULL;
	if (!network || !gateway)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "mconfig needs a network and a gateway");
	if ((rc = find(&s, recs, n, network, gateway, out_subscribers_json != NULL,
		       err)) ||
	    (rc = collect(&s, recs, n, network, err)))
		goto out;
	gateway_defaults(&s);
	if (out_mconfig_json && (rc = render_mconfig(&mc, &s, err)))
		goto out;
	if (out_subscribers_json &&
	    (rc = render_subscribers(&subs, &s, network, err)))
		goto out;
	if (out_mconfig_json)
		*out_mconfig_json = mc;
	if (out_subscribers_json)
		*out_subscribers_json = subs;
	mc = subs = NULL;
out:
	free(mc);
	free(subs);
	src_done(&s);
	return rc;
}
