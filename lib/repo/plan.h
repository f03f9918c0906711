/*
 * plan.h - what a change does: an object-level plan between two record
 * sets, who receives it, and its renderings (text, JSON, Markdown).
 *
 * Objects pair up by (network, kind, key).  One present only in head is
 * created, only in base destroyed, in both with a different digest updated
 * in place (field by field).  A destroyed and a created object of one kind
 * and network with the same name are one replace ("-/+", the key changed:
 * an eNodeB's serial, a subscriber's IMSI).
 *
 * base and head need only hold the records of the files that differ: an
 * unchanged file contributes the same records to both sides.  The gateway
 * lists must be complete, since every gateway of a network receives its
 * network-wide records (network, APNs, policies, subscribers).
 */
#ifndef O8_PLAN_H
#define O8_PLAN_H

#include <stdio.h>

#include "repo/compile.h"
#include "util/err.h"

enum o8_plan_action { O8_PLAN_CREATE = 1, O8_PLAN_UPDATE, O8_PLAN_DESTROY, O8_PLAN_REPLACE };

struct o8_plan_field {
	const char *path;
	const char *old;        /* NULL when the field is new */
	const char *new;        /* NULL when the field is gone */
};

struct o8_plan_change {
	enum o8_plan_action action;
	enum o8_rec_kind kind;
	const char *network;
	const char *name;       /* for people; a subscriber's is "IMSI..." */
	const char *old_key, *new_key;  /* NULL on the side that has none */
	const char *doc;        /* the document's metadata.name: a destroy and
				   a create from one document are a replace */
	const struct o8_plan_field *fields;     /* create/update/replace */
	size_t nfields;
};

struct o8_plan_gateway {
	const char *network, *name;
	size_t upserts, deletes;        /* records this AGW will be sent */
};

struct o8_plan {
	const struct o8_plan_change *changes;   /* by network, kind, name */
	size_t nchanges;
	const struct o8_plan_gateway *gateways; /* affected only, by network, name */
	size_t ngateways;
	size_t add, change, destroy;    /* a replace counts as add + destroy */
	size_t networks;                /* networks with an affected gateway */
};

/* How many network-wide records (the Network, APNs, PolicyRules,
 * subscribers) a network has: what a new gateway is sent besides its own. */
struct o8_plan_netsize {
	const char *network;
	size_t records;
};

/* The gateways of one side: every GATEWAY record (borrowed), and for head
 * the size of each network (sorted by network; may be empty). */
struct o8_plan_gws {
	const struct o8_record *const *v;
	size_t n;
	const struct o8_plan_netsize *sizes;
	size_t nsizes;
};

/*
 * Builds the plan from base to head.  *out owns its memory and borrows
 * strings from the record sets: free it first.
 */
enum o8_rc o8_plan_build(struct o8_plan **out, const struct o8_records *base,
			 const struct o8_records *head,
			 const struct o8_plan_gws *base_gws,
			 const struct o8_plan_gws *head_gws, struct o8_err *err);

void o8_plan_free(struct o8_plan *p);   /* NULL is a no-op */

/* Every GATEWAY record of r, for o8_plan_build; free v with free(). */
enum o8_rc o8_plan_gws_of(struct o8_plan_gws *out, const struct o8_records *r,
			  struct o8_err *err);

/* "create", "update", "destroy", "replace"; symbols "+", "~", "-", "-/+". */
const char *o8_plan_action_name(enum o8_plan_action a);
const char *o8_plan_action_symbol(enum o8_plan_action a);

/* Renderings, written to f.  color: ANSI colours for a terminal. */
int o8_plan_render_text(FILE *f, const struct o8_plan *p, int color);
int o8_plan_render_json(FILE *f, const struct o8_plan *p);

/* For a pull-request comment: a summary table, one <details> per network,
 * at most max_lines change lines in all ("... and N more"). */
int o8_plan_render_markdown(FILE *f, const struct o8_plan *p, size_t max_lines);

#endif
