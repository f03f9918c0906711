/*
 * schema.h - the repository format, described once as data.
 *
 * One table per kind lists every field of that kind's `spec` (path, type,
 * required, range or pattern, enum values, reference target, sensitive).
 * The loader, the validator, `orc8r schema` (text and JSON Schema) and the
 * orc8r-yaml(5) man page all read these tables; nothing else describes the
 * format.  The tables are static const data: no init, no state.
 *
 * Paths are relative to `spec`; a dot enters a map, "[]" enters the items of
 * a list: "epc.ipBlock", "flows[].match.ipProto".  A list has one row for
 * itself ("enodebs") and one for its items ("enodebs[]").  Each table is
 * sorted by strcmp on path (a unit test checks it) and searched by bsearch.
 */
#ifndef O8_SCHEMA_H
#define O8_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

enum o8_kind {
	O8_KIND_NONE = 0,
	O8_KIND_NETWORK,
	O8_KIND_GATEWAY,
	O8_KIND_ENODEB,
	O8_KIND_APN,
	O8_KIND_SUBSCRIBER,
	O8_KIND_SUBSCRIBERSET,
	O8_KIND_POLICYRULE,
	O8_KIND_TIER,
	O8_KIND__COUNT
};

enum o8_type {
	O8_T_STRING = 1,
	O8_T_INT,               /* integer; min/max bound the value */
	O8_T_NUMBER,            /* integer or decimal; min/max bound the value */
	O8_T_BOOL,
	O8_T_ENUM,              /* string, one of enums[] */
	O8_T_OBJECT,            /* map whose keys are the rows below it */
	O8_T_LIST,              /* sequence; min/max bound the item count;
				   the "path[]" row describes the items */
	O8_T_DICT,              /* map of free string keys to string values
				   (labels) */
};

enum o8_fmt {                   /* string formats, checked by code */
	O8_FMT_NONE = 0,
	O8_FMT_NAME,            /* DNS-1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, <= 63 */
	O8_FMT_IMSI,            /* 10-15 digits, optional "IMSI" prefix */
	O8_FMT_MCC,             /* 3 digits */
	O8_FMT_MNC,             /* 2-3 digits */
	O8_FMT_IPV4,            /* dotted quad */
	O8_FMT_CIDR4,           /* a.b.c.d/n */
	O8_FMT_HEX32,           /* 32 hex digits (128-bit key) */
	O8_FMT_UUID,            /* 8-4-4-4-12 hex */
	O8_FMT_SERIAL,          /* printable, no spaces, 1-64 chars */
	O8_FMT_HEX,             /* even number of hex digits */
	O8_FMT_DURATION,        /* "30s", "5m", "1h" */
	O8_FMT_APN,             /* APN name: [A-Za-z0-9._-], 1-100, dot-separated
				   labels starting and ending with a letter or digit */
	O8_FMT__COUNT
};

enum o8_field_flags {
	O8_F_REQUIRED = 1 << 0,
	O8_F_SENSITIVE = 1 << 1,  /* never printed: ki, opc */
	O8_F_UNIQUE_NET = 1 << 2, /* unique among objects of a network (imsi) */
	O8_F_UNIQUE_REPO = 1 << 3,/* unique in the whole repo (hardwareId, serial) */
};

struct o8_field {
	const char *path;
	enum o8_type type;
	unsigned flags;                 /* enum o8_field_flags */
	double min, max;                /* both 0: unbounded; STRING: length */
	enum o8_fmt fmt;                /* STRING only */
	const char *const *enums;       /* ENUM: NULL-terminated; INT, NUMBER: the
					   allowed values, as text, or NULL */
	enum o8_kind ref;               /* STRING (or list item): names an
					   object of this kind, same network */
	enum o8_kind spec_of;           /* OBJECT: items follow that kind's
					   spec table (SubscriberSet) */
	const char *def;                /* default, as YAML text, or NULL */
	const char *doc;                /* one line, lowercase, no full stop */
	const char *why;                /* why a value this row refuses (or its
					   absence) would fail on Magma, and what
					   to write instead: appended to the
					   validator's message; NULL: nothing */
};

struct o8_kind_schema {
	enum o8_kind kind;
	const char *name;               /* "Gateway" */
	const char *plural;             /* "gateways", for counts and docs */
	bool namespaced;                /* metadata.network required */
	const char *doc;                /* a paragraph for docs */
	const struct o8_field *fields;  /* sorted by path */
	size_t nfields;
	const char *example;            /* a complete YAML document */
	enum o8_fmt name_fmt;           /* metadata.name; O8_FMT_NONE means
					   O8_FMT_NAME (APNs take Magma's
					   APN names) */
};

/* The format of ks's metadata.name (O8_FMT_NAME unless the kind says). */
enum o8_fmt o8_schema_name_fmt(const struct o8_kind_schema *ks);

#define O8_API_VERSION "orc8r/v1"

/* The kind's table; NULL for O8_KIND_NONE or out of range. */
const struct o8_kind_schema *o8_schema_kind(enum o8_kind k);

/* Exact, case-sensitive name ("ENodeB"); NULL when unknown. */
const struct o8_kind_schema *o8_schema_kind_by_name(const char *name);

/* bsearch for path in ks->fields; NULL when absent. */
const struct o8_field *o8_schema_field(const struct o8_kind_schema *ks,
				       const char *path);

/* Human description of a format ("5-15 digits"), for messages and docs. */
const char *o8_schema_fmt_doc(enum o8_fmt f);

/*
 * The LTE band of downlink EARFCN earfcndl among the bands Magma's enodebd
 * can configure (its lte_utils.py table); 0 when it knows none, and then
 * enodebd refuses to configure a managed radio on it.  *tdd, when not
 * NULL, says whether the band is TDD.
 */
unsigned o8_schema_lte_band(double earfcndl, bool *tdd);

/* The bands o8_schema_lte_band knows, for messages and docs. */
#define O8_LTE_BANDS "bands 1-5 and 28 (FDD), 33-52 (TDD)"

/* Name of a type for messages and docs ("integer", "list", ...). */
const char *o8_schema_type_name(enum o8_type t);

/*
 * Checks s against format f.  Returns true when it matches.  Pure function,
 * safe from any thread.
 */
bool o8_schema_fmt_ok(enum o8_fmt f, const char *s, size_t len);

#endif
