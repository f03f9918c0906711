/*
 * store_sqlite.c - the SQLite backend of store.h: one file, zero set-up,
 * one syncd.
 *
 * Durability: the database runs in WAL mode with synchronous=NORMAL.  A
 * commit is then in the write-ahead log (the OS's page cache) when it
 * returns, so it survives a crash of the process (kill -9 of syncd, the
 * requirement), and the database is never corrupted; only an OS crash or
 * power loss may drop the last few commits, which the AGWs repair anyway
 * (they report their version and digests when they reconnect).  FULL would
 * add an fsync per commit for a guarantee we do not need.
 *
 * Every statement that runs often is prepared once and kept; listings
 * prepare their own statement so that their callbacks may read the store
 * again.  Helpers return SQLite codes; each operation turns a failure into
 * one o8_err naming what it was doing, with SQLite's message, before
 * anything else (a rollback) can overwrite that message.
 */
#include "store.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The schema's history.  Step i takes a database from schema version i to
 * i + 1, in one transaction with the version stamp, so a crash leaves the
 * old schema or the new one.  Append only: a released step is never
 * edited, a change is a new step.
 */
static const struct {
	const char *what;
	const char *sql;
} migrations[] = {
	{ "agents, acked records, state reports, events",
	  /* agents.id keeps the child tables' rows small: an AGW acks every
	   * subscriber of its network, one row each */
	  "CREATE TABLE agents ("
	  " id INTEGER PRIMARY KEY,"
	  " network TEXT NOT NULL,"
	  " gateway TEXT NOT NULL,"
	  " acked_version INTEGER NOT NULL DEFAULT 0,"
	  " acked_commit TEXT,"
	  " desired_version INTEGER NOT NULL DEFAULT 0,"
	  " desired_commit TEXT,"
	  " failed_version INTEGER NOT NULL DEFAULT 0,"
	  " failed_reason TEXT,"
	  " last_seen INTEGER NOT NULL DEFAULT 0,"
	  " last_error TEXT,"
	  " cert_serial TEXT,"
	  " UNIQUE (network, gateway));"
	  "CREATE TABLE agent_digests ("
	  " agent INTEGER NOT NULL REFERENCES agents (id) ON DELETE CASCADE,"
	  " kind INTEGER NOT NULL CONSTRAINT kind_known CHECK (kind > 0),"
	  " digest BLOB NOT NULL CONSTRAINT digest_sha256 CHECK (length(digest) = 32),"
	  " PRIMARY KEY (agent, kind)) WITHOUT ROWID;"
	  "CREATE TABLE acked_records ("
	  " agent INTEGER NOT NULL REFERENCES agents (id) ON DELETE CASCADE,"
	  " kind INTEGER NOT NULL CONSTRAINT kind_known CHECK (kind > 0),"
	  " key TEXT NOT NULL CONSTRAINT key_not_empty CHECK (key <> ''),"
	  " digest BLOB NOT NULL CONSTRAINT digest_sha256 CHECK (length(digest) = 32),"
	  " PRIMARY KEY (agent, kind, key)) WITHOUT ROWID;"
	  "CREATE TABLE reports ("
	  " agent INTEGER PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,"
	  " version INTEGER NOT NULL,"
	  " received_at INTEGER NOT NULL,"
	  " status TEXT,"
	  " kpis TEXT);"
	  "CREATE TABLE report_history ("
	  " id INTEGER PRIMARY KEY,"
	  " agent INTEGER NOT NULL REFERENCES agents (id) ON DELETE CASCADE,"
	  " version INTEGER NOT NULL,"
	  " received_at INTEGER NOT NULL,"
	  " status TEXT,"
	  " kpis TEXT);"
	  "CREATE INDEX report_history_agent ON report_history (agent, id);"
	  /* AUTOINCREMENT: an id is never reused, even once old events are
	   * pruned, so a client's since_id keeps its meaning */
	  "CREATE TABLE events ("
	  " id INTEGER PRIMARY KEY AUTOINCREMENT,"
	  " time INTEGER NOT NULL,"
	  " network TEXT,"
	  " gateway TEXT,"
	  " who TEXT NOT NULL,"
	  " commit_id TEXT,"
	  " what TEXT NOT NULL,"
	  " result TEXT NOT NULL);"
	  "CREATE INDEX events_network ON events (network, id);"
	  "CREATE INDEX events_gateway ON events (gateway, id);" },
};

#define SCHEMA_NEWEST (sizeof(migrations) / sizeof(migrations[0]))

/* Settings made on every open, each checked by reading it back. */
static const struct {
	const char *set;
	const char *get;
	const char *want;       /* what get must answer */
	const char *what;
} pragmas[] = {
	{ "PRAGMA journal_mode = WAL", NULL, "wal", "write-ahead logging" },
	{ "PRAGMA synchronous = NORMAL", "PRAGMA synchronous", "1",
	  "synchronous=NORMAL" },
	{ "PRAGMA foreign_keys = ON", "PRAGMA foreign_keys", "1",
	  "foreign keys" },
};

/* The statements kept prepared, by purpose. */
enum st {
	ST_AGENT_ENSURE,
	ST_AGENT_ID,
	ST_AGENT_SEEN,
	ST_AGENT_DESIRED,
	ST_AGENT_FAILED,
	ST_AGENT_ERROR,
	ST_AGENT_ACKED,
	ST_AGENT_GET,
	ST_DIG_CLEAR,
	ST_DIG_INSERT,
	ST_DIG_GET,
	ST_REC_CLEAR,
	ST_REC_DELETE,
	ST_REC_UPSERT,
	ST_REPORT_PUT,
	ST_REPORT_GET,
	ST_HIST_ADD,
	ST_HIST_TRIM,
	ST_EVENT_ADD,
	ST__COUNT
};

#define AGENT_COLS \
	"network, gateway, acked_version, acked_commit, desired_version," \
	" desired_commit, failed_version, failed_reason, last_seen," \
	" last_error, cert_serial, id"

static const char *const st_sql[ST__COUNT] = {
	[ST_AGENT_ENSURE] =
		"INSERT INTO agents (network, gateway) VALUES (?1, ?2)"
		" ON CONFLICT (network, gateway) DO NOTHING",
	[ST_AGENT_ID] =
		"SELECT id, acked_version FROM agents"
		" WHERE network = ?1 AND gateway = ?2",
	[ST_AGENT_SEEN] =
		"INSERT INTO agents (network, gateway, last_seen, cert_serial)"
		" VALUES (?1, ?2, ?3, ?4)"
		" ON CONFLICT (network, gateway) DO UPDATE SET"
		" last_seen = excluded.last_seen,"
		" cert_serial = coalesce(excluded.cert_serial, cert_serial)",
	/* the WHERE makes an older version a no-op, which the caller sees
	 * as zero changes: one statement, no read-then-write race */
	[ST_AGENT_DESIRED] =
		"INSERT INTO agents (network, gateway, desired_version, desired_commit)"
		" VALUES (?1, ?2, ?3, ?4)"
		" ON CONFLICT (network, gateway) DO UPDATE SET"
		" desired_version = excluded.desired_version,"
		" desired_commit = excluded.desired_commit"
		" WHERE excluded.desired_version >= agents.desired_version",
	[ST_AGENT_FAILED] =
		"INSERT INTO agents (network, gateway, failed_version, failed_reason)"
		" VALUES (?1, ?2, ?3, ?4)"
		" ON CONFLICT (network, gateway) DO UPDATE SET"
		" failed_version = excluded.failed_version,"
		" failed_reason = excluded.failed_reason",
	[ST_AGENT_ERROR] =
		"INSERT INTO agents (network, gateway, last_error) VALUES (?1, ?2, ?3)"
		" ON CONFLICT (network, gateway) DO UPDATE SET"
		" last_error = excluded.last_error",
	[ST_AGENT_ACKED] =
		"UPDATE agents SET acked_version = ?2, acked_commit = ?3 WHERE id = ?1",
	[ST_AGENT_GET] =
		"SELECT " AGENT_COLS " FROM agents WHERE network = ?1 AND gateway = ?2",
	[ST_DIG_CLEAR] = "DELETE FROM agent_digests WHERE agent = ?1",
	[ST_DIG_INSERT] =
		"INSERT INTO agent_digests (agent, kind, digest) VALUES (?1, ?2, ?3)",
	[ST_DIG_GET] =
		"SELECT kind, digest FROM agent_digests WHERE agent = ?1 ORDER BY kind",
	[ST_REC_CLEAR] = "DELETE FROM acked_records WHERE agent = ?1",
	[ST_REC_DELETE] =
		"DELETE FROM acked_records WHERE agent = ?1 AND kind = ?2 AND key = ?3",
	[ST_REC_UPSERT] =
		"INSERT INTO acked_records (agent, kind, key, digest)"
		" VALUES (?1, ?2, ?3, ?4)"
		" ON CONFLICT (agent, kind, key) DO UPDATE SET digest = excluded.digest",
	[ST_REPORT_PUT] =
		"INSERT INTO reports (agent, version, received_at, status, kpis)"
		" VALUES (?1, ?2, ?3, ?4, ?5)"
		" ON CONFLICT (agent) DO UPDATE SET version = excluded.version,"
		" received_at = excluded.received_at, status = excluded.status,"
		" kpis = excluded.kpis",
	[ST_REPORT_GET] =
		"SELECT r.version, r.received_at, r.status, r.kpis"
		" FROM reports r JOIN agents a ON a.id = r.agent"
		" WHERE a.network = ?1 AND a.gateway = ?2",
	[ST_HIST_ADD] =
		"INSERT INTO report_history (agent, version, received_at, status, kpis)"
		" VALUES (?1, ?2, ?3, ?4, ?5)",
	/* keeps the ?2 newest: drops the (?2 + 1)-th newest and older */
	[ST_HIST_TRIM] =
		"DELETE FROM report_history WHERE agent = ?1 AND id <="
		" (SELECT id FROM report_history WHERE agent = ?1"
		"  ORDER BY id DESC LIMIT 1 OFFSET ?2)",
	[ST_EVENT_ADD] =
		"INSERT INTO events (time, network, gateway, who, commit_id, what, result)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
};

struct sq {
	sqlite3 *db;
	char *path;
	unsigned report_history;
	sqlite3_stmt *st[ST__COUNT];
};

/* --- errors -------------------------------------------------------------- */

/*
 * Records "<purpose>: <SQLite's message>".  Call it right after the
 * failing call: a rollback would replace the message.  Our own allocation
 * failures pass SQLITE_NOMEM, for which the connection holds no message.
 */
static enum o8_rc fail(struct sq *q, int code, struct o8_err *err,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum o8_rc fail(struct sq *q, int code, struct o8_err *err,
		       const char *fmt, ...)
{
	char what[400];
	va_list ap;
	enum o8_rc rc;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* a constraint is the caller's data breaking a rule of the schema */
	rc = (code & 0xff) == SQLITE_CONSTRAINT ? O8_EINVALID : O8_ERR;
	return o8_err_set(err, rc, NULL, 0, 0, "%s: %s", what,
			  code == SQLITE_NOMEM || !q->db ? sqlite3_errstr(code)
							 : sqlite3_errmsg(q->db));
}

/* --- statements ---------------------------------------------------------- */

static int prep(struct sq *q, enum st id, sqlite3_stmt **out)
{
	int r = SQLITE_OK;

	if (!q->st[id])
		r = sqlite3_prepare_v3(q->db, st_sql[id], -1,
				       SQLITE_PREPARE_PERSISTENT, &q->st[id], NULL);
	*out = q->st[id];
	return r;
}

/*
 * Binders accumulate into *r so a statement's bindings read as a list;
 * the first failure sticks.  Strings are SQLITE_STATIC: they outlive the
 * step, and every use binds every parameter again.
 */
static void b_text(sqlite3_stmt *st, int i, const char *s, int *r)
{
	if (*r == SQLITE_OK)
		*r = sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static void b_int(sqlite3_stmt *st, int i, int64_t v, int *r)
{
	if (*r == SQLITE_OK)
		*r = sqlite3_bind_int64(st, i, v);
}

static void b_blob(sqlite3_stmt *st, int i, const void *p, int n, int *r)
{
	if (*r == SQLITE_OK)
		*r = sqlite3_bind_blob(st, i, p, n, SQLITE_STATIC);
}

/* Steps a statement that returns nothing, and resets it. */
static int run(sqlite3_stmt *st, int bound)
{
	int r;

	if (bound != SQLITE_OK)
		return bound;
	r = sqlite3_step(st);
	sqlite3_reset(st);      /* keeps the connection's error message */
	return r == SQLITE_DONE || r == SQLITE_ROW ? SQLITE_OK : r;
}

static int exec(struct sq *q, const char *sql)
{
	return sqlite3_exec(q->db, sql, NULL, NULL, NULL);
}

/* A column as a malloc'd string; NULL stays NULL. */
static int col_dup(sqlite3_stmt *st, int i, char **out)
{
	const unsigned char *t;

	*out = NULL;
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return SQLITE_OK;
	t = sqlite3_column_text(st, i);
	if (!t || !(*out = strdup((const char *)t)))
		return SQLITE_NOMEM;
	return SQLITE_OK;
}

/* A column as a borrowed string (valid until the next step); NULL stays NULL. */
static const char *col_str(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

/* --- transactions -------------------------------------------------------- */

/*
 * An operation's own transaction: a new one when none is open (IMMEDIATE:
 * take the write lock before reading the version we check, so another
 * writer cannot slip in between), else a savepoint inside the caller's
 * batch so that a failure undoes only this operation.
 */
static int op_begin(struct sq *q, int *own)
{
	*own = sqlite3_get_autocommit(q->db);
	return exec(q, *own ? "BEGIN IMMEDIATE" : "SAVEPOINT o8_op");
}

static int op_commit(struct sq *q, int own)
{
	return exec(q, own ? "COMMIT" : "RELEASE o8_op");
}

/* Undoes the operation; its error was recorded already. */
static void op_abort(struct sq *q, int own)
{
	/* SQLite rolls back by itself on some errors (disk full, I/O): then
	 * there is nothing left to undo */
	if (sqlite3_get_autocommit(q->db))
		return;
	exec(q, own ? "ROLLBACK" : "ROLLBACK TO o8_op; RELEASE o8_op");
}

static enum o8_rc sq_begin(void *impl, struct o8_err *err)
{
	struct sq *q = impl;
	int r;

	if (!sqlite3_get_autocommit(q->db))
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "cannot begin a transaction: one is open "
				  "already (they do not nest)");
	r = exec(q, "BEGIN IMMEDIATE");
	return r == SQLITE_OK ? O8_OK
			      : fail(q, r, err, "cannot begin a transaction");
}

static enum o8_rc sq_commit(void *impl, struct o8_err *err)
{
	struct sq *q = impl;
	int r = exec(q, "COMMIT");

	return r == SQLITE_OK ? O8_OK
			      : fail(q, r, err, "cannot commit the transaction");
}

static enum o8_rc sq_rollback(void *impl, struct o8_err *err)
{
	struct sq *q = impl;
	int r;

	if (sqlite3_get_autocommit(q->db))
		return O8_OK;
	r = exec(q, "ROLLBACK");
	return r == SQLITE_OK ? O8_OK
			      : fail(q, r, err, "cannot roll the transaction back");
}

/* --- open, migrate, close ------------------------------------------------ */

/* The first column of a one-row query, as text into buf ("" for none). */
static int query1(struct sq *q, const char *sql, char *buf, size_t len)
{
	sqlite3_stmt *st;
	int r;

	buf[0] = '\0';
	r = sqlite3_prepare_v2(q->db, sql, -1, &st, NULL);
	if (r != SQLITE_OK)
		return r;
	r = sqlite3_step(st);
	if (r == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
	if (r == SQLITE_ROW || r == SQLITE_DONE)
		r = SQLITE_OK;
	sqlite3_finalize(st);   /* keeps the connection's error message */
	return r;
}

/*
 * The schema version, in the open transaction: 0 for an empty database
 * (*stamped false: schema_version must be created), O8_EINVALID for a
 * database that is not ours.
 */
static enum o8_rc read_version(struct sq *q, unsigned long *v, int *stamped,
			       struct o8_err *err)
{
	char buf[64];
	int r;

	*v = 0;
	*stamped = 0;
	r = query1(q, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
		   " AND name = 'schema_version'", buf, sizeof(buf));
	if (r != SQLITE_OK)
		return fail(q, r, err, "cannot open '%s'", q->path);
	if (!strcmp(buf, "0")) {
		r = query1(q, "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
			   buf, sizeof(buf));
		if (r != SQLITE_OK)
			return fail(q, r, err, "cannot open '%s'", q->path);
		if (strcmp(buf, "0"))
			return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
					  "cannot open '%s': it is an SQLite "
					  "database but not an orc8r store (it "
					  "has tables and no schema_version)",
					  q->path);
		return O8_OK;
	}
	r = query1(q, "SELECT version FROM schema_version", buf, sizeof(buf));
	if (r != SQLITE_OK)
		return fail(q, r, err, "cannot open '%s'", q->path);
	if (!*buf)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "cannot open '%s': its schema_version "
				  "table is empty", q->path);
	*v = strtoul(buf, NULL, 10);
	*stamped = 1;
	return O8_OK;
}

/*
 * Brings the schema to SCHEMA_NEWEST, one step per transaction.  Each
 * transaction reads the version again under the write lock, so two
 * processes opening a new database at once apply each step once.
 */
static enum o8_rc migrate(struct sq *q, struct o8_err *err)
{
	unsigned long v;
	enum o8_rc rc;
	char sql[128];
	int stamped, r;

	for (;;) {
		r = exec(q, "BEGIN IMMEDIATE");
		if (r != SQLITE_OK)
			return fail(q, r, err, "cannot open '%s': cannot lock "
				    "it to check its schema", q->path);
		rc = read_version(q, &v, &stamped, err);
		if (rc != O8_OK) {
			exec(q, "ROLLBACK");
			return rc;
		}
		if (v >= SCHEMA_NEWEST) {
			exec(q, "ROLLBACK");    /* read only: nothing to keep */
			if (v == SCHEMA_NEWEST)
				return O8_OK;
			return o8_err_set(err, O8_ECONFLICT, NULL, 0, 0,
					  "cannot open '%s': its schema version "
					  "is %lu, newer than this orc8r's (%zu); "
					  "it was written by a newer orc8r: "
					  "upgrade orc8r, or use another "
					  "database", q->path, v, SCHEMA_NEWEST);
		}
		if (!stamped)
			r = exec(q, "CREATE TABLE schema_version ("
				 " id INTEGER PRIMARY KEY CHECK (id = 1),"
				 " version INTEGER NOT NULL);"
				 "INSERT INTO schema_version VALUES (1, 0)");
		if (r == SQLITE_OK)
			r = exec(q, migrations[v].sql);
		snprintf(sql, sizeof(sql),
			 "UPDATE schema_version SET version = %lu", v + 1);
		if (r == SQLITE_OK)
			r = exec(q, sql);
		if (r == SQLITE_OK)
			r = exec(q, "COMMIT");
		if (r != SQLITE_OK) {
			rc = fail(q, r, err, "cannot migrate '%s' to schema "
				  "version %lu (%s)", q->path, v + 1,
				  migrations[v].what);
			if (!sqlite3_get_autocommit(q->db))
				exec(q, "ROLLBACK");
			return rc;
		}
	}
}

static void sq_close(void *impl)
{
	struct sq *q = impl;
	size_t i;

	if (!q)
		return;
	for (i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(q->st[i]);
	/* the last connection to close checkpoints the WAL into the file */
	sqlite3_close(q->db);
	free(q->path);
	free(q);
}

static enum o8_rc sq_open(void **impl, const char *path,
			  const struct o8_store_opts *opts, struct o8_err *err)
{
	struct sq *q;
	enum o8_rc rc;
	char got[32];
	size_t i;
	int r;

	*impl = NULL;
	q = calloc(1, sizeof(*q));
	if (!q || !(q->path = strdup(path))) {
		free(q);
		return o8_err_set(err, O8_ERR, NULL, 0, 0,
				  "cannot open '%s': out of memory", path);
	}
	q->report_history = opts->report_history;
	/* one thread per handle (store.h): no mutexes */
	r = sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE |
			    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (r != SQLITE_OK) {
		rc = fail(q, r, err, "cannot open '%s'", path);
		sq_close(q);
		return rc;
	}
	sqlite3_extended_result_codes(q->db, 1);
	sqlite3_busy_timeout(q->db, (int)(opts->busy_timeout_ms > 3600000
					  ? 3600000 : opts->busy_timeout_ms));
	for (i = 0; i < sizeof(pragmas) / sizeof(pragmas[0]); i++) {
		r = query1(q, pragmas[i].set, got, sizeof(got));
		if (r == SQLITE_OK && pragmas[i].get)
			r = query1(q, pragmas[i].get, got, sizeof(got));
		if (r != SQLITE_OK) {
			rc = fail(q, r, err, "cannot open '%s'", path);
			sq_close(q);
			return rc;
		}
		if (strcmp(got, pragmas[i].want)) {
			sq_close(q);
			return o8_err_set(err, O8_ERR, NULL, 0, 0,
					  "cannot open '%s': cannot turn on %s "
					  "(SQLite answered '%s')", path,
					  pragmas[i].what, got);
		}
	}
	rc = migrate(q, err);
	if (rc != O8_OK) {
		sq_close(q);
		return rc;
	}
	*impl = q;
	return O8_OK;
}

static enum o8_rc sq_check(void *impl, struct o8_err *err)
{
	struct sq *q = impl;
	char got[400];
	int r;

	r = query1(q, "PRAGMA integrity_check", got, sizeof(got));
	if (r != SQLITE_OK)
		return fail(q, r, err, "cannot check '%s'", q->path);
	if (strcmp(got, "ok"))
		return o8_err_set(err, O8_ERR, NULL, 0, 0,
				  "'%s' is damaged: %s", q->path, got);
	r = query1(q, "PRAGMA foreign_key_check", got, sizeof(got));
	if (r != SQLITE_OK)
		return fail(q, r, err, "cannot check '%s'", q->path);
	if (*got)
		return o8_err_set(err, O8_ERR, NULL, 0, 0,
				  "'%s' is damaged: table '%s' has rows "
				  "whose agent is gone", q->path, got);
	return O8_OK;
}

/* --- agents -------------------------------------------------------------- */

/*
 * The agent's row id and acked version; with create, makes the agent
 * first.  SQLITE_NOTFOUND when it does not exist.
 */
static int agent_row(struct sq *q, const char *net, const char *gw, int create,
		     int64_t *id, int64_t *acked)
{
	sqlite3_stmt *st;
	int r;

	if (create) {
		r = prep(q, ST_AGENT_ENSURE, &st);
		if (r != SQLITE_OK)
			return r;
		b_text(st, 1, net, &r);
		b_text(st, 2, gw, &r);
		r = run(st, r);
		if (r != SQLITE_OK)
			return r;
	}
	r = prep(q, ST_AGENT_ID, &st);
	if (r != SQLITE_OK)
		return r;
	b_text(st, 1, net, &r);
	b_text(st, 2, gw, &r);
	if (r != SQLITE_OK)
		return r;
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		if (acked)
			*acked = sqlite3_column_int64(st, 1);
		r = SQLITE_OK;
	} else if (r == SQLITE_DONE) {
		r = SQLITE_NOTFOUND;
	}
	sqlite3_reset(st);
	return r;
}

/* One "INSERT ... ON CONFLICT DO UPDATE" on the agent: (net, gw, v, text). */
static int agent_upsert(struct sq *q, enum st id, const char *net,
			const char *gw, int64_t v, int with_v, const char *text,
			int *changed)
{
	sqlite3_stmt *st;
	int r, i = 3;

	r = prep(q, id, &st);
	if (r != SQLITE_OK)
		return r;
	b_text(st, 1, net, &r);
	b_text(st, 2, gw, &r);
	if (with_v)
		b_int(st, i++, v, &r);
	b_text(st, i, text, &r);
	r = run(st, r);
	if (changed)
		*changed = sqlite3_changes(q->db);
	return r;
}

static enum o8_rc sq_agent_upsert_seen(void *impl, const char *net,
				       const char *gw, int64_t now,
				       const char *cert_serial,
				       struct o8_err *err)
{
	struct sq *q = impl;
	int r = agent_upsert(q, ST_AGENT_SEEN, net, gw, now, 1, cert_serial, NULL);

	return r == SQLITE_OK ? O8_OK
			      : fail(q, r, err, "cannot record that %s/%s "
				     "was seen", net, gw);
}

static enum o8_rc sq_agent_set_desired(void *impl, const char *net,
				       const char *gw, uint64_t version,
				       const char *commit, struct o8_err *err)
{
	struct sq *q = impl;
	sqlite3_stmt *st;
	int64_t cur = 0;
	int changed = 0;
	int r;

	r = agent_upsert(q, ST_AGENT_DESIRED, net, gw, (int64_t)version, 1,
			 commit, &changed);
	if (r != SQLITE_OK)
		return fail(q, r, err, "cannot set the desired version of "
			    "%s/%s", net, gw);
	if (changed)
		return O8_OK;
	/* refused by the statement's WHERE; read back only to word it */
	r = prep(q, ST_AGENT_GET, &st);
	b_text(st, 1, net, &r);
	b_text(st, 2, gw, &r);
	if (r == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		cur = sqlite3_column_int64(st, 4);
	if (st)
		sqlite3_reset(st);
	return o8_err_set(err, O8_ECONFLICT, NULL, 0, 0,
			  "cannot set the desired version of %s/%s to %llu: "
			  "it is at %lld already (versions only go up)",
			  net, gw, (unsigned long long)version, (long long)cur);
}

static enum o8_rc sq_agent_set_failed(void *impl, const char *net,
				      const char *gw, uint64_t version,
				      const char *reason, struct o8_err *err)
{
	struct sq *q = impl;
	int r = agent_upsert(q, ST_AGENT_FAILED, net, gw, (int64_t)version, 1,
			     reason, NULL);

	return r == SQLITE_OK ? O8_OK
			      : fail(q, r, err, "cannot record the failed "
				     "version of %s/%s", net, gw);
}

static enum o8_rc sq_agent_set_error(void *impl, const char *net,
				     const char *gw, const char *msg,
				     struct o8_err *err)
{
	struct sq *q = impl;
	int r = agent_upsert(q, ST_AGENT_ERROR, net, gw, 0, 0, msg, NULL);

	return r == SQLITE_OK ? O8_OK
			      : fail(q, r, err, "cannot record the last error "
				     "of %s/%s", net, gw);
}

/* The writes of an ack, inside its transaction. */
static int ack_apply(struct sq *q, int64_t id, const struct o8_store_ack *a,
		     size_t *bad)
{
	sqlite3_stmt *st;
	size_t i;
	int r;

	r = prep(q, ST_AGENT_ACKED, &st);
	b_int(st, 1, id, &r);
	b_int(st, 2, (int64_t)a->version, &r);
	b_text(st, 3, a->commit, &r);
	if ((r = run(st, r)) != SQLITE_OK)
		return r;

	if (a->full) {
		r = prep(q, ST_REC_CLEAR, &st);
		b_int(st, 1, id, &r);
		r = run(st, r);
	} else {
		r = prep(q, ST_REC_DELETE, &st);
		for (i = 0; r == SQLITE_OK && i < a->ndeletes; i++) {
			b_int(st, 1, id, &r);
			b_int(st, 2, a->deletes[i].kind, &r);
			b_text(st, 3, a->deletes[i].key, &r);
			r = run(st, r);
		}
	}
	if (r != SQLITE_OK)
		return r;

	r = prep(q, ST_REC_UPSERT, &st);
	for (i = 0; r == SQLITE_OK && i < a->nupserts; i++) {
		*bad = i;
		b_int(st, 1, id, &r);
		b_int(st, 2, a->upserts[i].kind, &r);
		b_text(st, 3, a->upserts[i].key, &r);
		b_blob(st, 4, a->upserts[i].digest, 32, &r);
		r = run(st, r);
	}
	if (r != SQLITE_OK)
		return r;
	*bad = (size_t)-1;

	r = prep(q, ST_DIG_CLEAR, &st);
	b_int(st, 1, id, &r);
	if ((r = run(st, r)) != SQLITE_OK)
		return r;
	r = prep(q, ST_DIG_INSERT, &st);
	for (i = 0; r == SQLITE_OK && i < a->ndigests; i++) {
		b_int(st, 1, id, &r);
		b_int(st, 2, a->digests[i].kind, &r);
		b_blob(st, 3, a->digests[i].digest, 32, &r);
		r = run(st, r);
	}
	return r;
}

static enum o8_rc sq_agent_ack(void *impl, const char *net, const char *gw,
			       const struct o8_store_ack *a, struct o8_err *err)
{
	struct sq *q = impl;
	int64_t id = 0, acked = 0;
	size_t bad = (size_t)-1;
	enum o8_rc rc;
	int own, r;

	r = op_begin(q, &own);
	if (r != SQLITE_OK)
		return fail(q, r, err, "cannot record the ack of %s/%s", net, gw);
	r = agent_row(q, net, gw, 1, &id, &acked);
	if (r == SQLITE_OK && (int64_t)a->version < acked) {
		op_abort(q, own);
		return o8_err_set(err, O8_ECONFLICT, NULL, 0, 0,
				  "cannot record the ack of %s/%s: version "
				  "%llu is older than the acked version %lld "
				  "(replays are refused)", net, gw,
				  (unsigned long long)a->version,
				  (long long)acked);
	}
	if (r == SQLITE_OK)
		r = ack_apply(q, id, a, &bad);
	if (r == SQLITE_OK)
		r = op_commit(q, own);
	if (r == SQLITE_OK)
		return O8_OK;
	if (bad != (size_t)-1)
		rc = fail(q, r, err, "cannot record the ack of %s/%s: record "
			  "%zu (kind %u, key '%s')", net, gw, bad,
			  a->upserts[bad].kind,
			  a->upserts[bad].key ? a->upserts[bad].key : "(null)");
	else
		rc = fail(q, r, err, "cannot record the ack of %s/%s", net, gw);
	op_abort(q, own);
	return rc;
}

/* Fills a from a row of AGENT_COLS (the last is the row id), then its digests. */
static int agent_fill(struct sq *q, sqlite3_stmt *row, struct o8_store_agent *a)
{
	static const struct {
		int col;
		size_t off;
	} strs[] = {
		{ 0, offsetof(struct o8_store_agent, network) },
		{ 1, offsetof(struct o8_store_agent, gateway) },
		{ 3, offsetof(struct o8_store_agent, acked_commit) },
		{ 5, offsetof(struct o8_store_agent, desired_commit) },
		{ 7, offsetof(struct o8_store_agent, failed_reason) },
		{ 9, offsetof(struct o8_store_agent, last_error) },
		{ 10, offsetof(struct o8_store_agent, cert_serial) },
	};
	sqlite3_stmt *st;
	size_t i, cap = 0;
	int r = SQLITE_OK;

	for (i = 0; r == SQLITE_OK && i < sizeof(strs) / sizeof(strs[0]); i++)
		r = col_dup(row, strs[i].col, (char **)((char *)a + strs[i].off));
	if (r != SQLITE_OK)
		return r;
	a->acked_version = (uint64_t)sqlite3_column_int64(row, 2);
	a->desired_version = (uint64_t)sqlite3_column_int64(row, 4);
	a->failed_version = (uint64_t)sqlite3_column_int64(row, 6);
	a->last_seen = sqlite3_column_int64(row, 8);

	r = prep(q, ST_DIG_GET, &st);
	b_int(st, 1, sqlite3_column_int64(row, 11), &r);
	while (r == SQLITE_OK && (r = sqlite3_step(st)) == SQLITE_ROW) {
		struct o8_store_digest *d;

		if (a->ndigests == cap) {
			cap = cap ? 2 * cap : 8;
			d = realloc(a->digests, cap * sizeof(*d));
			if (!d) {
				r = SQLITE_NOMEM;
				break;
			}
			a->digests = d;
		}
		d = &a->digests[a->ndigests++];
		d->kind = (unsigned)sqlite3_column_int64(st, 0);
		/* the schema checks the length */
		memcpy(d->digest, sqlite3_column_blob(st, 1), sizeof(d->digest));
		r = SQLITE_OK;
	}
	if (st)
		sqlite3_reset(st);
	return r == SQLITE_DONE ? SQLITE_OK : r;
}

static enum o8_rc sq_agent_get(void *impl, const char *net, const char *gw,
			       struct o8_store_agent *out, struct o8_err *err)
{
	struct sq *q = impl;
	sqlite3_stmt *st;
	int r;

	r = prep(q, ST_AGENT_GET, &st);
	b_text(st, 1, net, &r);
	b_text(st, 2, gw, &r);
	if (r == SQLITE_OK)
		r = sqlite3_step(st);
	if (r == SQLITE_DONE) {
		sqlite3_reset(st);
		return o8_err_set(err, O8_ENOTFOUND, NULL, 0, 0,
				  "no agent %s/%s", net, gw);
	}
	if (r == SQLITE_ROW)
		r = agent_fill(q, st, out);
	if (r != SQLITE_OK) {
		enum o8_rc rc = fail(q, r, err, "cannot read agent %s/%s", net, gw);

		if (st)
			sqlite3_reset(st);
		o8_store_agent_done(out);
		return rc;
	}
	sqlite3_reset(st);
	return O8_OK;
}

static enum o8_rc sq_agents_list(void *impl,
				 enum o8_rc (*cb)(const struct o8_store_agent *a,
						  void *payload),
				 void *payload, struct o8_err *err)
{
	struct sq *q = impl;
	struct o8_store_agent a;
	enum o8_rc rc = O8_OK;
	sqlite3_stmt *st;
	int r;

	r = sqlite3_prepare_v2(q->db, "SELECT " AGENT_COLS " FROM agents"
			       " ORDER BY network, gateway", -1, &st, NULL);
	while (r == SQLITE_OK && (r = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&a, 0, sizeof(a));
		r = agent_fill(q, st, &a);
		if (r == SQLITE_OK)
			rc = cb(&a, payload);
		o8_store_agent_done(&a);
		if (rc != O8_OK)
			break;
	}
	if (r != SQLITE_OK && r != SQLITE_DONE && rc == O8_OK)
		rc = fail(q, r, err, "cannot list the agents");
	sqlite3_finalize(st);
	return rc;
}

/*
 * Prepares sql (whose ?1 is the agent's row id) for the agent net/gw.
 * SQLITE_NOTFOUND (err set) when there is no such agent; other codes are
 * SQLite's, for the caller's message.
 */
static int agent_query(struct sq *q, const char *net, const char *gw,
		       const char *sql, sqlite3_stmt **st, struct o8_err *err)
{
	int64_t id = 0;
	int r = agent_row(q, net, gw, 0, &id, NULL);

	*st = NULL;
	if (r == SQLITE_NOTFOUND) {
		o8_err_set(err, O8_ENOTFOUND, NULL, 0, 0, "no agent %s/%s", net, gw);
		return r;
	}
	if (r == SQLITE_OK)
		r = sqlite3_prepare_v2(q->db, sql, -1, st, NULL);
	b_int(*st, 1, id, &r);
	return r;
}

static enum o8_rc sq_agent_records(void *impl, const char *net,
				   const char *gw,
				   enum o8_rc (*cb)(const struct o8_store_record *r,
						    void *payload),
				   void *payload, struct o8_err *err)
{
	struct sq *q = impl;
	struct o8_store_record rec;
	sqlite3_stmt *st = NULL;
	enum o8_rc rc = O8_OK;
	int r;

	r = agent_query(q, net, gw, "SELECT kind, key, digest FROM"
			" acked_records WHERE agent = ?1 ORDER BY kind, key",
			&st, err);
	if (r == SQLITE_NOTFOUND)
		return O8_ENOTFOUND;
	while (r == SQLITE_OK && (r = sqlite3_step(st)) == SQLITE_ROW) {
		rec.kind = (unsigned)sqlite3_column_int64(st, 0);
		rec.key = col_str(st, 1);
		memcpy(rec.digest, sqlite3_column_blob(st, 2), sizeof(rec.digest));
		if (!rec.key) {
			r = SQLITE_NOMEM;
			break;
		}
		rc = cb(&rec, payload);
		if (rc != O8_OK)
			break;
		r = SQLITE_OK;
	}
	if (r != SQLITE_OK && r != SQLITE_DONE && rc == O8_OK)
		rc = fail(q, r, err, "cannot read the acked records of %s/%s",
			  net, gw);
	sqlite3_finalize(st);
	return rc;
}

/* --- state reports ------------------------------------------------------- */

static int report_bind(sqlite3_stmt *st, int64_t id,
		       const struct o8_store_report *rep, int r)
{
	b_int(st, 1, id, &r);
	b_int(st, 2, (int64_t)rep->version, &r);
	b_int(st, 3, rep->received_at, &r);
	b_text(st, 4, rep->status, &r);
	b_text(st, 5, rep->kpis, &r);
	return r;
}

static enum o8_rc sq_report_put(void *impl, const char *net, const char *gw,
				const struct o8_store_report *rep,
				struct o8_err *err)
{
	struct sq *q = impl;
	sqlite3_stmt *st;
	enum o8_rc rc;
	int64_t id = 0;
	int own, r;

	r = op_begin(q, &own);
	if (r != SQLITE_OK)
		return fail(q, r, err, "cannot store the state report of %s/%s",
			    net, gw);
	r = agent_row(q, net, gw, 1, &id, NULL);
	if (r == SQLITE_OK && (r = prep(q, ST_REPORT_PUT, &st)) == SQLITE_OK)
		r = run(st, report_bind(st, id, rep, r));
	if (r == SQLITE_OK && q->report_history &&
	    (r = prep(q, ST_HIST_ADD, &st)) == SQLITE_OK)
		r = run(st, report_bind(st, id, rep, r));
	if (r == SQLITE_OK && (r = prep(q, ST_HIST_TRIM, &st)) == SQLITE_OK) {
		b_int(st, 1, id, &r);
		b_int(st, 2, q->report_history, &r);
		r = run(st, r);
	}
	if (r == SQLITE_OK)
		r = op_commit(q, own);
	if (r == SQLITE_OK)
		return O8_OK;
	rc = fail(q, r, err, "cannot store the state report of %s/%s", net, gw);
	op_abort(q, own);
	return rc;
}

static enum o8_rc sq_report_get(void *impl, const char *net, const char *gw,
				struct o8_store_report *out, struct o8_err *err)
{
	struct sq *q = impl;
	sqlite3_stmt *st;
	char *status = NULL, *kpis = NULL;
	int r;

	r = prep(q, ST_REPORT_GET, &st);
	b_text(st, 1, net, &r);
	b_text(st, 2, gw, &r);
	if (r == SQLITE_OK)
		r = sqlite3_step(st);
	if (r == SQLITE_DONE) {
		sqlite3_reset(st);
		return o8_err_set(err, O8_ENOTFOUND, NULL, 0, 0,
				  "%s/%s has sent no state report", net, gw);
	}
	if (r == SQLITE_ROW) {
		out->version = (uint64_t)sqlite3_column_int64(st, 0);
		out->received_at = sqlite3_column_int64(st, 1);
		r = col_dup(st, 2, &status);
		if (r == SQLITE_OK)
			r = col_dup(st, 3, &kpis);
		out->status = status;
		out->kpis = kpis;
	}
	if (r != SQLITE_OK) {
		enum o8_rc rc = fail(q, r, err, "cannot read the state report "
				     "of %s/%s", net, gw);

		if (st)
			sqlite3_reset(st);
		o8_store_report_done(out);
		return rc;
	}
	sqlite3_reset(st);
	return O8_OK;
}

static enum o8_rc sq_report_history(void *impl, const char *net,
				    const char *gw, unsigned limit,
				    enum o8_rc (*cb)(const struct o8_store_report *r,
						     void *payload),
				    void *payload, struct o8_err *err)
{
	struct sq *q = impl;
	struct o8_store_report rep;
	sqlite3_stmt *st = NULL;
	enum o8_rc rc = O8_OK;
	int r;

	r = agent_query(q, net, gw, "SELECT version, received_at, status, kpis"
			" FROM report_history WHERE agent = ?1 ORDER BY id DESC"
			" LIMIT ?2", &st, err);
	if (r == SQLITE_NOTFOUND)
		return O8_ENOTFOUND;
	b_int(st, 2, limit ? (int64_t)limit : -1, &r);       /* -1: no limit */
	while (r == SQLITE_OK && (r = sqlite3_step(st)) == SQLITE_ROW) {
		rep.version = (uint64_t)sqlite3_column_int64(st, 0);
		rep.received_at = sqlite3_column_int64(st, 1);
		rep.status = col_str(st, 2);
		rep.kpis = col_str(st, 3);
		rc = cb(&rep, payload);
		if (rc != O8_OK)
			break;
		r = SQLITE_OK;
	}
	if (r != SQLITE_OK && r != SQLITE_DONE && rc == O8_OK)
		rc = fail(q, r, err, "cannot read the report history of %s/%s",
			  net, gw);
	sqlite3_finalize(st);
	return rc;
}

/* --- events -------------------------------------------------------------- */

static enum o8_rc sq_event_add(void *impl, const struct o8_store_event *ev,
			       int64_t *id, struct o8_err *err)
{
	struct sq *q = impl;
	sqlite3_stmt *st;
	int r;

	r = prep(q, ST_EVENT_ADD, &st);
	b_int(st, 1, ev->time, &r);
	b_text(st, 2, ev->network, &r);
	b_text(st, 3, ev->gateway, &r);
	b_text(st, 4, ev->who, &r);
	b_text(st, 5, ev->commit, &r);
	b_text(st, 6, ev->what, &r);
	b_text(st, 7, ev->result, &r);
	r = run(st, r);
	if (r != SQLITE_OK)
		return fail(q, r, err, "cannot add the event '%s' by %s",
			    ev->what, ev->who);
	if (id)
		*id = sqlite3_last_insert_rowid(q->db);
	return O8_OK;
}

static enum o8_rc sq_events_list(void *impl,
				 const struct o8_store_event_filter *f,
				 enum o8_rc (*cb)(const struct o8_store_event *ev,
						  void *payload),
				 void *payload, struct o8_err *err)
{
	struct sq *q = impl;
	struct o8_store_event ev;
	sqlite3_stmt *st = NULL;
	enum o8_rc rc = O8_OK;
	char sql[320];
	int r;

	/* only the filters given become conditions, so that SQLite can use
	 * the (network, id) or (gateway, id) index */
	snprintf(sql, sizeof(sql), "SELECT id, time, network, gateway, who,"
		 " commit_id, what, result FROM events WHERE id > ?1%s%s"
		 " ORDER BY id DESC LIMIT ?4",
		 f->network ? " AND network = ?2" : "",
		 f->gateway ? " AND gateway = ?3" : "");
	r = sqlite3_prepare_v2(q->db, sql, -1, &st, NULL);
	b_int(st, 1, f->since_id, &r);
	if (f->network)
		b_text(st, 2, f->network, &r);
	if (f->gateway)
		b_text(st, 3, f->gateway, &r);
	b_int(st, 4, f->limit ? (int64_t)f->limit : -1, &r);
	while (r == SQLITE_OK && (r = sqlite3_step(st)) == SQLITE_ROW) {
		ev.id = sqlite3_column_int64(st, 0);
		ev.time = sqlite3_column_int64(st, 1);
		ev.network = col_str(st, 2);
		ev.gateway = col_str(st, 3);
		ev.who = col_str(st, 4);
		ev.commit = col_str(st, 5);
		ev.what = col_str(st, 6);
		ev.result = col_str(st, 7);
		rc = cb(&ev, payload);
		if (rc != O8_OK)
			break;
		r = SQLITE_OK;
	}
	if (r != SQLITE_OK && r != SQLITE_DONE && rc == O8_OK)
		rc = fail(q, r, err, "cannot list the events");
	sqlite3_finalize(st);
	return rc;
}

const struct o8_store__ops o8_store__sqlite = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.check = sq_check,
	.agent_upsert_seen = sq_agent_upsert_seen,
	.agent_set_desired = sq_agent_set_desired,
	.agent_set_failed = sq_agent_set_failed,
	.agent_set_error = sq_agent_set_error,
	.agent_ack = sq_agent_ack,
	.agent_get = sq_agent_get,
	.agent_records = sq_agent_records,
	.agents_list = sq_agents_list,
	.report_put = sq_report_put,
	.report_get = sq_report_get,
	.report_history = sq_report_history,
	.event_add = sq_event_add,
	.events_list = sq_events_list,
};
