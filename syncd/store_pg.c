/*
 * store_pg.c - the PostgreSQL backend of store.h: one database that
 * outlives a pod, for syncd on Kubernetes with a managed database (RDS).
 *
 * The schema is store_sqlite.c's, table for table and constraint for
 * constraint, in PostgreSQL's dialect (identity columns for row ids, bytea
 * for digests, COLLATE "C" where SQLite's BINARY sorts bytewise), with the
 * same migration steps: step i here is step i there.
 *
 * Transactions mirror SQLite's: an operation runs in a transaction of its
 * own, or in a savepoint inside the caller's batch, so a failure undoes
 * only that operation.  SQLite's IMMEDIATE lock becomes a row lock: an ack
 * reads the acked version with FOR UPDATE, so two writers of one agent
 * queue instead of both passing the version check.
 *
 * Statements that run often are prepared once per connection (by name) and
 * results come back whole, so a listing's callback may query the store
 * again.  The URL is never repeated in a message with its user, password
 * or parameters: messages name the database as host/dbname.
 */
#include "store.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

/*
 * The schema's history, in step with store_sqlite.c's migrations[].  Each
 * step runs in one transaction with the version stamp, under an advisory
 * lock, so replicas opening a new database at once apply it once.  Append
 * only.
 */
static const struct {
	const char *what;
	const char *sql;
} migrations[] = {
	{ "agents, acked records, state reports, events",
	  "CREATE TABLE agents ("
	  " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	  " network TEXT COLLATE \"C\" NOT NULL,"
	  " gateway TEXT COLLATE \"C\" NOT NULL,"
	  " acked_version BIGINT NOT NULL DEFAULT 0,"
	  " acked_commit TEXT,"
	  " desired_version BIGINT NOT NULL DEFAULT 0,"
	  " desired_commit TEXT,"
	  " failed_version BIGINT NOT NULL DEFAULT 0,"
	  " failed_reason TEXT,"
	  " last_seen BIGINT NOT NULL DEFAULT 0,"
	  " last_error TEXT,"
	  " cert_serial TEXT,"
	  " UNIQUE (network, gateway));"
	  "CREATE TABLE agent_digests ("
	  " agent BIGINT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,"
	  " kind INTEGER NOT NULL CONSTRAINT kind_known CHECK (kind > 0),"
	  " digest BYTEA NOT NULL CONSTRAINT digest_sha256 CHECK (length(digest) = 32),"
	  " PRIMARY KEY (agent, kind));"
	  "CREATE TABLE acked_records ("
	  " agent BIGINT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,"
	  " kind INTEGER NOT NULL CONSTRAINT kind_known CHECK (kind > 0),"
	  " key TEXT COLLATE \"C\" NOT NULL CONSTRAINT key_not_empty CHECK (key <> ''),"
	  " digest BYTEA NOT NULL CONSTRAINT digest_sha256 CHECK (length(digest) = 32),"
	  " PRIMARY KEY (agent, kind, key));"
	  "CREATE TABLE reports ("
	  " agent BIGINT PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,"
	  " version BIGINT NOT NULL,"
	  " received_at BIGINT NOT NULL,"
	  " status TEXT,"
	  " kpis TEXT);"
	  "CREATE TABLE report_history ("
	  " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	  " agent BIGINT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,"
	  " version BIGINT NOT NULL,"
	  " received_at BIGINT NOT NULL,"
	  " status TEXT,"
	  " kpis TEXT);"
	  "CREATE INDEX report_history_agent ON report_history (agent, id);"
	  /* an identity never hands out an id twice: since_id keeps its
	   * meaning, as with SQLite's AUTOINCREMENT */
	  "CREATE TABLE events ("
	  " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	  " time BIGINT NOT NULL,"
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

/* pg_advisory_xact_lock's key for migrations: "o8store" in ASCII. */
#define MIGRATE_LOCK "31305790940738149"

enum st {
	ST_AGENT_ENSURE,
	ST_AGENT_ID,
	ST_AGENT_LOCK,
	ST_AGENT_SEEN,
	ST_AGENT_DESIRED,
	ST_AGENT_FAILED,
	ST_AGENT_ERROR,
	ST_AGENT_ACKED,
	ST_AGENT_GET,
	ST_AGENTS_ALL,
	ST_DIG_CLEAR,
	ST_DIG_INSERT,
	ST_DIG_GET,
	ST_REC_CLEAR,
	ST_REC_DELETE,
	ST_REC_UPSERT,
	ST_REC_LIST,
	ST_REPORT_PUT,
	ST_REPORT_GET,
	ST_HIST_ADD,
	ST_HIST_TRIM,
	ST_HIST_LIST,
	ST_EVENT_ADD,
	ST__COUNT
};

#define AGENT_COLS \
	"network, gateway, acked_version, acked_commit, desired_version," \
	" desired_commit, failed_version, failed_reason, last_seen," \
	" last_error, cert_serial, id"

static const char *const st_sql[ST__COUNT] = {
	[ST_AGENT_ENSURE] =
		"INSERT INTO agents (network, gateway) VALUES ($1, $2)"
		" ON CONFLICT (network, gateway) DO NOTHING",
	[ST_AGENT_ID] =
		"SELECT id, acked_version FROM agents"
		" WHERE network = $1 AND gateway = $2",
	/* the ack's version check holds until the ack commits */
	[ST_AGENT_LOCK] =
		"SELECT id, acked_version FROM agents"
		" WHERE network = $1 AND gateway = $2 FOR UPDATE",
	[ST_AGENT_SEEN] =
		"INSERT INTO agents (network, gateway, last_seen, cert_serial)"
		" VALUES ($1, $2, $3, $4)"
		" ON CONFLICT (network, gateway) DO UPDATE SET"
		" last_seen = excluded.last_seen,"
		" cert_serial = coalesce(excluded.cert_serial, agents.cert_serial)",
	/* as in SQLite: an older version changes no row */
	[ST_AGENT_DESIRED] =
		"INSERT INTO agents (network, gateway, desired_version, desired_commit)"
		" VALUES ($1, $2, $3, $4)"
		" ON CONFLICT (network, gateway) DO UPDATE SET"
		" desired_version = excluded.desired_version,"
		" desired_commit = excluded.desired_commit"
		" WHERE excluded.desired_version >= agents.desired_version",
	[ST_AGENT_FAILED] =
		"INSERT INTO agents (network, gateway, failed_version, failed_reason)"
		" VALUES ($1, $2, $3, $4)"
		" ON CONFLICT (network, gateway) DO UPDATE SET"
		" failed_version = excluded.failed_version,"
		" failed_reason = excluded.failed_reason",
	[ST_AGENT_ERROR] =
		"INSERT INTO agents (network, gateway, last_error) VALUES ($1, $2, $3)"
		" ON CONFLICT (network, gateway) DO UPDATE SET"
		" last_error = excluded.last_error",
	[ST_AGENT_ACKED] =
		"UPDATE agents SET acked_version = $2, acked_commit = $3 WHERE id = $1",
	[ST_AGENT_GET] =
		"SELECT " AGENT_COLS " FROM agents WHERE network = $1 AND gateway = $2",
	[ST_AGENTS_ALL] =
		"SELECT " AGENT_COLS " FROM agents ORDER BY network, gateway",
	[ST_DIG_CLEAR] = "DELETE FROM agent_digests WHERE agent = $1",
	[ST_DIG_INSERT] =
		"INSERT INTO agent_digests (agent, kind, digest) VALUES ($1, $2, $3)",
	[ST_DIG_GET] =
		"SELECT kind, digest FROM agent_digests WHERE agent = $1 ORDER BY kind",
	[ST_REC_CLEAR] = "DELETE FROM acked_records WHERE agent = $1",
	[ST_REC_DELETE] =
		"DELETE FROM acked_records WHERE agent = $1 AND kind = $2 AND key = $3",
	[ST_REC_UPSERT] =
		"INSERT INTO acked_records (agent, kind, key, digest)"
		" VALUES ($1, $2, $3, $4)"
		" ON CONFLICT (agent, kind, key) DO UPDATE SET digest = excluded.digest",
	[ST_REC_LIST] =
		"SELECT kind, key, digest FROM acked_records WHERE agent = $1"
		" ORDER BY kind, key",
	[ST_REPORT_PUT] =
		"INSERT INTO reports (agent, version, received_at, status, kpis)"
		" VALUES ($1, $2, $3, $4, $5)"
		" ON CONFLICT (agent) DO UPDATE SET version = excluded.version,"
		" received_at = excluded.received_at, status = excluded.status,"
		" kpis = excluded.kpis",
	[ST_REPORT_GET] =
		"SELECT r.version, r.received_at, r.status, r.kpis"
		" FROM reports r JOIN agents a ON a.id = r.agent"
		" WHERE a.network = $1 AND a.gateway = $2",
	[ST_HIST_ADD] =
		"INSERT INTO report_history (agent, version, received_at, status, kpis)"
		" VALUES ($1, $2, $3, $4, $5)",
	[ST_HIST_TRIM] =
		"DELETE FROM report_history WHERE agent = $1 AND id <="
		" (SELECT id FROM report_history WHERE agent = $1"
		"  ORDER BY id DESC LIMIT 1 OFFSET $2)",
	/* LIMIT NULL is no limit */
	[ST_HIST_LIST] =
		"SELECT version, received_at, status, kpis FROM report_history"
		" WHERE agent = $1 ORDER BY id DESC LIMIT $2",
	[ST_EVENT_ADD] =
		"INSERT INTO events (time, network, gateway, who, commit_id, what, result)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
};

struct pg {
	PGconn *db;
	char *where;            /* host/dbname: for messages, no secrets */
	unsigned report_history;
	unsigned lock_timeout_ms;
	PGresult *bad;          /* the last failed statement's result */
	bool oom;               /* the last failure was ours: out of memory */
	bool batch;             /* o8_store_begin's transaction is open */
	bool prepared[ST__COUNT];
};

/* --- errors -------------------------------------------------------------- */

/* PostgreSQL's words for the last failure, without libpq's newline. */
static void db_message(struct pg *q, char *buf, size_t len)
{
	const char *m = NULL;
	size_t n;

	if (q->oom)
		m = "out of memory";
	if (!m && q->bad)
		m = PQresultErrorField(q->bad, PG_DIAG_MESSAGE_PRIMARY);
	if (!m && q->bad)
		m = PQresultErrorMessage(q->bad);
	if (!m || !*m)
		m = q->db ? PQerrorMessage(q->db) : "out of memory";
	if (!*m)
		m = "out of memory";
	snprintf(buf, len, "%s", m);
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	/* libpq's connection messages name the server, never the password;
	 * redact anyway, should a future libpq quote the URL */
	o8_redact_urls(buf);
}

/*
 * Records "<purpose>: <PostgreSQL's message>".  A broken constraint
 * (SQLSTATE class 23) is the caller's data breaking a rule of the schema.
 */
static enum o8_rc fail(struct pg *q, struct o8_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum o8_rc fail(struct pg *q, struct o8_err *err, const char *fmt, ...)
{
	char what[400], msg[600];
	const char *state = q->bad ? PQresultErrorField(q->bad, PG_DIAG_SQLSTATE)
				   : NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	db_message(q, msg, sizeof(msg));
	return o8_err_set(err, state && !strncmp(state, "23", 2) ? O8_EINVALID
								: O8_ERR,
			  NULL, 0, 0, "%s: %s", what, msg);
}

/* --- statements ---------------------------------------------------------- */

/* A statement's parameters: text, except digests (binary bytea). */
struct params {
	int n;
	const char *v[8];
	int len[8];
	int fmt[8];
	char num[8][24];
};

static void p_text(struct params *p, const char *s)
{
	p->v[p->n] = s;
	p->len[p->n] = 0;
	p->fmt[p->n++] = 0;
}

static void p_int(struct params *p, int64_t v)
{
	snprintf(p->num[p->n], sizeof(p->num[0]), "%" PRId64, v);
	p_text(p, p->num[p->n]);
}

static void p_bytes(struct params *p, const uint8_t *d, int n)
{
	p->v[p->n] = (const char *)d;
	p->len[p->n] = n;
	p->fmt[p->n++] = 1;
}

/* Keeps res as the failure to report (NULL: libpq's connection message). */
static PGresult *failed(struct pg *q, PGresult *res)
{
	PQclear(q->bad);
	q->bad = res;
	q->oom = false;
	return NULL;
}

static int nomem(struct pg *q)
{
	failed(q, NULL);
	q->oom = true;
	return -1;
}

/*
 * A connection lost between operations (a database restart, an RDS
 * failover) is opened again, with its prepared statements; inside a
 * batch it is not: the batch's writes are gone, and the caller must hear
 * of it from the failing statement.
 */
static void reconnect_if_lost(struct pg *q)
{
	if (PQstatus(q->db) != CONNECTION_BAD || q->batch)
		return;
	PQreset(q->db);
	memset(q->prepared, 0, sizeof(q->prepared));
}

static PGresult *checked(struct pg *q, PGresult *res)
{
	ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
		return res;
	return failed(q, res);
}

/*
 * Runs the kept statement id; the result is the caller's (PQclear), NULL
 * on failure (reported by fail()).
 */
static PGresult *run(struct pg *q, enum st id, const struct params *p)
{
	char name[16];

	reconnect_if_lost(q);
	snprintf(name, sizeof(name), "o8_%d", (int)id);
	if (!q->prepared[id]) {
		PGresult *r = checked(q, PQprepare(q->db, name, st_sql[id], 0, NULL));

		if (!r)
			return NULL;
		PQclear(r);
		q->prepared[id] = true;
	}
	return checked(q, PQexecPrepared(q->db, name, p->n, p->v, p->len,
					 p->fmt, 0));
}

/* Runs id for its effect only: 0 on success, -1 on failure. */
static int run0(struct pg *q, enum st id, const struct params *p)
{
	PGresult *r = run(q, id, p);

	PQclear(r);
	return r ? 0 : -1;
}

static int exec(struct pg *q, const char *sql)
{
	PGresult *r;

	reconnect_if_lost(q);
	r = checked(q, PQexec(q->db, sql));

	PQclear(r);
	return r ? 0 : -1;
}

/* A column as a malloc'd string (NULL stays NULL); -1 when out of memory. */
static int col_dup(const PGresult *r, int row, int col, char **out)
{
	*out = NULL;
	if (PQgetisnull(r, row, col))
		return 0;
	*out = strdup(PQgetvalue(r, row, col));
	return *out ? 0 : -1;
}

static const char *col_str(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

static int64_t col_int(const PGresult *r, int row, int col)
{
	return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* A bytea column (text format: "\x..." hex) into a 32-byte digest. */
static int col_digest(const PGresult *r, int row, int col, uint8_t d[32])
{
	size_t n = 0;
	unsigned char *b = PQunescapeBytea((const unsigned char *)
					   PQgetvalue(r, row, col), &n);

	if (!b)
		return -1;
	/* the schema checks the length */
	memcpy(d, b, n < 32 ? n : 32);
	PQfreemem(b);
	return 0;
}

/* --- transactions -------------------------------------------------------- */

static bool in_transaction(struct pg *q)
{
	return PQtransactionStatus(q->db) != PQTRANS_IDLE;
}

/*
 * An operation's own transaction, or a savepoint inside the caller's
 * batch so that a failure undoes only this operation.
 */
static int op_begin(struct pg *q, bool *own)
{
	*own = !in_transaction(q);
	return exec(q, *own ? "BEGIN" : "SAVEPOINT o8_op");
}

static int op_commit(struct pg *q, bool own)
{
	return exec(q, own ? "COMMIT" : "RELEASE SAVEPOINT o8_op");
}

/* Undoes the operation; its error was recorded already (kept in q->bad). */
static void op_abort(struct pg *q, bool own)
{
	PGresult *keep = q->bad;
	PGresult *r;

	if (!in_transaction(q))
		return;
	r = PQexec(q->db, own ? "ROLLBACK"
			      : "ROLLBACK TO SAVEPOINT o8_op; RELEASE SAVEPOINT o8_op");
	PQclear(r);
	q->bad = keep;
}

/*
 * One statement as one operation: on its own it is atomic already; inside
 * a batch it gets a savepoint, so its failure leaves the batch usable, as
 * a failed statement does in SQLite.
 */
static PGresult *run_op(struct pg *q, enum st id, const struct params *p)
{
	PGresult *r;
	bool own;

	if (!in_transaction(q))
		return run(q, id, p);
	if (op_begin(q, &own))
		return NULL;
	r = run(q, id, p);
	if (r && op_commit(q, own)) {
		PQclear(r);
		r = NULL;
	}
	if (!r)
		op_abort(q, own);
	return r;
}

static enum o8_rc pg_begin(void *impl, struct o8_err *err)
{
	struct pg *q = impl;

	if (in_transaction(q))
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "cannot begin a transaction: one is open "
				  "already (they do not nest)");
	if (exec(q, "BEGIN"))
		return fail(q, err, "cannot begin a transaction");
	q->batch = true;
	return O8_OK;
}

static enum o8_rc pg_commit(void *impl, struct o8_err *err)
{
	struct pg *q = impl;
	int r;

	/* PostgreSQL answers COMMIT of a failed transaction with a silent
	 * ROLLBACK; the caller must hear that nothing was kept */
	if (PQtransactionStatus(q->db) == PQTRANS_INERROR) {
		q->batch = false;
		exec(q, "ROLLBACK");
		return o8_err_set(err, O8_ERR, NULL, 0, 0,
				  "cannot commit the transaction: a statement "
				  "in it failed, so it was rolled back");
	}
	r = exec(q, "COMMIT");
	q->batch = false;
	return r ? fail(q, err, "cannot commit the transaction") : O8_OK;
}

static enum o8_rc pg_rollback(void *impl, struct o8_err *err)
{
	struct pg *q = impl;

	q->batch = false;
	if (!in_transaction(q))
		return O8_OK;
	return exec(q, "ROLLBACK") ? fail(q, err, "cannot roll the transaction back")
				   : O8_OK;
}

/* --- open, migrate, close ------------------------------------------------ */

/* The first column of a one-row query as text into buf ("" for none). */
static int query1(struct pg *q, const char *sql, char *buf, size_t len)
{
	PGresult *r = checked(q, PQexec(q->db, sql));

	buf[0] = '\0';
	if (!r)
		return -1;
	if (PQntuples(r) && !PQgetisnull(r, 0, 0))
		snprintf(buf, len, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return 0;
}

/*
 * The schema version, in the open transaction: 0 for an empty schema
 * (*stamped false), O8_EINVALID for a database that is not ours.
 */
static enum o8_rc read_version(struct pg *q, unsigned long *v, int *stamped,
			       struct o8_err *err)
{
	char buf[64];

	*v = 0;
	*stamped = 0;
	if (query1(q, "SELECT count(*) FROM pg_tables WHERE schemaname ="
		   " current_schema() AND tablename = 'schema_version'",
		   buf, sizeof(buf)))
		return fail(q, err, "cannot open '%s'", q->where);
	if (!strcmp(buf, "0")) {
		if (query1(q, "SELECT count(*) FROM pg_tables WHERE schemaname ="
			   " current_schema()", buf, sizeof(buf)))
			return fail(q, err, "cannot open '%s'", q->where);
		if (strcmp(buf, "0"))
			return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
					  "cannot open '%s': it is a PostgreSQL "
					  "database but not an orc8r store (it "
					  "has tables and no schema_version)",
					  q->where);
		return O8_OK;
	}
	if (query1(q, "SELECT version FROM schema_version", buf, sizeof(buf)))
		return fail(q, err, "cannot open '%s'", q->where);
	if (!*buf)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "cannot open '%s': its schema_version "
				  "table is empty", q->where);
	*v = strtoul(buf, NULL, 10);
	*stamped = 1;
	return O8_OK;
}

/* Brings the schema to SCHEMA_NEWEST, one step per transaction. */
static enum o8_rc migrate(struct pg *q, struct o8_err *err)
{
	unsigned long v;
	enum o8_rc rc;
	char sql[128];
	int stamped, r;

	for (;;) {
		if (exec(q, "BEGIN") ||
		    exec(q, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ")")) {
			rc = fail(q, err, "cannot open '%s': cannot lock it to "
				  "check its schema", q->where);
			op_abort(q, true);
			return rc;
		}
		rc = read_version(q, &v, &stamped, err);
		if (rc != O8_OK) {
			op_abort(q, true);
			return rc;
		}
		if (v >= SCHEMA_NEWEST) {
			op_abort(q, true);      /* read only: nothing to keep */
			if (v == SCHEMA_NEWEST)
				return O8_OK;
			return o8_err_set(err, O8_ECONFLICT, NULL, 0, 0,
					  "cannot open '%s': its schema version "
					  "is %lu, newer than this orc8r's (%zu); "
					  "it was written by a newer orc8r: "
					  "upgrade orc8r, or use another "
					  "database", q->where, v, SCHEMA_NEWEST);
		}
		r = 0;
		if (!stamped)
			r = exec(q, "CREATE TABLE schema_version ("
				 " id INTEGER PRIMARY KEY CHECK (id = 1),"
				 " version INTEGER NOT NULL);"
				 "INSERT INTO schema_version VALUES (1, 0)");
		if (!r)
			r = exec(q, migrations[v].sql);
		snprintf(sql, sizeof(sql),
			 "UPDATE schema_version SET version = %lu", v + 1);
		if (!r)
			r = exec(q, sql);
		if (!r)
			r = exec(q, "COMMIT");
		if (r) {
			rc = fail(q, err, "cannot migrate '%s' to schema "
				  "version %lu (%s)", q->where, v + 1,
				  migrations[v].what);
			op_abort(q, true);
			return rc;
		}
	}
}

static void pg_close(void *impl)
{
	struct pg *q = impl;

	if (!q)
		return;
	PQclear(q->bad);
	PQfinish(q->db);        /* an open transaction is rolled back */
	free(q->where);
	free(q);
}

/*
 * host/dbname of the connection, for messages: what an operator needs to
 * find the database, nothing that authenticates to it.
 */
static char *where_of(PGconn *db)
{
	const char *host = db ? PQhost(db) : NULL;
	const char *name = db ? PQdb(db) : NULL;
	size_t n;
	char *s;

	if (!host || !*host)
		host = "localhost";
	if (!name)
		name = "";
	n = strlen(host) + strlen(name) + 2;
	s = malloc(n);
	if (s)
		snprintf(s, n, "%s/%s", host, name);
	return s;
}

static enum o8_rc pg_open(void **impl, const char *url,
			  const struct o8_store_opts *opts, struct o8_err *err)
{
	struct pg *q;
	enum o8_rc rc;
	char sql[96];

	*impl = NULL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return o8_err_set(err, O8_ERR, NULL, 0, 0,
				  "cannot open the PostgreSQL store: out of memory");
	q->report_history = opts->report_history;
	q->lock_timeout_ms = opts->busy_timeout_ms > 3600000 ? 3600000
							      : opts->busy_timeout_ms;
	/* libpq parses the URL itself (and falls back on PGHOST, PGPASSWORD,
	 * ~/.pgpass ... for what it leaves out) */
	q->db = PQconnectdb(url);
	q->where = where_of(q->db);
	if (!q->db || !q->where) {
		pg_close(q);
		return o8_err_set(err, O8_ERR, NULL, 0, 0,
				  "cannot open the PostgreSQL store: out of memory");
	}
	if (PQstatus(q->db) != CONNECTION_OK) {
		rc = fail(q, err, "cannot open '%s'", q->where);
		pg_close(q);
		return rc;
	}
	/* the store's strings are UTF-8 whatever the server's default; a
	 * writer that waits longer than busy_timeout_ms fails, as in SQLite */
	snprintf(sql, sizeof(sql), "SET client_encoding = 'UTF8';"
		 " SET lock_timeout = %u", q->lock_timeout_ms);
	if (exec(q, sql)) {
		rc = fail(q, err, "cannot open '%s'", q->where);
		pg_close(q);
		return rc;
	}
	rc = migrate(q, err);
	if (rc != O8_OK) {
		pg_close(q);
		return rc;
	}
	*impl = q;
	return O8_OK;
}

/*
 * PostgreSQL checks its own pages and foreign keys; what can still be
 * wrong is a schema another orc8r changed since we opened it.
 */
static enum o8_rc pg_check(void *impl, struct o8_err *err)
{
	struct pg *q = impl;
	char got[64];

	if (query1(q, "SELECT version FROM schema_version", got, sizeof(got)))
		return fail(q, err, "cannot check '%s'", q->where);
	if (strtoul(got, NULL, 10) != SCHEMA_NEWEST)
		return o8_err_set(err, O8_ERR, NULL, 0, 0,
				  "'%s' changed under us: its schema version "
				  "is %s, this orc8r's is %zu", q->where, got,
				  SCHEMA_NEWEST);
	return O8_OK;
}

/* --- agents -------------------------------------------------------------- */

/*
 * The agent's row id and acked version.  With create (inside an operation's
 * transaction), makes the agent first and locks its row.  Returns 0, 1
 * when the agent does not exist, -1 on failure.
 */
static int agent_row(struct pg *q, const char *net, const char *gw, int create,
		     int64_t *id, int64_t *acked)
{
	struct params p = { 0 };
	PGresult *r;
	int found;

	p_text(&p, net);
	p_text(&p, gw);
	if (create && run0(q, ST_AGENT_ENSURE, &p))
		return -1;
	r = run(q, create ? ST_AGENT_LOCK : ST_AGENT_ID, &p);
	if (!r)
		return -1;
	found = PQntuples(r) > 0;
	if (found) {
		*id = col_int(r, 0, 0);
		if (acked)
			*acked = col_int(r, 0, 1);
	}
	PQclear(r);
	return found ? 0 : 1;
}

/* One upsert of the agent: (net, gw[, v], text).  *changed: rows touched. */
static int agent_upsert(struct pg *q, enum st id, const char *net,
			const char *gw, int64_t v, int with_v, const char *text,
			int *changed)
{
	struct params p = { 0 };
	PGresult *r;

	p_text(&p, net);
	p_text(&p, gw);
	if (with_v)
		p_int(&p, v);
	p_text(&p, text);
	r = run_op(q, id, &p);
	if (!r)
		return -1;
	if (changed)
		*changed = atoi(PQcmdTuples(r));
	PQclear(r);
	return 0;
}

static enum o8_rc pg_agent_upsert_seen(void *impl, const char *net,
				       const char *gw, int64_t now,
				       const char *cert_serial,
				       struct o8_err *err)
{
	struct pg *q = impl;

	return agent_upsert(q, ST_AGENT_SEEN, net, gw, now, 1, cert_serial, NULL)
		? fail(q, err, "cannot record that %s/%s was seen", net, gw)
		: O8_OK;
}

static enum o8_rc pg_agent_set_desired(void *impl, const char *net,
				       const char *gw, uint64_t version,
				       const char *commit, struct o8_err *err)
{
	struct pg *q = impl;
	struct params p = { 0 };
	int64_t cur = 0;
	int changed = 0;
	PGresult *r;

	if (agent_upsert(q, ST_AGENT_DESIRED, net, gw, (int64_t)version, 1,
			 commit, &changed))
		return fail(q, err, "cannot set the desired version of %s/%s",
			    net, gw);
	if (changed)
		return O8_OK;
	/* refused by the statement's WHERE; read back only to word it */
	p_text(&p, net);
	p_text(&p, gw);
	r = run(q, ST_AGENT_GET, &p);
	if (r && PQntuples(r))
		cur = col_int(r, 0, 4);
	PQclear(r);
	return o8_err_set(err, O8_ECONFLICT, NULL, 0, 0,
			  "cannot set the desired version of %s/%s to %llu: "
			  "it is at %lld already (versions only go up)",
			  net, gw, (unsigned long long)version, (long long)cur);
}

static enum o8_rc pg_agent_set_failed(void *impl, const char *net,
				      const char *gw, uint64_t version,
				      const char *reason, struct o8_err *err)
{
	struct pg *q = impl;

	return agent_upsert(q, ST_AGENT_FAILED, net, gw, (int64_t)version, 1,
			    reason, NULL)
		? fail(q, err, "cannot record the failed version of %s/%s",
		       net, gw)
		: O8_OK;
}

static enum o8_rc pg_agent_set_error(void *impl, const char *net,
				     const char *gw, const char *msg,
				     struct o8_err *err)
{
	struct pg *q = impl;

	return agent_upsert(q, ST_AGENT_ERROR, net, gw, 0, 0, msg, NULL)
		? fail(q, err, "cannot record the last error of %s/%s", net, gw)
		: O8_OK;
}

/* The writes of an ack, inside its transaction. */
static int ack_apply(struct pg *q, int64_t id, const struct o8_store_ack *a,
		     size_t *bad)
{
	struct params p;
	size_t i;

	p = (struct params){ 0 };
	p_int(&p, id);
	p_int(&p, (int64_t)a->version);
	p_text(&p, a->commit);
	if (run0(q, ST_AGENT_ACKED, &p))
		return -1;

	if (a->full) {
		p = (struct params){ 0 };
		p_int(&p, id);
		if (run0(q, ST_REC_CLEAR, &p))
			return -1;
	} else {
		for (i = 0; i < a->ndeletes; i++) {
			p = (struct params){ 0 };
			p_int(&p, id);
			p_int(&p, a->deletes[i].kind);
			p_text(&p, a->deletes[i].key);
			if (run0(q, ST_REC_DELETE, &p))
				return -1;
		}
	}

	for (i = 0; i < a->nupserts; i++) {
		*bad = i;
		p = (struct params){ 0 };
		p_int(&p, id);
		p_int(&p, a->upserts[i].kind);
		p_text(&p, a->upserts[i].key);
		p_bytes(&p, a->upserts[i].digest, 32);
		if (run0(q, ST_REC_UPSERT, &p))
			return -1;
	}
	*bad = (size_t)-1;

	p = (struct params){ 0 };
	p_int(&p, id);
	if (run0(q, ST_DIG_CLEAR, &p))
		return -1;
	for (i = 0; i < a->ndigests; i++) {
		p = (struct params){ 0 };
		p_int(&p, id);
		p_int(&p, a->digests[i].kind);
		p_bytes(&p, a->digests[i].digest, 32);
		if (run0(q, ST_DIG_INSERT, &p))
			return -1;
	}
	return 0;
}

static enum o8_rc pg_agent_ack(void *impl, const char *net, const char *gw,
			       const struct o8_store_ack *a, struct o8_err *err)
{
	struct pg *q = impl;
	int64_t id = 0, acked = 0;
	size_t bad = (size_t)-1;
	enum o8_rc rc;
	bool own;
	int r;

	if (op_begin(q, &own))
		return fail(q, err, "cannot record the ack of %s/%s", net, gw);
	r = agent_row(q, net, gw, 1, &id, &acked);
	if (r == 0 && (int64_t)a->version < acked) {
		op_abort(q, own);
		return o8_err_set(err, O8_ECONFLICT, NULL, 0, 0,
				  "cannot record the ack of %s/%s: version "
				  "%llu is older than the acked version %lld "
				  "(replays are refused)", net, gw,
				  (unsigned long long)a->version,
				  (long long)acked);
	}
	if (r == 0)
		r = ack_apply(q, id, a, &bad);
	if (r == 0)
		r = op_commit(q, own);
	if (r == 0)
		return O8_OK;
	if (bad != (size_t)-1)
		rc = fail(q, err, "cannot record the ack of %s/%s: record "
			  "%zu (kind %u, key '%s')", net, gw, bad,
			  a->upserts[bad].kind,
			  a->upserts[bad].key ? a->upserts[bad].key : "(null)");
	else
		rc = fail(q, err, "cannot record the ack of %s/%s", net, gw);
	op_abort(q, own);
	return rc;
}

/* Fills a from row i of an AGENT_COLS result, then its digests. */
static int agent_fill(struct pg *q, const PGresult *res, int row,
		      struct o8_store_agent *a)
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
	struct params p = { 0 };
	PGresult *d;
	size_t i;
	int n, rc = 0;

	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (col_dup(res, row, strs[i].col,
			    (char **)((char *)a + strs[i].off)))
			return nomem(q);
	a->acked_version = (uint64_t)col_int(res, row, 2);
	a->desired_version = (uint64_t)col_int(res, row, 4);
	a->failed_version = (uint64_t)col_int(res, row, 6);
	a->last_seen = col_int(res, row, 8);

	p_text(&p, PQgetvalue(res, row, 11));
	d = run(q, ST_DIG_GET, &p);
	if (!d)
		return -1;
	n = PQntuples(d);
	if (n) {
		a->digests = calloc((size_t)n, sizeof(*a->digests));
		if (!a->digests)
			rc = -1;
	}
	for (i = 0; rc == 0 && i < (size_t)n; i++) {
		a->digests[i].kind = (unsigned)col_int(d, (int)i, 0);
		rc = col_digest(d, (int)i, 1, a->digests[i].digest);
		a->ndigests = i + 1;
	}
	PQclear(d);
	return rc ? nomem(q) : 0;
}

static enum o8_rc pg_agent_get(void *impl, const char *net, const char *gw,
			       struct o8_store_agent *out, struct o8_err *err)
{
	struct pg *q = impl;
	struct params p = { 0 };
	PGresult *r;
	enum o8_rc rc = O8_OK;

	p_text(&p, net);
	p_text(&p, gw);
	r = run(q, ST_AGENT_GET, &p);
	if (!r)
		return fail(q, err, "cannot read agent %s/%s", net, gw);
	if (!PQntuples(r))
		rc = o8_err_set(err, O8_ENOTFOUND, NULL, 0, 0, "no agent %s/%s",
				net, gw);
	else if (agent_fill(q, r, 0, out)) {
		rc = fail(q, err, "cannot read agent %s/%s", net, gw);
		o8_store_agent_done(out);
	}
	PQclear(r);
	return rc;
}

static enum o8_rc pg_agents_list(void *impl,
				 enum o8_rc (*cb)(const struct o8_store_agent *a,
						  void *payload),
				 void *payload, struct o8_err *err)
{
	struct pg *q = impl;
	struct params p = { 0 };
	struct o8_store_agent a;
	enum o8_rc rc = O8_OK;
	PGresult *r;
	int i;

	r = run(q, ST_AGENTS_ALL, &p);
	if (!r)
		return fail(q, err, "cannot list the agents");
	for (i = 0; rc == O8_OK && i < PQntuples(r); i++) {
		memset(&a, 0, sizeof(a));
		if (agent_fill(q, r, i, &a))
			rc = fail(q, err, "cannot list the agents");
		else
			rc = cb(&a, payload);
		o8_store_agent_done(&a);
	}
	PQclear(r);
	return rc;
}

/*
 * Runs the agent's listing id (whose $1 is the agent's row id, then
 * more).  *out NULL with O8_OK never happens: O8_ENOTFOUND (err set) for
 * an unknown agent, O8_ERR when the caller must fail() with its words.
 */
static enum o8_rc agent_query(struct pg *q, const char *net, const char *gw,
			      enum st id, struct params *more, PGresult **out,
			      struct o8_err *err)
{
	struct params p = { 0 };
	int64_t row = 0;
	int r = agent_row(q, net, gw, 0, &row, NULL);
	int i;

	*out = NULL;
	if (r == 1)
		return o8_err_set(err, O8_ENOTFOUND, NULL, 0, 0,
				  "no agent %s/%s", net, gw);
	if (r)
		return O8_ERR;
	p_int(&p, row);
	for (i = 0; more && i < more->n; i++)
		p_text(&p, more->v[i]);
	*out = run(q, id, &p);
	return *out ? O8_OK : O8_ERR;
}

static enum o8_rc pg_agent_records(void *impl, const char *net,
				   const char *gw,
				   enum o8_rc (*cb)(const struct o8_store_record *r,
						    void *payload),
				   void *payload, struct o8_err *err)
{
	struct pg *q = impl;
	struct o8_store_record rec;
	enum o8_rc rc;
	PGresult *r;
	int i;

	rc = agent_query(q, net, gw, ST_REC_LIST, NULL, &r, err);
	if (rc == O8_ENOTFOUND)
		return rc;
	if (rc != O8_OK)
		return fail(q, err, "cannot read the acked records of %s/%s",
			    net, gw);
	for (i = 0; rc == O8_OK && i < PQntuples(r); i++) {
		rec.kind = (unsigned)col_int(r, i, 0);
		rec.key = PQgetvalue(r, i, 1);
		if (col_digest(r, i, 2, rec.digest)) {
			nomem(q);
			rc = fail(q, err, "cannot read the acked records of "
				  "%s/%s", net, gw);
			break;
		}
		rc = cb(&rec, payload);
	}
	PQclear(r);
	return rc;
}

/* --- state reports ------------------------------------------------------- */

static void report_params(struct params *p, int64_t id,
			  const struct o8_store_report *rep)
{
	*p = (struct params){ 0 };
	p_int(p, id);
	p_int(p, (int64_t)rep->version);
	p_int(p, rep->received_at);
	p_text(p, rep->status);
	p_text(p, rep->kpis);
}

static enum o8_rc pg_report_put(void *impl, const char *net, const char *gw,
				const struct o8_store_report *rep,
				struct o8_err *err)
{
	struct pg *q = impl;
	struct params p;
	int64_t id = 0;
	enum o8_rc rc;
	bool own;
	int r;

	if (op_begin(q, &own))
		return fail(q, err, "cannot store the state report of %s/%s",
			    net, gw);
	r = agent_row(q, net, gw, 1, &id, NULL);
	if (r == 0) {
		report_params(&p, id, rep);
		r = run0(q, ST_REPORT_PUT, &p);
	}
	if (r == 0 && q->report_history)
		r = run0(q, ST_HIST_ADD, &p);
	if (r == 0) {
		p = (struct params){ 0 };
		p_int(&p, id);
		p_int(&p, q->report_history);
		r = run0(q, ST_HIST_TRIM, &p);
	}
	if (r == 0)
		r = op_commit(q, own);
	if (r == 0)
		return O8_OK;
	rc = fail(q, err, "cannot store the state report of %s/%s", net, gw);
	op_abort(q, own);
	return rc;
}

static enum o8_rc pg_report_get(void *impl, const char *net, const char *gw,
				struct o8_store_report *out, struct o8_err *err)
{
	struct pg *q = impl;
	struct params p = { 0 };
	char *status = NULL, *kpis = NULL;
	enum o8_rc rc = O8_OK;
	PGresult *r;

	p_text(&p, net);
	p_text(&p, gw);
	r = run(q, ST_REPORT_GET, &p);
	if (!r)
		return fail(q, err, "cannot read the state report of %s/%s",
			    net, gw);
	if (!PQntuples(r)) {
		PQclear(r);
		return o8_err_set(err, O8_ENOTFOUND, NULL, 0, 0,
				  "%s/%s has sent no state report", net, gw);
	}
	out->version = (uint64_t)col_int(r, 0, 0);
	out->received_at = col_int(r, 0, 1);
	if (col_dup(r, 0, 2, &status) || col_dup(r, 0, 3, &kpis)) {
		nomem(q);
		rc = fail(q, err, "cannot read the state report of %s/%s",
			  net, gw);
	}
	out->status = status;
	out->kpis = kpis;
	if (rc != O8_OK)
		o8_store_report_done(out);
	PQclear(r);
	return rc;
}

static enum o8_rc pg_report_history(void *impl, const char *net,
				    const char *gw, unsigned limit,
				    enum o8_rc (*cb)(const struct o8_store_report *r,
						     void *payload),
				    void *payload, struct o8_err *err)
{
	struct pg *q = impl;
	struct o8_store_report rep;
	struct params more = { 0 };
	enum o8_rc rc;
	PGresult *r;
	int i;

	if (limit)
		p_int(&more, limit);
	else
		p_text(&more, NULL);    /* LIMIT NULL: all */
	rc = agent_query(q, net, gw, ST_HIST_LIST, &more, &r, err);
	if (rc == O8_ENOTFOUND)
		return rc;
	if (rc != O8_OK)
		return fail(q, err, "cannot read the report history of %s/%s",
			    net, gw);
	for (i = 0; rc == O8_OK && i < PQntuples(r); i++) {
		rep.version = (uint64_t)col_int(r, i, 0);
		rep.received_at = col_int(r, i, 1);
		rep.status = col_str(r, i, 2);
		rep.kpis = col_str(r, i, 3);
		rc = cb(&rep, payload);
	}
	PQclear(r);
	return rc;
}

/* --- events -------------------------------------------------------------- */

static enum o8_rc pg_event_add(void *impl, const struct o8_store_event *ev,
			       int64_t *id, struct o8_err *err)
{
	struct pg *q = impl;
	struct params p = { 0 };
	PGresult *r;

	p_int(&p, ev->time);
	p_text(&p, ev->network);
	p_text(&p, ev->gateway);
	p_text(&p, ev->who);
	p_text(&p, ev->commit);
	p_text(&p, ev->what);
	p_text(&p, ev->result);
	r = run_op(q, ST_EVENT_ADD, &p);
	if (!r)
		return fail(q, err, "cannot add the event '%s' by %s",
			    ev->what, ev->who);
	if (id)
		*id = col_int(r, 0, 0);
	PQclear(r);
	return O8_OK;
}

static enum o8_rc pg_events_list(void *impl,
				 const struct o8_store_event_filter *f,
				 enum o8_rc (*cb)(const struct o8_store_event *ev,
						  void *payload),
				 void *payload, struct o8_err *err)
{
	struct pg *q = impl;
	struct o8_store_event ev;
	struct params p = { 0 };
	enum o8_rc rc = O8_OK;
	char sql[320], net[32] = "", gw[32] = "";
	PGresult *r;
	int i;

	/* only the filters given become conditions (and parameters: one
	 * that no condition uses has no type), so the indexes serve */
	p_int(&p, f->since_id);
	if (f->network) {
		p_text(&p, f->network);
		snprintf(net, sizeof(net), " AND network = $%d", p.n);
	}
	if (f->gateway) {
		p_text(&p, f->gateway);
		snprintf(gw, sizeof(gw), " AND gateway = $%d", p.n);
	}
	if (f->limit)
		p_int(&p, f->limit);
	else
		p_text(&p, NULL);
	snprintf(sql, sizeof(sql), "SELECT id, time, network, gateway, who,"
		 " commit_id, what, result FROM events WHERE id > $1%s%s"
		 " ORDER BY id DESC LIMIT $%d", net, gw, p.n);
	r = checked(q, PQexecParams(q->db, sql, p.n, NULL, p.v, p.len, p.fmt, 0));
	if (!r)
		return fail(q, err, "cannot list the events");
	for (i = 0; rc == O8_OK && i < PQntuples(r); i++) {
		ev.id = col_int(r, i, 0);
		ev.time = col_int(r, i, 1);
		ev.network = col_str(r, i, 2);
		ev.gateway = col_str(r, i, 3);
		ev.who = col_str(r, i, 4);
		ev.commit = col_str(r, i, 5);
		ev.what = col_str(r, i, 6);
		ev.result = col_str(r, i, 7);
		rc = cb(&ev, payload);
	}
	PQclear(r);
	return rc;
}

const struct o8_store__ops o8_store__pg = {
	.name = "postgresql",
	.open = pg_open,
	.close = pg_close,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.check = pg_check,
	.agent_upsert_seen = pg_agent_upsert_seen,
	.agent_set_desired = pg_agent_set_desired,
	.agent_set_failed = pg_agent_set_failed,
	.agent_set_error = pg_agent_set_error,
	.agent_ack = pg_agent_ack,
	.agent_get = pg_agent_get,
	.agent_records = pg_agent_records,
	.agents_list = pg_agents_list,
	.report_put = pg_report_put,
	.report_get = pg_report_get,
	.report_history = pg_report_history,
	.event_add = pg_event_add,
	.events_list = pg_events_list,
};
