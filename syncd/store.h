/*
 * store.h - syncd's memory: what each AGW acked, its last state report,
 * the audit log.  What survives a restart of syncd.
 *
 * One interface, two backends chosen by URL: "sqlite:/var/lib/orc8r/
 * syncd.db" or a plain path (SQLite, syncd/store_sqlite.c: the default, no
 * set-up), and "postgresql://..." or "postgres://..." (libpq's URL:
 * syncd/store_pg.c, a database that outlives the machine or pod).  Both
 * keep the same schema with the same migration steps.  The functions below
 * check their arguments and hand over to the backend through a table of
 * operations, so every backend passes the same tests
 * (test/unit/test_store.c, run as unit/test_store and pg/test_store).
 *
 * Data:
 * - an agent per (network, gateway): the version and commit it acked
 *   (versions only go up: an ack of an older version is refused with
 *   O8_ECONFLICT and changes nothing, so a replayed Ack cannot move an AGW
 *   back), its per-kind digests, the version syncd wants it at, the
 *   version it failed to apply (and why), when it was last seen, its last
 *   error and its certificate's serial;
 * - per agent, the records (kind, key, digest) it acked, so that after a
 *   restart syncd sends an AGW exactly the records it lacks;
 * - per agent, its last state report, and the last few reports' KPIs;
 * - the audit log: who did what to which commit, and how it went.
 *
 * A write is atomic on its own (an ack's version check, records and
 * digests land together or not at all).  o8_store_begin/commit/rollback
 * group several writes into one transaction (a batch of acks costs one
 * disk sync instead of one each).  An operation that fails inside such a
 * batch undoes only its own part; the caller then decides between commit
 * and rollback.
 *
 * Ownership: o8_store_agent_get and o8_store_report_get fill caller-owned
 * structs with malloc'd strings, released by o8_store_agent_done and
 * o8_store_report_done.  Everything a list function passes to its callback
 * is borrowed and valid only during that call: copy what you keep.
 * Callbacks may read the store (o8_store_*_get, o8_store_agent_records,
 * ...) but must not write to it nor begin/commit/rollback; returning
 * anything but O8_OK stops the listing, and the list function returns that
 * code (err is left to the callback).
 *
 * A struct o8_store is used by one thread at a time.  Never carry one
 * across fork(): open a new one in the child.
 */
#ifndef O8_STORE_H
#define O8_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct o8_store;

/* Options for o8_store_open_opts (transparent, with an _INIT macro). */
struct o8_store_opts {
	unsigned busy_timeout_ms;       /* how long to wait for another
					   writer before failing with
					   "database is locked" (PostgreSQL:
					   lock_timeout) */
	unsigned report_history;        /* state reports kept per agent
					   (KPI history); 0 keeps none */
};

#define O8_STORE_OPTS_INIT { 5000, 100 }

/*
 * Opens (creating it if needed) the store at url: "sqlite:PATH" or a plain
 * PATH (a relative path containing ':' must start with "./"), or a
 * PostgreSQL URL (the database must exist; syncd creates the tables in it;
 * what the URL leaves out libpq takes from PGHOST, PGPASSWORD, ~/.pgpass
 * and so on).  Messages never show the URL's user or password.  A new or
 * older database is migrated to this orc8r's schema; one written by a
 * newer orc8r is refused with O8_ECONFLICT, and a database that is not an
 * orc8r store with O8_EINVALID.  An unknown or unsupported URL scheme is
 * O8_EINVALID.  The parent directory must exist.  opts may be NULL.
 * *out belongs to the caller: o8_store_close it.
 */
enum o8_rc o8_store_open(struct o8_store **out, const char *url,
			 struct o8_err *err);
enum o8_rc o8_store_open_opts(struct o8_store **out, const char *url,
			      const struct o8_store_opts *opts,
			      struct o8_err *err);

/* Closes s, rolling back a transaction left open.  NULL is a no-op. */
void o8_store_close(struct o8_store *s);

/*
 * Groups the writes that follow into one transaction, taking the write
 * lock now (so a batch never fails half-way for lack of it).  Transactions
 * do not nest.  o8_store_rollback without a transaction is a no-op.
 */
enum o8_rc o8_store_begin(struct o8_store *s, struct o8_err *err);
enum o8_rc o8_store_commit(struct o8_store *s, struct o8_err *err);
enum o8_rc o8_store_rollback(struct o8_store *s, struct o8_err *err);

/*
 * Checks the database's consistency (SQLite: integrity and foreign keys;
 * PostgreSQL checks those itself: that the schema is still ours).
 */
enum o8_rc o8_store_check(struct o8_store *s, struct o8_err *err);

/* --- agents -------------------------------------------------------------- */

/*
 * A record kind is the value of enum o8_rec_kind (compile.h), which the
 * wire carries too; the store keeps it as a number and does not interpret
 * it beyond refusing 0.
 */
struct o8_store_digest {
	unsigned kind;
	uint8_t digest[32];
};

struct o8_store_record {
	unsigned kind;
	const char *key;        /* as in struct o8_record: not empty */
	uint8_t digest[32];     /* ignored in o8_store_ack.deletes */
};

/*
 * One agent.  From o8_store_agent_get every pointer is malloc'd and owned
 * by the struct (o8_store_agent_done); from o8_store_agents_list they are
 * borrowed for the callback.  A NULL string: never set.
 */
struct o8_store_agent {
	char *network;
	char *gateway;
	uint64_t acked_version;         /* 0: never acked */
	char *acked_commit;             /* git commit id (hex) of that version */
	struct o8_store_digest *digests;        /* the acked per-kind digests, */
	size_t ndigests;                        /* sorted by kind */
	uint64_t desired_version;       /* what syncd wants it at; 0: nothing */
	char *desired_commit;
	uint64_t failed_version;        /* last version it failed to apply; 0: none */
	char *failed_reason;
	int64_t last_seen;              /* unix time, seconds; 0: never */
	char *last_error;
	char *cert_serial;              /* of the client certificate, hex */
};

void o8_store_agent_done(struct o8_store_agent *a);

/*
 * Records that the agent connected at time now (unix seconds), creating it
 * if new.  cert_serial NULL keeps the stored one.
 */
enum o8_rc o8_store_agent_upsert_seen(struct o8_store *s, const char *network,
				      const char *gateway, int64_t now,
				      const char *cert_serial,
				      struct o8_err *err);

/*
 * Sets the version (and its commit, may be NULL) syncd wants the agent at,
 * creating the agent if new.  Desired versions only go up: an older one is
 * refused with O8_ECONFLICT (a lagging replica cannot move it back); the
 * same one is accepted.
 */
enum o8_rc o8_store_agent_set_desired(struct o8_store *s, const char *network,
				      const char *gateway, uint64_t version,
				      const char *commit, struct o8_err *err);

/*
 * Records that the agent failed to apply version (it reverted by itself:
 * commit-confirmed), and why, so syncd does not push it again.  Version 0
 * and reason NULL clear it.
 */
enum o8_rc o8_store_agent_set_failed(struct o8_store *s, const char *network,
				     const char *gateway, uint64_t version,
				     const char *reason, struct o8_err *err);

/* Sets the agent's last error (a closed connection's reason); NULL clears. */
enum o8_rc o8_store_agent_set_error(struct o8_store *s, const char *network,
				    const char *gateway, const char *msg,
				    struct o8_err *err);

/*
 * What an agent acked (transparent, with an _INIT macro).  Deletes are
 * applied before upserts; deleting an absent record is not an error.  With
 * full (the delta was from empty: a snapshot), the agent's records become
 * exactly upserts and deletes are ignored.
 */
struct o8_store_ack {
	uint64_t version;               /* > 0 */
	const char *commit;             /* may be NULL */
	const struct o8_store_digest *digests;  /* replaces the agent's set */
	size_t ndigests;
	const struct o8_store_record *upserts;
	size_t nupserts;
	const struct o8_store_record *deletes;
	size_t ndeletes;
	bool full;
};

#define O8_STORE_ACK_INIT { 0, NULL, NULL, 0, NULL, 0, NULL, 0, false }

/*
 * Records an ack, creating the agent if new: version check, records and
 * digests in one transaction.  A version older than the acked one is
 * refused with O8_ECONFLICT and changes nothing; the same version is
 * accepted (an AGW that reconnects reports it again).
 */
enum o8_rc o8_store_agent_ack(struct o8_store *s, const char *network,
			      const char *gateway, const struct o8_store_ack *a,
			      struct o8_err *err);

/* Fills *out (caller-owned, see above).  O8_ENOTFOUND for an unknown agent. */
enum o8_rc o8_store_agent_get(struct o8_store *s, const char *network,
			      const char *gateway, struct o8_store_agent *out,
			      struct o8_err *err);

/*
 * Calls cb for each record the agent acked, sorted by kind then key
 * (bytewise), the order of compile.h's records, so the caller can merge
 * the two sets in one pass.  O8_ENOTFOUND for an unknown agent.
 */
enum o8_rc o8_store_agent_records(struct o8_store *s, const char *network,
				  const char *gateway,
				  enum o8_rc (*cb)(const struct o8_store_record *r,
						   void *payload),
				  void *payload, struct o8_err *err);

/* Calls cb for every agent, sorted by network then gateway. */
enum o8_rc o8_store_agents_list(struct o8_store *s,
				enum o8_rc (*cb)(const struct o8_store_agent *a,
						 void *payload),
				void *payload, struct o8_err *err);

/* --- state reports ------------------------------------------------------- */

/*
 * A state report.  From o8_store_report_get the strings are malloc'd
 * (o8_store_report_done); from o8_store_report_history, borrowed.
 */
struct o8_store_report {
	uint64_t version;       /* the version the AGW runs */
	int64_t received_at;    /* unix time, seconds */
	const char *status;     /* may be NULL */
	const char *kpis;       /* JSON text, may be NULL */
};

void o8_store_report_done(struct o8_store_report *r);

/*
 * Stores r as the agent's last report (replacing the previous one) and
 * adds it to its history, dropping the oldest beyond opts.report_history.
 * Creates the agent if new.
 */
enum o8_rc o8_store_report_put(struct o8_store *s, const char *network,
			       const char *gateway,
			       const struct o8_store_report *r,
			       struct o8_err *err);

/* The agent's last report.  O8_ENOTFOUND when it never reported. */
enum o8_rc o8_store_report_get(struct o8_store *s, const char *network,
			       const char *gateway, struct o8_store_report *out,
			       struct o8_err *err);

/* Calls cb for the agent's kept reports, newest first; limit 0: all. */
enum o8_rc o8_store_report_history(struct o8_store *s, const char *network,
				   const char *gateway, unsigned limit,
				   enum o8_rc (*cb)(const struct o8_store_report *r,
						    void *payload),
				   void *payload, struct o8_err *err);

/* --- events (the audit log) ---------------------------------------------- */

struct o8_store_event {
	int64_t id;             /* set by the store, growing; ignored by _add */
	int64_t time;           /* unix time, seconds */
	const char *network;    /* NULL: not about one network (a webhook) */
	const char *gateway;    /* NULL: not about one gateway */
	const char *who;        /* "syncd", "webhook", an operator's id */
	const char *commit;     /* git commit id, may be NULL */
	const char *what;       /* "push version 7", "ack", ... */
	const char *result;     /* "ok", "refused: ...", ... */
};

/* Appends ev to the log; *id (may be NULL) receives its id. */
enum o8_rc o8_store_event_add(struct o8_store *s,
			      const struct o8_store_event *ev, int64_t *id,
			      struct o8_err *err);

/* Which events o8_store_events_list returns (transparent, _INIT macro). */
struct o8_store_event_filter {
	const char *network;    /* NULL: any */
	const char *gateway;    /* NULL: any */
	int64_t since_id;       /* only events with a greater id */
	unsigned limit;         /* at most this many, the newest; 0: all */
};

#define O8_STORE_EVENT_FILTER_INIT { NULL, NULL, 0, 100 }

/* Calls cb for the matching events, newest first.  f may be NULL (_INIT). */
enum o8_rc o8_store_events_list(struct o8_store *s,
				const struct o8_store_event_filter *f,
				enum o8_rc (*cb)(const struct o8_store_event *ev,
						 void *payload),
				void *payload, struct o8_err *err);

/* --- backend interface: for syncd/store*.c only -------------------------- */

/*
 * A backend's operations.  impl is what its open returned.  store.c has
 * already checked the arguments (non-NULL network and gateway, and so on)
 * and fills opts with defaults; a backend adds the statement's purpose and
 * the database's message to every error it reports.
 */
struct o8_store__ops {
	const char *name;       /* "sqlite" */
	enum o8_rc (*open)(void **impl, const char *target,
			   const struct o8_store_opts *opts, struct o8_err *err);
	void (*close)(void *impl);
	enum o8_rc (*begin)(void *impl, struct o8_err *err);
	enum o8_rc (*commit)(void *impl, struct o8_err *err);
	enum o8_rc (*rollback)(void *impl, struct o8_err *err);
	enum o8_rc (*check)(void *impl, struct o8_err *err);
	enum o8_rc (*agent_upsert_seen)(void *impl, const char *network,
					const char *gateway, int64_t now,
					const char *cert_serial,
					struct o8_err *err);
	enum o8_rc (*agent_set_desired)(void *impl, const char *network,
					const char *gateway, uint64_t version,
					const char *commit, struct o8_err *err);
	enum o8_rc (*agent_set_failed)(void *impl, const char *network,
				       const char *gateway, uint64_t version,
				       const char *reason, struct o8_err *err);
	enum o8_rc (*agent_set_error)(void *impl, const char *network,
				      const char *gateway, const char *msg,
				      struct o8_err *err);
	enum o8_rc (*agent_ack)(void *impl, const char *network,
				const char *gateway,
				const struct o8_store_ack *a,
				struct o8_err *err);
	enum o8_rc (*agent_get)(void *impl, const char *network,
				const char *gateway, struct o8_store_agent *out,
				struct o8_err *err);
	enum o8_rc (*agent_records)(void *impl, const char *network,
				    const char *gateway,
				    enum o8_rc (*cb)(const struct o8_store_record *r,
						     void *payload),
				    void *payload, struct o8_err *err);
	enum o8_rc (*agents_list)(void *impl,
				  enum o8_rc (*cb)(const struct o8_store_agent *a,
						   void *payload),
				  void *payload, struct o8_err *err);
	enum o8_rc (*report_put)(void *impl, const char *network,
				 const char *gateway,
				 const struct o8_store_report *r,
				 struct o8_err *err);
	enum o8_rc (*report_get)(void *impl, const char *network,
				 const char *gateway,
				 struct o8_store_report *out, struct o8_err *err);
	enum o8_rc (*report_history)(void *impl, const char *network,
				     const char *gateway, unsigned limit,
				     enum o8_rc (*cb)(const struct o8_store_report *r,
						      void *payload),
				     void *payload, struct o8_err *err);
	enum o8_rc (*event_add)(void *impl, const struct o8_store_event *ev,
				int64_t *id, struct o8_err *err);
	enum o8_rc (*events_list)(void *impl,
				  const struct o8_store_event_filter *f,
				  enum o8_rc (*cb)(const struct o8_store_event *ev,
						   void *payload),
				  void *payload, struct o8_err *err);
};

extern const struct o8_store__ops o8_store__sqlite;
extern const struct o8_store__ops o8_store__pg;

#endif
