/*
 * schema.c - the tables that describe every kind's `spec`, and the format
 * checks the validator runs against them.
 *
 * Conventions the readers of these tables rely on:
 * - Rows are sorted by strcmp on path ("a" < "a.b" < "a[]" < "a[].b"
 *   because '.' sorts before '['); test_schema checks it.
 * - A row's parent ("a" for "a.b", "a[]" for "a[].b", "a" for "a[]") has its
 *   own row of type OBJECT (or LIST for "a[]").
 * - O8_F_REQUIRED on a nested row means "required whenever its parent is
 *   present": cellular.ran.tddConfig.earfcndl is only required when the
 *   network uses tddConfig at all.
 * - min == max == 0 means unbounded.  For INT and NUMBER they bound the
 *   value, for STRING the length, for LIST the number of items.
 * - .ref is set on the STRING (or list item) row that names the object;
 *   ENodeB references are by spec.serial, every other one by metadata.name.
 * - DICT rows may carry a fmt: it applies to the values (staticIps).
 * - Field names and ranges follow Magma's LTE northbound API in camelCase,
 *   so that a Magma operator recognises them; where Magma stores things
 *   differently (sub_profiles is a map there, a list here) the YAML shape
 *   in examples/networks wins.
 */
#include "repo/schema.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define U32_MAX 4294967295.0

/* Enum value lists, NULL-terminated. */
static const char *const e_state[] = { "ACTIVE", "INACTIVE", NULL };
static const char *const e_auth_algo[] = { "MILENAGE", NULL };
static const char *const e_ip_alloc[] = {
	"NAT", "STATIC", "DHCP_PASSTHROUGH", "DHCP_BROADCAST", NULL
};
static const char *const e_config_type[] = { "managed", "unmanaged", NULL };
static const char *const e_action[] = { "PERMIT", "DENY", NULL };
static const char *const e_direction[] = { "UPLINK", "DOWNLINK", NULL };
static const char *const e_ip_proto[] = {
	"IPPROTO_IP", "TCP", "UDP", "ICMP", NULL
};
static const char *const e_tracking[] = {
	"NO_TRACKING", "ONLY_OCS", "ONLY_PCRF", "OCS_AND_PCRF", NULL
};
static const char *const e_redirect_support[] = { "DISABLED", "ENABLED", NULL };
static const char *const e_redirect_addr[] = {
	"IPv4", "IPv6", "URL", "SIP_URI", NULL
};
static const char *const e_net_services[] = {
	"dpi", "policy_enforcement", NULL
};
/* Radios Magma's enodebd knows how to configure over TR-069. */
static const char *const e_device_class[] = {
	"Baicells Nova-233 G2 OD FDD",
	"Baicells Nova-243 OD TDD",
	"Baicells Neutrino 224 ID FDD",
	"Baicells ID TDD/FDD",
	"NuRAN Cavium OC-LTE",
	"FreedomFi One",
	NULL
};
/* NUMBER allowed values, as text: the LTE channel bandwidths in MHz that
 * Magma's API takes (1.4 MHz is not one: enodebd cannot configure it). */
static const char *const n_bandwidth[] = {
	"3", "5", "10", "15", "20", NULL
};
/* INT allowed values: the QCIs of Magma's policydb (FlowQos.Qci); rows
 * using it also bound 0-79, which sizes the protobuf field. */
static const char *const n_qci[] = {
	"0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
	"65", "66", "67", "70", "75", "79", NULL
};

/* Why Magma refuses what the rows below refuse, and what to write. */
#define WHY_BANDWIDTH "Magma's API takes no other bandwidth and enodebd " \
	"cannot configure 1.4 MHz: write the channel width of the radio, " \
	"3 where it was 1.4"
#define WHY_PCI "Magma's API takes PCIs 1 to 503 only (not 0): write " \
	"one that no neighbouring cell uses"
#define WHY_QCI "these are the QCIs Magma's policydb knows"
#define WHY_IPBLOCK "Magma requires every gateway's ip_block, the block " \
	"its UEs get addresses from: write epc.ipBlock, a block such as " \
	"192.168.128.0/24 that no other gateway uses"

/* ------------------------------------------------------------------ */
/* Network                                                            */

static const struct o8_field network_fields[] = {
	{ .path = "cellular", .type = O8_T_OBJECT, .flags = O8_F_REQUIRED,
	  .doc = "LTE settings of the network: radio (ran) and core (epc)" },
	{ .path = "cellular.epc", .type = O8_T_OBJECT, .flags = O8_F_REQUIRED,
	  .doc = "evolved packet core settings shared by every gateway of the network" },
	{ .path = "cellular.epc.cloudSubscriberdbEnabled", .type = O8_T_BOOL,
	  .def = "false",
	  .doc = "let gateways query subscribers from the cloud instead of a local copy" },
	{ .path = "cellular.epc.congestionControlEnabled", .type = O8_T_BOOL,
	  .def = "true",
	  .doc = "let the MMEs refuse new attaches while overloaded (Magma's default)" },
	{ .path = "cellular.epc.defaultRuleId", .type = O8_T_STRING,
	  .ref = O8_KIND_POLICYRULE,
	  .doc = "policy rule installed for every subscriber that has no policy of its own" },
	{ .path = "cellular.epc.enableMultiApnIpAllocation", .type = O8_T_BOOL,
	  .def = "false",
	  .doc = "give a subscriber one IP address per APN instead of one in total" },
	{ .path = "cellular.epc.enableStaticIpAssignments", .type = O8_T_BOOL,
	  .def = "false",
	  .doc = "honour the subscribers' staticIps" },
	{ .path = "cellular.epc.gxGyRelayEnabled", .type = O8_T_BOOL,
	  .def = "false",
	  .doc = "relay Gx/Gy (PCRF/OCS) traffic through a federation gateway" },
	{ .path = "cellular.epc.hssRelayEnabled", .type = O8_T_BOOL,
	  .def = "false",
	  .doc = "relay authentication to an external HSS through a federation gateway" },
	{ .path = "cellular.epc.ipAllocationMode", .type = O8_T_ENUM,
	  .enums = e_ip_alloc, .def = "NAT",
	  .doc = "how gateways give IP addresses to UEs" },
	{ .path = "cellular.epc.lteAuthAmf", .type = O8_T_STRING,
	  .fmt = O8_FMT_HEX, .min = 4, .max = 4, .def = "8000",
	  .doc = "authentication management field (AMF), 4 hex digits" },
	{ .path = "cellular.epc.lteAuthOp", .type = O8_T_STRING,
	  .flags = O8_F_SENSITIVE, .fmt = O8_FMT_HEX32,
	  .doc = "operator variant key OP, used to derive OPc for SIMs that only have Ki" },
	{ .path = "cellular.epc.mcc", .type = O8_T_STRING, .flags = O8_F_REQUIRED,
	  .fmt = O8_FMT_MCC,
	  .doc = "mobile country code of the network's PLMN; quote it (\"001\")" },
	{ .path = "cellular.epc.mnc", .type = O8_T_STRING, .flags = O8_F_REQUIRED,
	  .fmt = O8_FMT_MNC,
	  .doc = "mobile network code of the network's PLMN; quote it (\"01\")" },
	{ .path = "cellular.epc.natIpBlocks", .type = O8_T_LIST,
	  .doc = "IPv4 blocks the gateways may hand out to UEs in NAT mode" },
	{ .path = "cellular.epc.natIpBlocks[]", .type = O8_T_STRING,
	  .fmt = O8_FMT_CIDR4,
	  .doc = "one IPv4 block" },
	{ .path = "cellular.epc.networkServices", .type = O8_T_LIST,
	  .doc = "services the gateways' pipeline runs, in order" },
	{ .path = "cellular.epc.networkServices[]", .type = O8_T_ENUM,
	  .enums = e_net_services,
	  .doc = "one service" },
	{ .path = "cellular.epc.subProfiles", .type = O8_T_LIST,
	  .doc = "subscriber profiles (bit rate caps) that subscribers name in profile" },
	{ .path = "cellular.epc.subProfiles[]", .type = O8_T_OBJECT,
	  .doc = "one subscriber profile" },
	{ .path = "cellular.epc.subProfiles[].maxDlBitRate", .type = O8_T_INT,
	  .flags = O8_F_REQUIRED, .min = 1, .max = 1e12,
	  .doc = "downlink cap of a subscriber with this profile, in bit/s" },
	{ .path = "cellular.epc.subProfiles[].maxUlBitRate", .type = O8_T_INT,
	  .flags = O8_F_REQUIRED, .min = 1, .max = 1e12,
	  .doc = "uplink cap of a subscriber with this profile, in bit/s" },
	{ .path = "cellular.epc.subProfiles[].name", .type = O8_T_STRING,
	  .flags = O8_F_REQUIRED, .fmt = O8_FMT_NAME,
	  .doc = "profile name, unique in the network" },
	{ .path = "cellular.epc.tac", .type = O8_T_INT, .flags = O8_F_REQUIRED,
	  .min = 1, .max = 65535,
	  .doc = "tracking area code the gateways announce" },
	{ .path = "cellular.ran", .type = O8_T_OBJECT, .flags = O8_F_REQUIRED,
	  .doc = "radio access network settings; give tddConfig or fddConfig" },
	{ .path = "cellular.ran.bandwidthMhz", .type = O8_T_NUMBER,
	  .flags = O8_F_REQUIRED, .enums = n_bandwidth,
	  .doc = "channel bandwidth in MHz", .why = WHY_BANDWIDTH },
	{ .path = "cellular.ran.fddConfig", .type = O8_T_OBJECT,
	  .doc = "frequency division duplex: separate downlink and uplink channels" },
	{ .path = "cellular.ran.fddConfig.earfcndl", .type = O8_T_INT,
	  .flags = O8_F_REQUIRED, .min = 0, .max = 65535,
	  .doc = "downlink EARFCN (channel number; it implies the band)" },
	{ .path = "cellular.ran.fddConfig.earfcnul", .type = O8_T_INT,
	  .flags = O8_F_REQUIRED, .min = 0, .max = 65535,
	  .doc = "uplink EARFCN" },
	{ .path = "cellular.ran.tddConfig", .type = O8_T_OBJECT,
	  .doc = "time division duplex: one channel shared by downlink and uplink" },
	{ .path = "cellular.ran.tddConfig.earfcndl", .type = O8_T_INT,
	  .flags = O8_F_REQUIRED, .min = 0, .max = 65535,
	  .doc = "EARFCN (channel number; it implies the band)" },
	{ .path = "cellular.ran.tddConfig.specialSubframePattern", .type = O8_T_INT,
	  .flags = O8_F_REQUIRED, .min = 0, .max = 9,
	  .doc = "special subframe configuration (3GPP TS 36.211 table 4.2-1)" },
	{ .path = "cellular.ran.tddConfig.subframeAssignment", .type = O8_T_INT,
	  .flags = O8_F_REQUIRED, .min = 0, .max = 6,
	  .doc = "uplink-downlink configuration (3GPP TS 36.211 table 4.2-2)" },
	{ .path = "description", .type = O8_T_STRING, .max = 1024,
	  .doc = "free text for operators" },
	{ .path = "dns", .type = O8_T_OBJECT,
	  .doc = "DNS resolver the gateways run for UEs" },
	{ .path = "dns.enableCaching", .type = O8_T_BOOL, .def = "false",
	  .doc = "cache answers on the gateways" },
	{ .path = "dns.localTtl", .type = O8_T_INT, .min = 0, .max = 86400,
	  .def = "0",
	  .doc = "TTL in seconds of the local records; 0 keeps the upstream TTL" },
	{ .path = "dns.records", .type = O8_T_LIST,
	  .doc = "local DNS records served to UEs" },
	{ .path = "dns.records[]", .type = O8_T_OBJECT,
	  .doc = "one domain and its records" },
	{ .path = "dns.records[].aRecord", .type = O8_T_LIST,
	  .doc = "IPv4 addresses of the domain" },
	{ .path = "dns.records[].aRecord[]", .type = O8_T_STRING,
	  .fmt = O8_FMT_IPV4,
	  .doc = "one IPv4 address" },
	{ .path = "dns.records[].cnameRecord", .type = O8_T_LIST,
	  .doc = "canonical names of the domain" },
	{ .path = "dns.records[].cnameRecord[]", .type = O8_T_STRING,
	  .min = 1, .max = 253,
	  .doc = "one canonical name" },
	{ .path = "dns.records[].domain", .type = O8_T_STRING,
	  .flags = O8_F_REQUIRED, .min = 1, .max = 253,
	  .doc = "fully qualified domain name" },
	{ .path = "features", .type = O8_T_DICT,
	  .doc = "feature flags as free key/value pairs, passed to the gateways as is" },
};

/* ------------------------------------------------------------------ */
/* Gateway                                                            */

static const struct o8_field gateway_fields[] = {
	{ .path = "autoupgradeEnabled", .type = O8_T_BOOL, .def = "true",
	  .doc = "let the gateway upgrade itself to its tier's version" },
	{ .path = "autoupgradePollInterval", .type = O8_T_INT,
	  .min = 30, .max = 86400, .def = "300",
	  .doc = "seconds between two checks for a new version" },
	{ .path = "checkinInterval", .type = O8_T_INT, .min = 15, .max = 3600,
	  .def = "60",
	  .doc = "seconds between two check-ins (state and KPI reports)",
	  .why = "Magma's API refuses intervals under 15 seconds: write 15 or more" },
	{ .path = "checkinTimeout", .type = O8_T_INT, .min = 5, .max = 3600,
	  .def = "10",
	  .doc = "seconds the gateway waits for a check-in to be answered",
	  .why = "Magma's API refuses timeouts under 5 seconds: write 5 or more" },
	{ .path = "description", .type = O8_T_STRING, .max = 1024,
	  .doc = "free text for operators" },
	{ .path = "dns", .type = O8_T_OBJECT,
	  .doc = "DNS and DHCP service of this gateway" },
	{ .path = "dns.dhcpServerEnabled", .type = O8_T_BOOL, .def = "true",
	  .doc = "run a DHCP server for UEs" },
	{ .path = "dns.enableCaching", .type = O8_T_BOOL, .def = "false",
	  .doc = "cache DNS answers on this gateway" },
	{ .path = "dns.localTtl", .type = O8_T_INT, .min = 0, .max = 86400,
	  .def = "0",
	  .doc = "TTL in seconds of local records; 0 keeps the upstream TTL" },
	{ .path = "enodebs", .type = O8_T_LIST, .max = 64,
	  .doc = "eNodeBs attached to this gateway; an eNodeB belongs to one gateway" },
	{ .path = "enodebs[]", .type = O8_T_STRING, .fmt = O8_FMT_SERIAL,
	  .ref = O8_KIND_ENODEB,
	  .doc = "serial (spec.serial, not metadata.name) of an ENodeB of this network" },
	{ .path = "epc", .type = O8_T_OBJECT, .flags = O8_F_REQUIRED,
	  .doc = "packet core settings of this gateway", .why = WHY_IPBLOCK },
	{ .path = "epc.dnsPrimary", .type = O8_T_STRING, .fmt = O8_FMT_IPV4,
	  .doc = "DNS server given to UEs" },
	{ .path = "epc.dnsSecondary", .type = O8_T_STRING, .fmt = O8_FMT_IPV4,
	  .doc = "second DNS server given to UEs" },
	{ .path = "epc.ipBlock", .type = O8_T_STRING, .flags = O8_F_REQUIRED,
	  .fmt = O8_FMT_CIDR4,
	  .doc = "IPv4 block UEs get addresses from; must not overlap another gateway's",
	  .why = WHY_IPBLOCK },
	{ .path = "epc.ipv4PCscfAddr", .type = O8_T_STRING, .fmt = O8_FMT_IPV4,
	  .doc = "P-CSCF address given to UEs (IMS, VoLTE)" },
	{ .path = "epc.natEnabled", .type = O8_T_BOOL, .def = "true",
	  .doc = "masquerade UE traffic behind the gateway's SGi address" },
	{ .path = "epc.sgiManagementIfaceGw", .type = O8_T_STRING,
	  .fmt = O8_FMT_IPV4,
	  .doc = "default gateway of the SGi management interface" },
	{ .path = "epc.sgiManagementIfaceStaticIp", .type = O8_T_STRING,
	  .fmt = O8_FMT_CIDR4,
	  .doc = "static address of the SGi management interface; DHCP when absent" },
	{ .path = "epc.sgiManagementIfaceVlan", .type = O8_T_INT,
	  .min = 1, .max = 4094,
	  .doc = "VLAN id of the SGi management interface" },
	{ .path = "hardwareId", .type = O8_T_STRING,
	  .flags = O8_F_REQUIRED | O8_F_UNIQUE_REPO, .fmt = O8_FMT_UUID,
	  .doc = "UUID the gateway reports at registration (show_gateway_info.py)" },
	{ .path = "pool", .type = O8_T_OBJECT,
	  .doc = "MME pool membership, for gateways that share eNodeBs (S1-flex)" },
	{ .path = "pool.mmeCode", .type = O8_T_INT, .flags = O8_F_REQUIRED,
	  .min = 1, .max = 255,
	  .doc = "MME code of this gateway, unique within its MME group" },
	{ .path = "pool.mmeGroupId", .type = O8_T_INT, .flags = O8_F_REQUIRED,
	  .min = 1, .max = 65535,
	  .doc = "MME group (pool) id" },
	{ .path = "pool.mmeRelativeCapacity", .type = O8_T_INT, .min = 1,
	  .max = 255, .def = "10",
	  .doc = "share of new UEs eNodeBs send to this gateway, relative to the pool" },
	{ .path = "ran", .type = O8_T_OBJECT,
	  .doc = "radio settings the gateway pushes to its eNodeBs" },
	{ .path = "ran.pci", .type = O8_T_INT, .min = 1, .max = 503,
	  .doc = "physical cell id; neighbouring cells need different values",
	  .why = WHY_PCI },
	{ .path = "ran.transmitEnabled", .type = O8_T_BOOL, .def = "true",
	  .doc = "let the eNodeBs radiate; false keeps them off air" },
	{ .path = "tier", .type = O8_T_STRING, .ref = O8_KIND_TIER,
	  .doc = "upgrade tier (a Tier of this network) that sets the software version" },
};

/* ------------------------------------------------------------------ */
/* ENodeB                                                             */

static const struct o8_field enodeb_fields[] = {
	{ .path = "configType", .type = O8_T_ENUM, .enums = e_config_type,
	  .def = "managed",
	  .doc = "managed: the gateway configures the radio over TR-069; unmanaged: by hand" },
	{ .path = "description", .type = O8_T_STRING, .max = 1024,
	  .doc = "free text for operators" },
	{ .path = "managed", .type = O8_T_OBJECT,
	  .doc = "radio settings pushed by the gateway (configType managed); unset ones come from the network" },
	{ .path = "managed.bandwidthMhz", .type = O8_T_NUMBER,
	  .enums = n_bandwidth,
	  .doc = "channel bandwidth in MHz", .why = WHY_BANDWIDTH },
	{ .path = "managed.cellId", .type = O8_T_INT, .flags = O8_F_REQUIRED,
	  .min = 0, .max = 268435455,
	  .doc = "28-bit E-UTRAN cell identity, unique in the network" },
	{ .path = "managed.deviceClass", .type = O8_T_ENUM,
	  .flags = O8_F_REQUIRED, .enums = e_device_class,
	  .doc = "radio model, which decides how the gateway talks to it" },
	{ .path = "managed.earfcndl", .type = O8_T_INT, .min = 0, .max = 65535,
	  .doc = "downlink EARFCN (channel number), in a band Magma's enodebd "
		 "knows (1-5, 28, 33-52); the network's when unset" },
	{ .path = "managed.pci", .type = O8_T_INT, .min = 1, .max = 503,
	  .doc = "physical cell id; neighbouring cells need different values",
	  .why = WHY_PCI },
	{ .path = "managed.specialSubframePattern", .type = O8_T_INT,
	  .min = 0, .max = 9,
	  .doc = "TDD special subframe configuration" },
	{ .path = "managed.subframeAssignment", .type = O8_T_INT,
	  .min = 0, .max = 6,
	  .doc = "TDD uplink-downlink configuration" },
	{ .path = "managed.tac", .type = O8_T_INT, .min = 1, .max = 65535,
	  .doc = "tracking area code" },
	{ .path = "managed.transmitEnabled", .type = O8_T_BOOL, .def = "true",
	  .doc = "let the radio radiate; false keeps it off air" },
	{ .path = "serial", .type = O8_T_STRING,
	  .flags = O8_F_REQUIRED | O8_F_UNIQUE_REPO, .fmt = O8_FMT_SERIAL,
	  .doc = "serial number printed on the radio; gateways list eNodeBs by it" },
	{ .path = "unmanaged", .type = O8_T_OBJECT,
	  .doc = "what the core must know of a radio configured by hand (configType unmanaged)" },
	{ .path = "unmanaged.cellId", .type = O8_T_INT, .flags = O8_F_REQUIRED,
	  .min = 0, .max = 268435455,
	  .doc = "28-bit E-UTRAN cell identity, unique in the network" },
	{ .path = "unmanaged.ipAddress", .type = O8_T_STRING,
	  .flags = O8_F_REQUIRED, .fmt = O8_FMT_IPV4,
	  .doc = "address the radio's S1 traffic comes from" },
	{ .path = "unmanaged.tac", .type = O8_T_INT, .flags = O8_F_REQUIRED,
	  .min = 1, .max = 65535,
	  .doc = "tracking area code configured on the radio" },
};

/* ------------------------------------------------------------------ */
/* APN                                                                */

static const struct o8_field apn_fields[] = {
	{ .path = "ambr", .type = O8_T_OBJECT, .flags = O8_F_REQUIRED,
	  .doc = "aggregate maximum bit rate of a subscriber on this APN" },
	{ .path = "ambr.maxBandwidthDl", .type = O8_T_INT, .flags = O8_F_REQUIRED,
	  .min = 0, .max = U32_MAX,
	  .doc = "downlink cap in bit/s" },
	{ .path = "ambr.maxBandwidthUl", .type = O8_T_INT, .flags = O8_F_REQUIRED,
	  .min = 0, .max = U32_MAX,
	  .doc = "uplink cap in bit/s" },
	{ .path = "qos", .type = O8_T_OBJECT, .flags = O8_F_REQUIRED,
	  .doc = "QoS of the default bearer on this APN" },
	{ .path = "qos.preemptionCapability", .type = O8_T_BOOL, .def = "true",
	  .doc = "the bearer may preempt bearers of lower priority" },
	{ .path = "qos.preemptionVulnerability", .type = O8_T_BOOL,
	  .def = "false",
	  .doc = "the bearer may be preempted by bearers of higher priority" },
	{ .path = "qos.priority", .type = O8_T_INT, .min = 0, .max = 15,
	  .def = "15",
	  .doc = "allocation and retention priority, lower is higher" },
	{ .path = "qos.qci", .type = O8_T_INT, .flags = O8_F_REQUIRED,
	  .min = 0, .max = 79, .enums = n_qci,
	  .doc = "QoS class identifier: 5 for IMS signalling, 9 for best-effort internet",
	  .why = WHY_QCI },
};

/* ------------------------------------------------------------------ */
/* Subscriber (also the items and defaults of a SubscriberSet)        */

static const struct o8_field subscriber_fields[] = {
	{ .path = "apns", .type = O8_T_LIST,
	  .doc = "APNs the subscriber may attach to; the first is the default" },
	{ .path = "apns[]", .type = O8_T_STRING, .ref = O8_KIND_APN,
	  .doc = "name of an APN of this network" },
	{ .path = "authAlgo", .type = O8_T_ENUM, .enums = e_auth_algo,
	  .def = "MILENAGE",
	  .doc = "authentication algorithm of the SIM" },
	{ .path = "imsi", .type = O8_T_STRING,
	  .flags = O8_F_REQUIRED | O8_F_UNIQUE_NET, .fmt = O8_FMT_IMSI,
	  .doc = "IMSI of the SIM; quote it so that YAML keeps leading zeros",
	  .why = "Magma requires IMSI followed by 10 to 15 digits: write the "
		 "SIM's whole IMSI (MCC, MNC and MSIN)" },
	{ .path = "ki", .type = O8_T_STRING,
	  .flags = O8_F_REQUIRED | O8_F_SENSITIVE, .fmt = O8_FMT_HEX32,
	  .doc = "128-bit subscriber key K from the SIM vendor",
	  .why = "Magma requires every subscriber's auth key: write the SIM's "
		 "Ki, 32 hex digits, from the SIM vendor's file" },
	{ .path = "opc", .type = O8_T_STRING, .flags = O8_F_SENSITIVE,
	  .fmt = O8_FMT_HEX32,
	  .doc = "128-bit OPc from the SIM vendor; derived from the network's lteAuthOp when absent" },
	{ .path = "policies", .type = O8_T_LIST,
	  .doc = "policy rules applied to this subscriber's traffic" },
	{ .path = "policies[]", .type = O8_T_STRING, .ref = O8_KIND_POLICYRULE,
	  .doc = "name of a PolicyRule of this network" },
	{ .path = "profile", .type = O8_T_STRING, .def = "default",
	  .doc = "name of an entry of the network's cellular.epc.subProfiles" },
	{ .path = "state", .type = O8_T_ENUM, .enums = e_state, .def = "ACTIVE",
	  .doc = "INACTIVE subscribers are refused at attach" },
	{ .path = "staticIps", .type = O8_T_DICT, .fmt = O8_FMT_IPV4,
	  .doc = "fixed UE address per APN: keys are APN names, values IPv4 addresses" },
};

/* ------------------------------------------------------------------ */
/* SubscriberSet                                                      */

/*
 * The rows below defaults and subscribers[] are the Subscriber table
 * (spec_of), so a SubscriberSet cannot drift from a single Subscriber.
 */
static const struct o8_field subscriberset_fields[] = {
	{ .path = "defaults", .type = O8_T_OBJECT, .spec_of = O8_KIND_SUBSCRIBER,
	  .doc = "Subscriber fields every item starts from; all optional here" },
	{ .path = "subscribers", .type = O8_T_LIST, .flags = O8_F_REQUIRED,
	  .doc = "the subscribers; each item overrides defaults field by field" },
	{ .path = "subscribers[]", .type = O8_T_OBJECT,
	  .spec_of = O8_KIND_SUBSCRIBER,
	  .doc = "one subscriber: a Subscriber spec, imsi required" },
};

/* ------------------------------------------------------------------ */
/* PolicyRule                                                         */

static const struct o8_field policyrule_fields[] = {
	{ .path = "flows", .type = O8_T_LIST,
	  .doc = "packet filters; traffic matching none of them is not affected" },
	{ .path = "flows[]", .type = O8_T_OBJECT,
	  .doc = "one filter" },
	{ .path = "flows[].action", .type = O8_T_ENUM, .flags = O8_F_REQUIRED,
	  .enums = e_action,
	  .doc = "what happens to matching packets" },
	{ .path = "flows[].direction", .type = O8_T_ENUM,
	  .flags = O8_F_REQUIRED, .enums = e_direction,
	  .doc = "UPLINK from the UE, DOWNLINK towards it" },
	{ .path = "flows[].match", .type = O8_T_OBJECT,
	  .doc = "packet fields to match; absent fields match anything" },
	{ .path = "flows[].match.ipDst", .type = O8_T_STRING,
	  .fmt = O8_FMT_CIDR4,
	  .doc = "destination IPv4 block (a.b.c.d/32 for one host)" },
	{ .path = "flows[].match.ipProto", .type = O8_T_ENUM,
	  .enums = e_ip_proto, .def = "IPPROTO_IP",
	  .doc = "IP protocol; IPPROTO_IP matches every protocol" },
	{ .path = "flows[].match.ipSrc", .type = O8_T_STRING,
	  .fmt = O8_FMT_CIDR4,
	  .doc = "source IPv4 block (a.b.c.d/32 for one host)" },
	{ .path = "flows[].match.tcpDst", .type = O8_T_INT, .min = 0,
	  .max = 65535,
	  .doc = "TCP destination port" },
	{ .path = "flows[].match.tcpSrc", .type = O8_T_INT, .min = 0,
	  .max = 65535,
	  .doc = "TCP source port" },
	{ .path = "flows[].match.udpDst", .type = O8_T_INT, .min = 0,
	  .max = 65535,
	  .doc = "UDP destination port" },
	{ .path = "flows[].match.udpSrc", .type = O8_T_INT, .min = 0,
	  .max = 65535,
	  .doc = "UDP source port" },
	{ .path = "headerEnrichmentTargets", .type = O8_T_LIST,
	  .doc = "URL prefixes whose HTTP requests get the subscriber's IMSI and MSISDN headers" },
	{ .path = "headerEnrichmentTargets[]", .type = O8_T_STRING,
	  .min = 1, .max = 2048,
	  .doc = "one URL prefix" },
	{ .path = "monitoringKey", .type = O8_T_STRING, .max = 256,
	  .doc = "usage monitoring key reported to the PCRF" },
	{ .path = "priority", .type = O8_T_INT, .flags = O8_F_REQUIRED,
	  .min = 0, .max = 65535,
	  .doc = "precedence among the subscriber's rules; the highest value wins" },
	{ .path = "qos", .type = O8_T_OBJECT,
	  .doc = "QoS of the bearer carrying matching traffic" },
	{ .path = "qos.arp", .type = O8_T_OBJECT,
	  .doc = "allocation and retention priority of the bearer" },
	{ .path = "qos.arp.preemptionCapability", .type = O8_T_BOOL,
	  .def = "true",
	  .doc = "the bearer may preempt bearers of lower priority" },
	{ .path = "qos.arp.preemptionVulnerability", .type = O8_T_BOOL,
	  .def = "false",
	  .doc = "the bearer may be preempted by bearers of higher priority" },
	{ .path = "qos.arp.priorityLevel", .type = O8_T_INT, .min = 0, .max = 15,
	  .def = "15",
	  .doc = "priority, lower is higher" },
	{ .path = "qos.gbrDl", .type = O8_T_INT, .min = 0, .max = U32_MAX,
	  .doc = "guaranteed downlink bit rate in bit/s (GBR QCIs 1-4)" },
	{ .path = "qos.gbrUl", .type = O8_T_INT, .min = 0, .max = U32_MAX,
	  .doc = "guaranteed uplink bit rate in bit/s (GBR QCIs 1-4)" },
	{ .path = "qos.maxReqBwDl", .type = O8_T_INT, .min = 0, .max = U32_MAX,
	  .doc = "downlink cap in bit/s" },
	{ .path = "qos.maxReqBwUl", .type = O8_T_INT, .min = 0, .max = U32_MAX,
	  .doc = "uplink cap in bit/s" },
	{ .path = "qos.qci", .type = O8_T_INT, .min = 0, .max = 79,
	  .enums = n_qci, .def = "9",
	  .doc = "QoS class identifier of the bearer", .why = WHY_QCI },
	{ .path = "ratingGroup", .type = O8_T_INT, .min = 0, .max = U32_MAX,
	  .doc = "charging key reported to the OCS" },
	{ .path = "redirect", .type = O8_T_OBJECT,
	  .doc = "send matching HTTP traffic elsewhere (captive portal, top-up page)" },
	{ .path = "redirect.addressType", .type = O8_T_ENUM,
	  .enums = e_redirect_addr,
	  .doc = "what serverAddress holds" },
	{ .path = "redirect.serverAddress", .type = O8_T_STRING,
	  .min = 1, .max = 2048,
	  .doc = "where matching traffic goes" },
	{ .path = "redirect.support", .type = O8_T_ENUM,
	  .enums = e_redirect_support, .def = "DISABLED",
	  .doc = "turns the redirect on" },
	{ .path = "trackingType", .type = O8_T_ENUM, .enums = e_tracking,
	  .def = "NO_TRACKING",
	  .doc = "which charging systems get usage reports for matching traffic" },
};

/* ------------------------------------------------------------------ */
/* Tier                                                               */

static const struct o8_field tier_fields[] = {
	{ .path = "images", .type = O8_T_LIST,
	  .doc = "container images the gateways of this tier run" },
	{ .path = "images[]", .type = O8_T_OBJECT,
	  .doc = "one image" },
	{ .path = "images[].name", .type = O8_T_STRING, .flags = O8_F_REQUIRED,
	  .min = 1, .max = 253,
	  .doc = "image or package name" },
	{ .path = "images[].order", .type = O8_T_INT, .flags = O8_F_REQUIRED,
	  .min = 0, .max = 1000,
	  .doc = "install order, lowest first" },
	{ .path = "version", .type = O8_T_STRING, .flags = O8_F_REQUIRED,
	  .min = 1, .max = 64,
	  .doc = "software version the gateways of this tier run (\"1.8.0\")" },
};

/* ------------------------------------------------------------------ */
/* Kinds                                                              */

static const struct o8_kind_schema kinds[O8_KIND__COUNT - 1] = {
	{
		.kind = O8_KIND_NETWORK,
		.name = "Network",
		.plural = "networks",
		.namespaced = false,
		.doc = "One LTE network and its shared settings. It holds the "
		       "radio (cellular.ran) and "
		       "core (cellular.epc) settings that every gateway and "
		       "eNodeB of the network shares: the PLMN (mcc, mnc) "
		       "the SIMs carry, the tracking area, the band and "
		       "bandwidth, how UEs get addresses, and the subscriber "
		       "profiles. Every other object names its network in "
		       "metadata.network.",
		.fields = network_fields,
		.nfields = NELEM(network_fields),
		.example =
			"apiVersion: orc8r/v1\n"
			"kind: Network\n"
			"metadata:\n"
			"  name: lab\n"
			"  labels: {env: lab}\n"
			"spec:\n"
			"  description: Berlin lab, band 40 TDD\n"
			"  dns:\n"
			"    enableCaching: true\n"
			"    localTtl: 300\n"
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
			"      lteAuthAmf: \"8000\"\n"
			"      ipAllocationMode: NAT\n"
			"      subProfiles:\n"
			"        - name: default\n"
			"          maxUlBitRate: 100000000\n"
			"          maxDlBitRate: 200000000\n",
	},
	{
		.kind = O8_KIND_GATEWAY,
		.name = "Gateway",
		.plural = "gateways",
		.namespaced = true,
		.doc = "An Access Gateway (AGW) at a site. It runs the packet "
		       "core for the eNodeBs it lists, hands out UE addresses "
		       "from its ipBlock and checks in with syncd. "
		       "hardwareId identifies the machine and must be unique "
		       "in the repository; an eNodeB may be listed by one "
		       "gateway only.",
		.fields = gateway_fields,
		.nfields = NELEM(gateway_fields),
		.example =
			"apiVersion: orc8r/v1\n"
			"kind: Gateway\n"
			"metadata:\n"
			"  name: agw-berlin-1\n"
			"  network: lab\n"
			"  labels: {site: berlin, wave: canary}\n"
			"spec:\n"
			"  description: rack 1, Berlin\n"
			"  hardwareId: 5b1ac1a4-7b8f-4c5e-9d0a-1f2e3d4c5b6a\n"
			"  tier: default\n"
			"  checkinInterval: 60\n"
			"  epc:\n"
			"    natEnabled: true\n"
			"    ipBlock: 192.168.128.0/24\n"
			"    dnsPrimary: 8.8.8.8\n"
			"    dnsSecondary: 8.8.4.4\n"
			"  ran:\n"
			"    pci: 260\n"
			"    transmitEnabled: true\n"
			"  enodebs: [\"120200002618AGP0001\"]\n"
			"  pool:\n"
			"    mmeGroupId: 1\n"
			"    mmeCode: 1\n"
			"    mmeRelativeCapacity: 10\n",
	},
	{
		.kind = O8_KIND_ENODEB,
		.name = "ENodeB",
		.plural = "enodebs",
		.namespaced = true,
		.doc = "A radio cell site (eNodeB). Managed radios are configured by "
		       "their gateway over TR-069 from the managed settings "
		       "(unset ones come from the network); unmanaged radios "
		       "are configured by hand and only described. Gateways "
		       "refer to an eNodeB by its serial, which must be "
		       "unique in the repository.",
		.fields = enodeb_fields,
		.nfields = NELEM(enodeb_fields),
		.example =
			"apiVersion: orc8r/v1\n"
			"kind: ENodeB\n"
			"metadata:\n"
			"  name: enb-berlin-1\n"
			"  network: lab\n"
			"spec:\n"
			"  serial: \"120200002618AGP0001\"\n"
			"  description: Baicells Nova 233, roof\n"
			"  configType: managed\n"
			"  managed:\n"
			"    deviceClass: Baicells Nova-233 G2 OD FDD\n"
			"    earfcndl: 44590\n"
			"    bandwidthMhz: 20\n"
			"    pci: 260\n"
			"    tac: 1\n"
			"    cellId: 138777000\n"
			"    transmitEnabled: true\n",
	},
	{
		.kind = O8_KIND_APN,
		.name = "APN",
		.plural = "apns",
		.namespaced = true,
		.doc = "An access point name (APN): a packet data network "
		       "UEs attach to. Typical ones are internet and ims; "
		       "each has a bit rate cap and the QoS of its default "
		       "bearer. Subscribers list the APNs they may use by "
		       "metadata.name, which is the APN as UEs ask for it and "
		       "takes Magma's APN names: letters of either case, "
		       "digits, '-', '_' and dots (oai.ipv4, "
		       "internet.mnc001.mcc001.gprs).",
		.fields = apn_fields,
		.nfields = NELEM(apn_fields),
		.name_fmt = O8_FMT_APN,
		.example =
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
			"    priority: 15\n"
			"    preemptionCapability: false\n"
			"    preemptionVulnerability: true\n",
	},
	{
		.kind = O8_KIND_SUBSCRIBER,
		.name = "Subscriber",
		.plural = "subscribers",
		.namespaced = true,
		.doc = "One SIM card and what it may do. Its IMSI is unique "
		       "in the network; ki and opc are its MILENAGE keys, "
		       "secrets that orc8r never prints; apns, profile, "
		       "policies and staticIps set its service. For many "
		       "SIMs use a SubscriberSet.",
		.fields = subscriber_fields,
		.nfields = NELEM(subscriber_fields),
		.example =
			"apiVersion: orc8r/v1\n"
			"kind: Subscriber\n"
			"metadata:\n"
			"  name: ops-phone-1\n"
			"  network: lab\n"
			"  labels: {team: ops}\n"
			"spec:\n"
			"  imsi: IMSI001010000000001\n"
			"  state: ACTIVE\n"
			"  authAlgo: MILENAGE\n"
			"  ki: \"e1c60aa3d510bb0432d90dcd57bb7d97\"\n"
			"  opc: \"23c49caea2cf62baba958810b4ebf4b6\"\n"
			"  profile: default\n"
			"  apns: [internet, ims]\n"
			"  staticIps:\n"
			"    internet: 192.168.128.10\n"
			"  policies: [allow-web]\n",
	},
	{
		.kind = O8_KIND_SUBSCRIBERSET,
		.name = "SubscriberSet",
		.plural = "subscribersets",
		.namespaced = true,
		.doc = "Many subscribers in one document, typically one SIM "
		       "batch. Each item of subscribers is a Subscriber spec; "
		       "fields it leaves out are taken from defaults. Sets "
		       "of about a thousand subscribers per file keep diffs "
		       "and loading fast.",
		.fields = subscriberset_fields,
		.nfields = NELEM(subscriberset_fields),
		.example =
			"apiVersion: orc8r/v1\n"
			"kind: SubscriberSet\n"
			"metadata:\n"
			"  name: lab-sims\n"
			"  network: lab\n"
			"spec:\n"
			"  defaults:\n"
			"    state: ACTIVE\n"
			"    authAlgo: MILENAGE\n"
			"    profile: default\n"
			"    apns: [internet]\n"
			"  subscribers:\n"
			"    - imsi: \"001010000000003\"\n"
			"      ki: \"6513270e269e0d37f2a74de452e6b438\"\n"
			"      opc: \"d23f0824128b2f330c5c7fd0a6a3a450\"\n"
			"    - imsi: \"001010000000010\"\n"
			"      ki: \"923a736994e3bf911a61dbe22e44158b\"\n"
			"      opc: \"18f135d25f557203301850c5a38fd547\"\n"
			"      apns: [internet, ims]\n"
			"      policies: [allow-web]\n",
	},
	{
		.kind = O8_KIND_POLICYRULE,
		.name = "PolicyRule",
		.plural = "policyrules",
		.namespaced = true,
		.doc = "A policy (PCC) rule for subscriber traffic. Packet "
		       "filters (flows) select the traffic; the rule says "
		       "whether it passes, with which QoS and how it is "
		       "charged. Subscribers list the rules that apply to "
		       "them by metadata.name.",
		.fields = policyrule_fields,
		.nfields = NELEM(policyrule_fields),
		.example =
			"apiVersion: orc8r/v1\n"
			"kind: PolicyRule\n"
			"metadata:\n"
			"  name: allow-web\n"
			"  network: lab\n"
			"spec:\n"
			"  priority: 10\n"
			"  trackingType: NO_TRACKING\n"
			"  flows:\n"
			"    - action: PERMIT\n"
			"      direction: UPLINK\n"
			"      match: {ipProto: TCP, ipDst: 0.0.0.0/0, tcpDst: 443}\n"
			"    - action: PERMIT\n"
			"      direction: DOWNLINK\n"
			"      match: {ipProto: TCP, ipSrc: 0.0.0.0/0, tcpSrc: 443}\n"
			"  qos:\n"
			"    qci: 9\n"
			"    maxReqBwUl: 50000000\n"
			"    maxReqBwDl: 100000000\n",
	},
	{
		.kind = O8_KIND_TIER,
		.name = "Tier",
		.plural = "tiers",
		.namespaced = true,
		.doc = "An upgrade tier of gateways. It sets the software "
		       "version and images its gateways run; gateways join "
		       "a tier with spec.tier, so that a new version can "
		       "reach a canary tier first.",
		.fields = tier_fields,
		.nfields = NELEM(tier_fields),
		.example =
			"apiVersion: orc8r/v1\n"
			"kind: Tier\n"
			"metadata:\n"
			"  name: default\n"
			"  network: lab\n"
			"spec:\n"
			"  version: 1.8.0\n"
			"  images:\n"
			"    - name: magma-agw\n"
			"      order: 1\n",
	},
};

const struct o8_kind_schema *o8_schema_kind(enum o8_kind k)
{
	if (k <= O8_KIND_NONE || k >= O8_KIND__COUNT)
		return NULL;
	return &kinds[k - 1];
}

const struct o8_kind_schema *o8_schema_kind_by_name(const char *name)
{
	size_t i;

	if (!name)
		return NULL;
	for (i = 0; i < NELEM(kinds); i++)
		if (!strcmp(kinds[i].name, name))
			return &kinds[i];
	return NULL;
}

/* Magma enodebd's LTE_BAND_INFO: first and one past the last EARFCNDL. */
static const struct { unsigned band, lo, end; bool tdd; } lte_bands[] = {
	{ 1, 0, 600, false }, { 2, 600, 1200, false }, { 3, 1200, 1950, false },
	{ 4, 1950, 2400, false }, { 5, 2400, 2649, false },
	{ 28, 9210, 9660, false },
	{ 33, 36000, 36199, true }, { 34, 36200, 36349, true },
	{ 35, 36350, 36949, true }, { 36, 36950, 37549, true },
	{ 37, 37550, 37750, true }, { 38, 37750, 38250, true },
	{ 39, 38250, 38650, true }, { 40, 38650, 39650, true },
	{ 41, 39650, 41590, true }, { 42, 41590, 43590, true },
	{ 43, 43590, 45590, true }, { 44, 45590, 46589, true },
	{ 45, 46590, 46789, true }, { 46, 46790, 54539, true },
	{ 47, 54540, 55239, true }, { 48, 55240, 56740, true },
	{ 49, 56740, 58239, true }, { 50, 58240, 59089, true },
	{ 51, 59090, 59139, true }, { 52, 59140, 60139, true },
};

unsigned o8_schema_lte_band(double earfcndl, bool *tdd)
{
	size_t i;

	for (i = 0; i < NELEM(lte_bands); i++)
		if (earfcndl >= lte_bands[i].lo && earfcndl < lte_bands[i].end) {
			if (tdd)
				*tdd = lte_bands[i].tdd;
			return lte_bands[i].band;
		}
	return 0;
}

enum o8_fmt o8_schema_name_fmt(const struct o8_kind_schema *ks)
{
	return ks && ks->name_fmt ? ks->name_fmt : O8_FMT_NAME;
}

static int field_cmp(const void *key, const void *row)
{
	return strcmp(key, ((const struct o8_field *)row)->path);
}

const struct o8_field *o8_schema_field(const struct o8_kind_schema *ks,
				       const char *path)
{
	if (!ks || !path)
		return NULL;
	return bsearch(path, ks->fields, ks->nfields, sizeof(ks->fields[0]),
		       field_cmp);
}

const char *o8_schema_fmt_doc(enum o8_fmt f)
{
	static const char *const doc[O8_FMT__COUNT] = {
		[O8_FMT_NONE] = "any text",
		[O8_FMT_NAME] = "lowercase letters, digits and '-', 1-63 "
				"characters, starting and ending with a letter "
				"or digit",
		[O8_FMT_IMSI] = "10-15 digits, optionally prefixed with IMSI",
		[O8_FMT_MCC] = "3 digits",
		[O8_FMT_MNC] = "2-3 digits",
		[O8_FMT_IPV4] = "IPv4 address a.b.c.d",
		[O8_FMT_CIDR4] = "IPv4 block a.b.c.d/n, n from 0 to 32",
		[O8_FMT_HEX32] = "32 hex digits (a 128-bit key)",
		[O8_FMT_UUID] = "UUID, 8-4-4-4-12 hex digits",
		[O8_FMT_SERIAL] = "1-64 printable characters, no spaces",
		[O8_FMT_HEX] = "an even number of hex digits",
		[O8_FMT_DURATION] = "a number and a unit s, m or h (30s, 5m, 1h)",
		[O8_FMT_APN] = "letters, digits, '-' and '_' in labels joined by "
			       "'.', 1-100 characters, each label starting and "
			       "ending with a letter or digit (internet, "
			       "oai.ipv4)",
	};

	if ((unsigned)f >= O8_FMT__COUNT)
		return "unknown format";
	return doc[f];
}

const char *o8_schema_type_name(enum o8_type t)
{
	switch (t) {
	case O8_T_STRING: return "string";
	case O8_T_INT: return "integer";
	case O8_T_NUMBER: return "number";
	case O8_T_BOOL: return "boolean";
	case O8_T_ENUM: return "enum";
	case O8_T_OBJECT: return "object";
	case O8_T_LIST: return "list";
	case O8_T_DICT: return "map";
	}
	return "unknown";
}

/*
 * The checks below are hand-written rather than regular expressions: the
 * validator runs them for every subscriber (imsi, ki, opc), millions of
 * times on a large repository, and each is a single pass over the bytes.
 */

enum { C_DIGIT = 1, C_HEX = 2 };

/* Character classes by table: one load per byte, no locale involved. */
static const unsigned char cclass[256] = {
	['0'] = C_DIGIT | C_HEX, ['1'] = C_DIGIT | C_HEX, ['2'] = C_DIGIT | C_HEX,
	['3'] = C_DIGIT | C_HEX, ['4'] = C_DIGIT | C_HEX, ['5'] = C_DIGIT | C_HEX,
	['6'] = C_DIGIT | C_HEX, ['7'] = C_DIGIT | C_HEX, ['8'] = C_DIGIT | C_HEX,
	['9'] = C_DIGIT | C_HEX,
	['a'] = C_HEX, ['b'] = C_HEX, ['c'] = C_HEX, ['d'] = C_HEX, ['e'] = C_HEX,
	['f'] = C_HEX,
	['A'] = C_HEX, ['B'] = C_HEX, ['C'] = C_HEX, ['D'] = C_HEX, ['E'] = C_HEX,
	['F'] = C_HEX,
};

static inline bool is_digit(unsigned char c)
{
	return cclass[c] & C_DIGIT;
}

static inline bool is_hex(unsigned char c)
{
	return cclass[c] & C_HEX;
}

static bool all_digits(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!is_digit((unsigned char)s[i]))
			return false;
	return true;
}

static bool all_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!is_hex((unsigned char)s[i]))
			return false;
	return true;
}

/*
 * A decimal number from 0 to max without leading zeros ("0" is fine, "01"
 * is not: inet_pton and most tools read those as octal or refuse them).
 * Reads up to the first non-digit; *n is the number of digits consumed.
 */
static bool dec_ok(const char *s, size_t len, unsigned max, size_t *n)
{
	unsigned v = 0;
	size_t i = 0;

	while (i < len && is_digit((unsigned char)s[i]) && i < 4) {
		v = v * 10 + (unsigned)(s[i] - '0');
		i++;
	}
	*n = i;
	if (i == 0 || (i > 1 && s[0] == '0'))
		return false;
	if (i < len && is_digit((unsigned char)s[i]))
		return false;   /* five digits or more */
	return v <= max;
}

/* Dotted quad at the start of s; *n is its length. */
static bool ipv4_prefix_ok(const char *s, size_t len, size_t *n)
{
	size_t pos = 0, k;
	int part;

	for (part = 0; part < 4; part++) {
		if (part) {
			if (pos >= len || s[pos] != '.')
				return false;
			pos++;
		}
		if (!dec_ok(s + pos, len - pos, 255, &k))
			return false;
		pos += k;
	}
	*n = pos;
	return true;
}

static bool fmt_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 63)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '-'))
			return false;
	}
	return s[0] != '-' && s[len - 1] != '-';
}

static bool fmt_imsi(const char *s, size_t len)
{
	if (len >= 4 && !memcmp(s, "IMSI", 4)) {
		s += 4;
		len -= 4;
	}
	return len >= 10 && len <= 15 && all_digits(s, len);
}

static bool fmt_ipv4(const char *s, size_t len)
{
	size_t n;

	return ipv4_prefix_ok(s, len, &n) && n == len;
}

static bool fmt_cidr4(const char *s, size_t len)
{
	size_t n, k;

	if (!ipv4_prefix_ok(s, len, &n) || n >= len || s[n] != '/')
		return false;
	n++;
	return dec_ok(s + n, len - n, 32, &k) && n + k == len;
}

static bool fmt_uuid(const char *s, size_t len)
{
	static const unsigned char dash[] = { 8, 13, 18, 23 };
	size_t i, d = 0;

	if (len != 36)
		return false;
	for (i = 0; i < len; i++) {
		if (d < sizeof(dash) && i == dash[d]) {
			if (s[i] != '-')
				return false;
			d++;
		} else if (!is_hex((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

static bool fmt_serial(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 64)
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] > '~')
			return false;
	return true;
}

static inline bool is_alnum(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* 3GPP TS 23.003 9.1: labels of letters, digits and '-' joined by '.';
 * Magma's own APN names also hold '_' (oai_ipv4 style). */
static bool fmt_apn(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 100)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool edge = i == 0 || i + 1 == len || s[i - 1] == '.' ||
			    s[i + 1] == '.';

		if (c == '.' ? edge : !(is_alnum(c) || (!edge && (c == '-' || c == '_'))))
			return false;
	}
	return true;
}

static bool fmt_duration(const char *s, size_t len)
{
	char u;

	if (len < 2)
		return false;
	u = s[len - 1];
	return (u == 's' || u == 'm' || u == 'h') && all_digits(s, len - 1);
}

bool o8_schema_fmt_ok(enum o8_fmt f, const char *s, size_t len)
{
	if (!s)
		return false;
	switch (f) {
	case O8_FMT_NONE:
		return true;
	case O8_FMT_NAME:
		return fmt_name(s, len);
	case O8_FMT_IMSI:
		return fmt_imsi(s, len);
	case O8_FMT_MCC:
		return len == 3 && all_digits(s, len);
	case O8_FMT_MNC:
		return (len == 2 || len == 3) && all_digits(s, len);
	case O8_FMT_IPV4:
		return fmt_ipv4(s, len);
	case O8_FMT_CIDR4:
		return fmt_cidr4(s, len);
	case O8_FMT_HEX32:
		return len == 32 && all_hex(s, len);
	case O8_FMT_UUID:
		return fmt_uuid(s, len);
	case O8_FMT_SERIAL:
		return fmt_serial(s, len);
	case O8_FMT_HEX:
		return len > 0 && len % 2 == 0 && all_hex(s, len);
	case O8_FMT_DURATION:
		return fmt_duration(s, len);
	case O8_FMT_APN:
		return fmt_apn(s, len);
	case O8_FMT__COUNT:
		break;
	}
	return false;
}
