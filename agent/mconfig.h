/*
 * mconfig.h - one AGW's records rendered as the files Magma's services read.
 *
 * gateway.mconfig is Magma's GatewayConfigs message in protobuf's JSON
 * mapping: {"configsByKey": {"<service>": {"@type":
 * "type.googleapis.com/magma.mconfig.<Message>", <fields>}}, "metadata":
 * {"createdAt": 0}}, with the field names of Magma's lte/protos/mconfig and
 * orc8r/protos/mconfig (camelCase; 64-bit integers as strings, bytes as
 * base64, as that mapping says).  Only fields our schema really has are
 * filled: no logLevel, no invented defaults, except where Magma's own
 * builder has one for a setting we leave out (the MME pool of a gateway
 * outside any pool, the pipeline services of a network that names none).
 * Services: dnsd, enodebd, magmad, mme, mobilityd, pipelined, policydb,
 * sessiond, subscriberdb.
 *
 * The subscribers (with Ki and OPc) never go into the mconfig: they go to a
 * separate JSON document, {"network": "...", "subscribers": [{"imsi":
 * "IMSI...", "state", "authAlgo", "ki", "opc" (lowercase hex), "profile",
 * "apns", "staticIps", "policies"}]}, sorted by IMSI.  It is as secret as
 * the keys it holds.
 *
 * Both outputs are compact JSON with sorted keys and a final newline, and
 * depend on nothing but the records (no clock, no input order): the same
 * records give the same bytes.
 */
#ifndef O8_MCONFIG_H
#define O8_MCONFIG_H

#include <stddef.h>

#include "proto/record.h"
#include "util/err.h"

/*
 * Renders gateway `gateway` of network `network` from recs (any order;
 * records of other networks are ignored): its Network, Gateway, Tier,
 * listed ENodeBs and the network's Subscribers.  Bodies are decoded with
 * the generated protobuf-c code.
 *
 * *out_mconfig_json and *out_subscribers_json are malloc'd strings (the
 * caller frees them); either pointer may be NULL when that output is not
 * wanted.  On failure both are set to NULL.
 * Returns O8_ENOTFOUND when the Network or the Gateway record is missing,
 * O8_EINVALID when a body does not decode or the gateway lists an eNodeB
 * that recs lack (the record is named, its content never), O8_ERR when out
 * of memory.
 */
enum o8_rc o8_mconfig_render(char **out_mconfig_json,
			     char **out_subscribers_json,
			     const struct o8_record *const *recs, size_t n,
			     const char *network, const char *gateway,
			     struct o8_err *err);

#endif
