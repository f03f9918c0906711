/*
 * record.c - the record kinds' names.  They equal the schema's kind names
 * (test_compile checks it), kept here so that the wire and the agent do not
 * need the schema tables to name what they carry.
 */
#include "proto/record.h"

static const char *const kind_names[O8_REC__COUNT] = {
	[O8_REC_NETWORK] = "Network",
	[O8_REC_GATEWAY] = "Gateway",
	[O8_REC_ENODEB] = "ENodeB",
	[O8_REC_APN] = "APN",
	[O8_REC_POLICY] = "PolicyRule",
	[O8_REC_SUBSCRIBER] = "Subscriber",
	[O8_REC_TIER] = "Tier",
};

const char *o8_rec_kind_name(enum o8_rec_kind k)
{
	if (k <= 0 || k >= O8_REC__COUNT)
		return "unknown";
	return kind_names[k];
}
