/* store: syncd's memory keeps what was acked across restarts and crashes,
 * refuses what would move an AGW back, and is all or nothing per write.
 *
 * The "store__" cases use only store.h and a URL, and run against each
 * backend: SQLite by default (ctest's unit/test_store), PostgreSQL when
 * O8_TEST_PG is set (pg/test_store: test/pg/with-postgres starts a server
 * and sets PGHOST and PGUSER; each case gets a database of its own).  The
 * "store_sqlite__" and "store_pg__" cases look inside their database. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "store.h"
#include "repo/git.h"

#define KIND_NETWORK 1          /* enum o8_rec_kind values (compile.h) */
#define KIND_GATEWAY 2
#define KIND_SUBSCRIBER 6

struct fx {
	char dir[64];
	char path[128];         /* the SQLite file */
	char db[64];            /* the PostgreSQL database ("": SQLite) */
	char url[160];          /* what the generic cases open */
};

static bool on_pg(void)
{
	return getenv("O8_TEST_PG") != NULL;
}

/* Runs sql in database db of the test server (PGHOST, PGUSER). */
static void pg_exec(const char *db, const char *sql)
{
	char conninfo[96];
	PGconn *c;
	PGresult *r;

	snprintf(conninfo, sizeof(conninfo), "dbname=%s", db);
	c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connect to %s: %s", db, PQerrorMessage(c));
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
}

static int setup(void **state)
{
	static unsigned n;
	struct fx *f = calloc(1, sizeof(*f));
	char sql[128];

	assert_non_null(f);
	strcpy(f->dir, "/tmp/o8-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/syncd.db", f->dir);
	snprintf(f->url, sizeof(f->url), "sqlite:%s", f->path);
	if (on_pg()) {
		snprintf(f->db, sizeof(f->db), "o8_store_%ld_%u", (long)getpid(), n++);
		snprintf(sql, sizeof(sql), "CREATE DATABASE %s", f->db);
		pg_exec("postgres", sql);
		/* no host: libpq takes PGHOST, as syncd would */
		snprintf(f->url, sizeof(f->url), "postgresql:///%s", f->db);
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	if (*f->db) {
		snprintf(cmd, sizeof(cmd), "DROP DATABASE %s WITH (FORCE)", f->db);
		pg_exec("postgres", cmd);
	}
	free(f);
	return 0;
}

static struct o8_store *open_ok(const struct fx *f)
{
	struct o8_err e = O8_ERR_INIT;
	struct o8_store *s = NULL;

	if (o8_store_open(&s, f->url, &e) != O8_OK)
		fail_msg("open: %s", e.msg);
	return s;
}

/* A digest that names (version, index): not a hash, only distinct bytes. */
static void dig(uint8_t d[32], uint64_t v, size_t i)
{
	memset(d, 0xa5, 32);
	memcpy(d, &v, sizeof(v));
	memcpy(d + 8, &i, sizeof(i));
}

/* Records "<prefix><i>" of kind Subscriber, digest dig(v, i). */
static struct o8_store_record *mkrecs(size_t n, const char *prefix, uint64_t v)
{
	struct o8_store_record *r = calloc(n ? n : 1, sizeof(*r));
	size_t i;

	assert_non_null(r);
	for (i = 0; i < n; i++) {
		char key[64];

		snprintf(key, sizeof(key), "%s%06zu", prefix, i);
		r[i].kind = KIND_SUBSCRIBER;
		r[i].key = strdup(key);
		dig(r[i].digest, v, i);
	}
	return r;
}

static void freerecs(struct o8_store_record *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free((char *)r[i].key);
	free(r);
}

/* What o8_store_agent_records reported, copied. */
struct got {
	struct o8_store_record *v;
	size_t n, cap;
	size_t stop_after;      /* 0: never stop */
};

static enum o8_rc collect(const struct o8_store_record *r, void *payload)
{
	struct got *g = payload;

	if (g->n == g->cap) {
		g->cap = g->cap ? 2 * g->cap : 64;
		g->v = realloc(g->v, g->cap * sizeof(*g->v));
		assert_non_null(g->v);
	}
	g->v[g->n] = *r;
	g->v[g->n].key = strdup(r->key);
	g->n++;
	if (g->stop_after && g->n == g->stop_after)
		return O8_ELIMIT;
	return O8_OK;
}

static void got_free(struct got *g)
{
	freerecs(g->v, g->n);
	memset(g, 0, sizeof(*g));
}

static struct got records_of(struct o8_store *s, const char *net, const char *gw)
{
	struct got g = { 0 };
	struct o8_err e = O8_ERR_INIT;

	if (o8_store_agent_records(s, net, gw, collect, &g, &e) != O8_OK)
		fail_msg("records of %s/%s: %s", net, gw, e.msg);
	return g;
}

/* The stored set is exactly want (sorted by key, one kind). */
static void assert_records(struct o8_store *s, const char *net, const char *gw,
			   const struct o8_store_record *want, size_t n)
{
	struct got g = records_of(s, net, gw);
	size_t i;

	assert_int_equal(g.n, n);
	for (i = 0; i < n; i++) {
		assert_int_equal(g.v[i].kind, want[i].kind);
		assert_string_equal(g.v[i].key, want[i].key);
		assert_memory_equal(g.v[i].digest, want[i].digest, 32);
	}
	got_free(&g);
}

static enum o8_rc ack(struct o8_store *s, const char *net, const char *gw,
		      uint64_t v, const struct o8_store_record *ups, size_t n,
		      bool full, struct o8_err *e)
{
	struct o8_store_ack a = O8_STORE_ACK_INIT;
	struct o8_store_digest d[2];
	char commit[O8_OID_HEX_SIZE];

	snprintf(commit, sizeof(commit), "%040llx", (unsigned long long)v);
	d[0].kind = KIND_NETWORK;
	dig(d[0].digest, v, 1000001);
	d[1].kind = KIND_SUBSCRIBER;
	dig(d[1].digest, v, 1000006);
	a.version = v;
	a.commit = commit;
	a.digests = d;
	a.ndigests = 2;
	a.upserts = ups;
	a.nupserts = n;
	a.full = full;
	return o8_store_agent_ack(s, net, gw, &a, e);
}

/* The agent is at version v with ack()'s digests and commit for v. */
static void assert_acked(struct o8_store *s, const char *net, const char *gw,
			 uint64_t v)
{
	struct o8_store_agent a;
	struct o8_err e = O8_ERR_INIT;
	uint8_t d[32];
	char commit[O8_OID_HEX_SIZE];

	if (o8_store_agent_get(s, net, gw, &a, &e) != O8_OK)
		fail_msg("get %s/%s: %s", net, gw, e.msg);
	assert_string_equal(a.network, net);
	assert_string_equal(a.gateway, gw);
	assert_int_equal(a.acked_version, v);
	snprintf(commit, sizeof(commit), "%040llx", (unsigned long long)v);
	assert_string_equal(a.acked_commit, commit);
	assert_int_equal(a.ndigests, 2);
	assert_int_equal(a.digests[0].kind, KIND_NETWORK);
	dig(d, v, 1000001);
	assert_memory_equal(a.digests[0].digest, d, 32);
	assert_int_equal(a.digests[1].kind, KIND_SUBSCRIBER);
	dig(d, v, 1000006);
	assert_memory_equal(a.digests[1].digest, d, 32);
	o8_store_agent_done(&a);
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
	       (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* --- raw SQLite, to look inside or tamper ---------------------------- */

static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* The first column of the first row, as text ("" for none). */
static void raw_query1(const char *path, const char *sql, char *buf, size_t len)
{
	sqlite3_stmt *st;
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	buf[0] = '\0';
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* --- schema and opening ---------------------------------------------- */

static void store_sqlite__migrations_create_schema(void **state)
{
	static const char *const tables[] = {
		"agents", "agent_digests", "acked_records", "reports",
		"report_history", "events", "schema_version",
	};
	struct fx *f = *state;
	char ver[32], cookie[32], buf[64], sql[160];
	size_t i;

	o8_store_close(open_ok(f));
	raw_query1(f->path, "SELECT version FROM schema_version", ver, sizeof(ver));
	assert_true(atoi(ver) >= 1);
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM sqlite_master"
			 " WHERE type = 'table' AND name = '%s'", tables[i]);
		raw_query1(f->path, sql, buf, sizeof(buf));
		if (strcmp(buf, "1"))
			fail_msg("table '%s' missing", tables[i]);
	}
	raw_query1(f->path, "PRAGMA journal_mode", buf, sizeof(buf));
	assert_string_equal(buf, "wal");
	raw_query1(f->path, "SELECT count(*) FROM schema_version", buf, sizeof(buf));
	assert_string_equal(buf, "1");

	/* a second open changes nothing: SQLite's schema cookie counts every
	 * schema change */
	raw_query1(f->path, "PRAGMA schema_version", cookie, sizeof(cookie));
	o8_store_close(open_ok(f));
	raw_query1(f->path, "PRAGMA schema_version", buf, sizeof(buf));
	assert_string_equal(buf, cookie);
	raw_query1(f->path, "SELECT version FROM schema_version", buf, sizeof(buf));
	assert_string_equal(buf, ver);
}

static void store_sqlite__newer_schema_refused(void **state)
{
	struct fx *f = *state;
	struct o8_err e = O8_ERR_INIT;
	struct o8_store *s = NULL;
	char ver[32], buf[32];

	o8_store_close(open_ok(f));
	raw_exec(f->path, "UPDATE schema_version SET version = version + 1");
	raw_query1(f->path, "SELECT version FROM schema_version", ver, sizeof(ver));
	assert_int_equal(o8_store_open(&s, f->url, &e), O8_ECONFLICT);
	assert_null(s);
	assert_non_null(strstr(e.msg, "newer than this orc8r's"));
	assert_non_null(strstr(e.msg, f->path));
	raw_query1(f->path, "SELECT version FROM schema_version", buf, sizeof(buf));
	assert_string_equal(buf, ver);
}

static void store_sqlite__foreign_files_refused(void **state)
{
	struct fx *f = *state;
	struct o8_err e = O8_ERR_INIT;
	struct o8_store *s = NULL;
	char url[200];
	FILE *fp;

	/* somebody else's database */
	raw_exec(f->path, "CREATE TABLE notes (x TEXT)");
	assert_int_equal(o8_store_open(&s, f->url, &e), O8_EINVALID);
	assert_non_null(strstr(e.msg, "not an orc8r store"));

	/* not a database at all */
	snprintf(url, sizeof(url), "%s/text.db", f->dir);
	fp = fopen(url, "w");
	assert_non_null(fp);
	fputs("this is not an SQLite database, it only has a .db name\n", fp);
	fclose(fp);
	o8_err_clear(&e);
	assert_int_equal(o8_store_open(&s, url, &e), O8_ERR);
	assert_non_null(strstr(e.msg, "cannot open"));
	assert_non_null(strstr(e.msg, "not a database"));

	/* the parent directory is not created */
	snprintf(url, sizeof(url), "sqlite:%s/missing/syncd.db", f->dir);
	o8_err_clear(&e);
	assert_int_equal(o8_store_open(&s, url, &e), O8_ERR);
	assert_non_null(strstr(e.msg, "unable to open"));
	assert_null(s);
}

static void store_sqlite__url_forms(void **state)
{
	static const struct {
		const char *url;
		enum o8_rc rc;
		const char *msg;
	} bad[] = {
		{ "", O8_EINVALID, "no URL" },
		{ "sqlite:", O8_EINVALID, "no path" },
		/* nothing listens on port 1: libpq's own message, the
		 * database named by host/dbname, the password nowhere */
		{ "postgresql://o8:hunter2@127.0.0.1:1/orc8r", O8_ERR,
		  "cannot open '127.0.0.1/orc8r': connection to server at "
		  "\"127.0.0.1\", port 1 failed: Connection refused" },
		{ "postgres://o8:hunter2@127.0.0.1:1/orc8r?sslmode=disable", O8_ERR,
		  "cannot open '127.0.0.1/orc8r'" },
		{ "postgresql:", O8_EINVALID, "no path" },
		{ "mysql://o8:hunter2@db.example/orc8r", O8_EINVALID,
		  "unknown scheme 'mysql'" },
	};
	struct fx *f = *state;
	struct o8_err e = O8_ERR_INIT;
	struct o8_store *s = NULL;
	struct o8_store_record *r = mkrecs(3, "k", 1);
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o8_err_clear(&e);
		assert_int_equal(o8_store_open(&s, bad[i].url, &e), bad[i].rc);
		assert_null(s);
		if (!strstr(e.msg, bad[i].msg))
			fail_msg("'%s': %s", bad[i].url, e.msg);
		if (strstr(e.msg, "hunter2"))
			fail_msg("'%s': the password is in '%s'", bad[i].url, e.msg);
	}
	/* "sqlite:PATH" and PATH are the same file */
	s = open_ok(f);
	assert_int_equal(ack(s, "lab", "agw-1", 1, r, 3, true, &e), O8_OK);
	o8_store_close(s);
	o8_err_clear(&e);
	assert_int_equal(o8_store_open(&s, f->path, &e), O8_OK);
	assert_acked(s, "lab", "agw-1", 1);
	o8_store_close(s);
	freerecs(r, 3);
}

/* --- acks ------------------------------------------------------------ */

static void store__ack_survives_reopen(void **state)
{
	struct fx *f = *state;
	struct o8_err e = O8_ERR_INIT;
	struct o8_store *s = open_ok(f);
	struct o8_store_record r[3] = {
		{ KIND_NETWORK, "lab", { 1 } },
		{ KIND_GATEWAY, "agw-1", { 2 } },
		{ KIND_SUBSCRIBER, "001010000000001", { 3 } },
	};

	assert_int_equal(ack(s, "lab", "agw-1", 7, r, 3, true, &e), O8_OK);
	assert_acked(s, "lab", "agw-1", 7);
	o8_store_close(s);

	s = open_ok(f);
	assert_acked(s, "lab", "agw-1", 7);
	assert_records(s, "lab", "agw-1", r, 3);
	assert_int_equal(o8_store_check(s, &e), O8_OK);
	o8_store_close(s);
}

static void store__ack_delta_and_full(void **state)
{
	struct fx *f = *state;
	struct o8_err e = O8_ERR_INIT;
	struct o8_store *s = open_ok(f);
	struct o8_store_record *v1 = mkrecs(5, "k", 1), *v2 = mkrecs(5, "k", 2);
	struct o8_store_record *fresh = mkrecs(2, "n", 3), want[5];
	struct o8_store_ack a = O8_STORE_ACK_INIT;
	struct got g = { 0 };

	assert_int_equal(ack(s, "lab", "agw-1", 1, v1, 5, true, &e), O8_OK);

	/* v2: k000001 and k000003 deleted, k000004 changed, k000001 both
	 * deleted and upserted (deletes go first: it stays) */
	a.version = 2;
	a.deletes = (struct o8_store_record[]){
		{ KIND_SUBSCRIBER, "k000001", { 0 } },
		{ KIND_SUBSCRIBER, "k000003", { 0 } },
		{ KIND_SUBSCRIBER, "absent", { 0 } },
	};
	a.ndeletes = 3;
	a.upserts = (struct o8_store_record[]){ v2[1], v2[4] };
	a.nupserts = 2;
	assert_int_equal(o8_store_agent_ack(s, "lab", "agw-1", &a, &e), O8_OK);
	want[0] = v1[0];
	want[1] = v2[1];
	want[2] = v1[2];
	want[3] = v2[4];
	assert_records(s, "lab", "agw-1", want, 4);

	/* a delta carries no digests: the agent's set becomes empty */
	{
		struct o8_store_agent ag;

		assert_int_equal(o8_store_agent_get(s, "lab", "agw-1", &ag, &e), O8_OK);
		assert_int_equal(ag.acked_version, 2);
		assert_null(ag.acked_commit);
		assert_int_equal(ag.ndigests, 0);
		o8_store_agent_done(&ag);
	}

	/* full: exactly the snapshot, whatever was there */
	assert_int_equal(ack(s, "lab", "agw-1", 3, fresh, 2, true, &e), O8_OK);
	assert_records(s, "lab", "agw-1", fresh, 2);

	/* a callback that says stop stops the listing, and its code comes back */
	g.stop_after = 1;
	assert_int_equal(o8_store_agent_records(s, "lab", "agw-1", collect, &g, &e),
			 O8_ELIMIT);
	assert_int_equal(g.n, 1);
	got_free(&g);

	assert_int_equal(o8_store_agent_records(s, "lab", "nope", collect, &g, &e),
			 O8_ENOTFOUND);
	o8_store_close(s);
	freerecs(v1, 5);
	freerecs(v2, 5);
	freerecs(fresh, 2);
}

static void store__older_ack_refused(void **state)
{
	struct fx *f = *state;
	struct o8_err e = O8_ERR_INIT;
	struct o8_store *s = open_ok(f);
	struct o8_store_record *v5 = mkrecs(20, "k", 5), *v4 = mkrecs(30, "x", 4);
	struct o8_store_ack a = O8_STORE_ACK_INIT;

	assert_int_equal(ack(s, "lab", "agw-1", 5, v5, 20, true, &e), O8_OK);

	assert_int_equal(ack(s, "lab", "agw-1", 4, v4, 30, true, &e), O8_ECONFLICT);
	assert_string_equal(e.msg, "cannot record the ack of lab/agw-1: version 4 "
			    "is older than the acked version 5 (replays are "
			    "refused)");
	assert_acked(s, "lab", "agw-1", 5);
	assert_records(s, "lab", "agw-1", v5, 20);

	/* a delta of an older version neither: its delete does not happen */
	a.version = 1;
	a.deletes = v5;
	a.ndeletes = 1;
	o8_err_clear(&e);
	assert_int_equal(o8_store_agent_ack(s, "lab", "agw-1", &a, &e), O8_ECONFLICT);
	assert_records(s, "lab", "agw-1", v5, 20);

	/* the same version again is a reconnecting AGW: accepted */
	o8_err_clear(&e);
	assert_int_equal(ack(s, "lab", "agw-1", 5, v5, 20, true, &e), O8_OK);
	assert_acked(s, "lab", "agw-1", 5);

	/* version 0 means "never acked", and is not a version */
	a.version = 0;
	a.ndeletes = 0;
	assert_int_equal(o8_store_agent_ack(s, "lab", "agw-1", &a, &e), O8_EINVALID);
	a.version = UINT64_MAX;
	assert_int_equal(o8_store_agent_ack(s, "lab", "agw-1", &a, &e), O8_EINVALID);
	assert_acked(s, "lab", "agw-1", 5);
	o8_store_close(s);
	freerecs(v5, 20);
	freerecs(v4, 30);
}

static void store__failing_statement_rolls_back(void **state)
{
	struct fx *f = *state;
	struct o8_err e = O8_ERR_INIT;
	struct o8_store *s = open_ok(f);
	struct o8_store_record *v1 = mkrecs(100, "k", 1), *v2 = mkrecs(1000, "k", 2);
	struct o8_store_ack a = O8_STORE_ACK_INIT;
	struct o8_store_digest d = { KIND_NETWORK, { 9 } };
	const char *key500 = v2[500].key;

	assert_int_equal(ack(s, "lab", "agw-1", 1, v1, 100, true, &e), O8_OK);

	/* v2 deletes ten records, replaces the digests, upserts 1000 records
	 * of which the 501st breaks a rule of the schema: after 500 upserts
	 * that went through, the database says no */
	v2[500].key = "";
	a.version = 2;
	a.commit = "2222222222222222222222222222222222222222";
	a.deletes = v1;
	a.ndeletes = 10;
	a.upserts = v2;
	a.nupserts = 1000;
	a.digests = &d;
	a.ndigests = 1;
	assert_int_equal(o8_store_agent_ack(s, "lab", "agw-1", &a, &e), O8_EINVALID);
	if (on_pg())
		assert_string_equal(e.msg, "cannot record the ack of lab/agw-1: "
				    "record 500 (kind 6, key ''): new row for "
				    "relation \"acked_records\" violates check "
				    "constraint \"key_not_empty\"");
	else
		assert_string_equal(e.msg, "cannot record the ack of lab/agw-1: record 500 "
				    "(kind 6, key ''): CHECK constraint failed: "
				    "key_not_empty");
	v2[500].key = key500;

	/* nothing of v2 happened */
	assert_acked(s, "lab", "agw-1", 1);
	assert_records(s, "lab", "agw-1", v1, 100);
	o8_store_close(s);
	s = open_ok(f);
	assert_acked(s, "lab", "agw-1", 1);
	assert_records(s, "lab", "agw-1", v1, 100);
	assert_int_equal(o8_store_check(s, &e), O8_OK);
	o8_store_close(s);
	freerecs(v1, 100);
	freerecs(v2, 1000);
}

static void store__batch_rolls_back_or_commits(void **state)
{
	struct fx *f = *state;
	struct o8_err e = O8_ERR_INIT;
	struct o8_store *s = open_ok(f);
	struct o8_store_record *r = mkrecs(50, "k", 1);
	struct o8_store_record bad[2] = { r[0], { KIND_SUBSCRIBER, "", { 0 } } };
	struct o8_store_report rep = { 1, 100, "ok", "{}" };
	struct o8_store_agent ag;

	/* a failure inside a batch, then rollback: none of it stays */
	assert_int_equal(o8_store_begin(s, &e), O8_OK);
	assert_int_equal(o8_store_begin(s, &e), O8_EINVALID);  /* no nesting */
	o8_err_clear(&e);
	assert_int_equal(ack(s, "lab", "agw-a", 1, r, 50, true, &e), O8_OK);
	assert_int_equal(o8_store_report_put(s, "lab", "agw-a", &rep, &e), O8_OK);
	assert_int_equal(ack(s, "lab", "agw-b", 1, bad, 2, true, &e), O8_EINVALID);
	assert_non_null(strstr(e.msg, "cannot record the ack of lab/agw-b"));
	o8_err_clear(&e);
	assert_int_equal(o8_store_rollback(s, &e), O8_OK);
	assert_int_equal(o8_store_agent_get(s, "lab", "agw-a", &ag, &e), O8_ENOTFOUND);
	o8_err_clear(&e);
	assert_int_equal(o8_store_report_get(s, "lab", "agw-a", &rep, &e),
			 O8_ENOTFOUND);
	o8_err_clear(&e);
	assert_int_equal(o8_store_rollback(s, &e), O8_OK);     /* none open: no-op */

	/* the failed operation undoes only itself; commit keeps the rest */
	rep = (struct o8_store_report){ 1, 100, "ok", "{}" };
	assert_int_equal(o8_store_begin(s, &e), O8_OK);
	assert_int_equal(ack(s, "lab", "agw-a", 1, r, 50, true, &e), O8_OK);
	assert_int_equal(ack(s, "lab", "agw-c", 1, bad, 2, true, &e), O8_EINVALID);
	o8_err_clear(&e);
	assert_int_equal(ack(s, "lab", "agw-b", 1, r, 50, true, &e), O8_OK);
	assert_int_equal(o8_store_commit(s, &e), O8_OK);
	o8_store_close(s);

	s = open_ok(f);
	assert_acked(s, "lab", "agw-a", 1);
	assert_acked(s, "lab", "agw-b", 1);
	assert_records(s, "lab", "agw-b", r, 50);
	assert_int_equal(o8_store_agent_get(s, "lab", "agw-c", &ag, &e), O8_ENOTFOUND);
	o8_store_close(s);
	freerecs(r, 50);
}

/* --- kill -9 at any moment ------------------------------------------- */

#define CRASH_KEYS 3000

/* Version v's record set: its size depends on v, so a mix shows. */
static size_t crash_n(uint64_t v)
{
	return CRASH_KEYS - (size_t)(v % 7) * 300;
}

/* Acks versions from+1, from+2, ... (full snapshots) until killed; writes
 * one byte to fd after each ack returned. */
static void crash_child(const char *url, int fd, uint64_t from)
{
	struct o8_store_record *r = mkrecs(CRASH_KEYS, "IMSI00101", 0);
	struct o8_err e = O8_ERR_INIT;
	struct o8_store *s = NULL;
	uint64_t v;
	size_t i;

	if (o8_store_open(&s, url, &e) != O8_OK) {
		if (write(fd, "E", 1) != 1)
			_exit(2);
		_exit(1);
	}
	for (v = from + 1;; v++) {
		for (i = 0; i < CRASH_KEYS; i++)
			dig(r[i].digest, v, i);
		if (ack(s, "lab", "agw-1", v, r, crash_n(v), true, &e) != O8_OK ||
		    write(fd, "a", 1) != 1) {
			if (write(fd, "E", 1) != 1)
				_exit(2);
			_exit(1);
		}
	}
}

static void store__kill9_leaves_old_or_new(void **state)
{
	struct fx *f = *state;
	struct o8_store_record *want = mkrecs(CRASH_KEYS, "IMSI00101", 0);
	struct o8_err e = O8_ERR_INIT;
	struct o8_store_agent ag;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	uint64_t from = 0;
	int round;

	print_message("kill -9 rounds, seed %u\n", seed);
	srand(seed);
	for (round = 0; round < 5; round++) {
		struct o8_store *s;
		size_t acked = 0, target = 1 + (size_t)(rand() % 15), i;
		int p[2], status;
		pid_t pid;
		char c;

		assert_int_equal(pipe(p), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(p[0]);
			crash_child(f->url, p[1], from);
		}
		close(p[1]);
		/* synchronise on acks the child finished, then let it run a
		 * random while into the next one: the kill lands anywhere in
		 * a transaction (the delay only picks the moment) */
		while (acked < target) {
			assert_int_equal(read(p[0], &c, 1), 1);
			assert_int_equal(c, 'a');
			acked++;
		}
		usleep((useconds_t)(rand() % 4000));
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		while (read(p[0], &c, 1) == 1) {
			assert_int_equal(c, 'a');
			acked++;
		}
		close(p[0]);

		s = open_ok(f);
		if (o8_store_check(s, &e) != O8_OK)
			fail_msg("round %d: %s", round, e.msg);
		assert_int_equal(o8_store_agent_get(s, "lab", "agw-1", &ag, &e), O8_OK);
		/* every ack that returned survived; at most the one in flight
		 * committed without telling us */
		if (ag.acked_version < from + acked ||
		    ag.acked_version > from + acked + 1)
			fail_msg("round %d: version %llu after %zu acks from %llu",
				 round, (unsigned long long)ag.acked_version,
				 acked, (unsigned long long)from);
		/* the version and its records and digests belong together */
		for (i = 0; i < CRASH_KEYS; i++)
			dig(want[i].digest, ag.acked_version, i);
		assert_acked(s, "lab", "agw-1", ag.acked_version);
		assert_records(s, "lab", "agw-1", want, crash_n(ag.acked_version));
		print_message("round %d: killed after %zu acks, found version %llu "
			      "(%zu records)\n", round, acked,
			      (unsigned long long)ag.acked_version,
			      crash_n(ag.acked_version));
		from = ag.acked_version;
		o8_store_agent_done(&ag);
		o8_store_close(s);
	}
	freerecs(want, CRASH_KEYS);
}

/* SQLite's message comes out with what the store was doing. */
static void store_sqlite__locked_error_names_the_ack(void **state)
{
	struct fx *f = *state;
	struct o8_store_opts o = O8_STORE_OPTS_INIT;
	struct o8_err e = O8_ERR_INIT;
	struct o8_store *s = NULL;
	struct o8_store_record *r = mkrecs(3, "k", 1);
	sqlite3 *other = NULL;

	o.busy_timeout_ms = 20;
	assert_int_equal(o8_store_open_opts(&s, f->url, &o, &e), O8_OK);
	assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(ack(s, "lab", "agw-1", 1, r, 3, true, &e), O8_ERR);
	assert_string_equal(e.msg, "cannot record the ack of lab/agw-1: "
			    "database is locked");
	sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(other);
	o8_err_clear(&e);
	assert_int_equal(ack(s, "lab", "agw-1", 1, r, 3, true, &e), O8_OK);
	o8_store_close(s);
	freerecs(r, 3);
}

/* --- raw PostgreSQL, to look inside or tamper ------------------------ */

/* The first column of the first row in database db, as text ("" for none). */
static void pg_query1(const char *db, const char *sql, char *buf, size_t len)
{
	char conninfo[96];
	PGconn *c;
	PGresult *r;

	snprintf(conninfo, sizeof(conninfo), "dbname=%s", db);
	c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connect to %s: %s", db, PQerrorMessage(c));
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	buf[0] = '\0';
	if (PQntuples(r) && !PQgetisnull(r, 0, 0))
		snprintf(buf, len, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
}

static void store_pg__migrations_create_schema(void **state)
{
	static const char *const tables[] = {
		"agents", "agent_digests", "acked_records", "reports",
		"report_history", "events", "schema_version",
	};
	struct fx *f = *state;
	struct o8_store *s = open_ok(f);
	char sql[160], got[32];
	size_t i;

	o8_store_close(s);
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_tables WHERE"
			 " schemaname = 'public' AND tablename = '%s'", tables[i]);
		pg_query1(f->db, sql, got, sizeof(got));
		if (strcmp(got, "1"))
			fail_msg("table %s: %s", tables[i], got);
	}
	pg_query1(f->db, "SELECT version FROM schema_version", got, sizeof(got));
	assert_string_equal(got, "1");
	/* opening again migrates nothing */
	s = open_ok(f);
	o8_store_close(s);
	pg_query1(f->db, "SELECT count(*) FROM schema_version", got, sizeof(got));
	assert_string_equal(got, "1");
}

static void store_pg__newer_schema_refused(void **state)
{
	struct fx *f = *state;
	struct o8_err e = O8_ERR_INIT;
	struct o8_store *s = open_ok(f);
	char want[200];

	o8_store_close(s);
	pg_exec(f->db, "UPDATE schema_version SET version = 99");
	s = NULL;
	assert_int_equal(o8_store_open(&s, f->url, &e), O8_ECONFLICT);
	assert_null(s);
	snprintf(want, sizeof(want), "cannot open '%s/%s': its schema version is "
		 "99, newer than this orc8r's (1)", getenv("PGHOST"), f->db);
	if (strncmp(e.msg, want, strlen(want)))
		fail_msg("%s", e.msg);
}

static void store_pg__foreign_database_refused(void **state)
{
	struct fx *f = *state;
	struct o8_err e = O8_ERR_INIT;
	struct o8_store *s = NULL;
	char got[32];

	pg_exec(f->db, "CREATE TABLE customers (id INTEGER)");
	assert_int_equal(o8_store_open(&s, f->url, &e), O8_EINVALID);
	assert_null(s);
	assert_non_null(strstr(e.msg, "it is a PostgreSQL database but not an "
			       "orc8r store (it has tables and no schema_version)"));
	/* and we left it as it was */
	pg_query1(f->db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
		  got, sizeof(got));
	assert_string_equal(got, "1");

	o8_err_clear(&e);
	assert_int_equal(o8_store_open(&s, "postgresql:///o8_no_such_database", &e),
			 O8_ERR);
	assert_non_null(strstr(e.msg, "database \"o8_no_such_database\" does not exist"));
}

/*
 * Another writer holding the agent's row: the ack waits busy_timeout_ms
 * (lock_timeout), then fails naming what it was doing, and nothing of it
 * stays.
 */
static void store_pg__locked_error_names_the_ack(void **state)
{
	struct fx *f = *state;
	struct o8_store_opts o = O8_STORE_OPTS_INIT;
	struct o8_err e = O8_ERR_INIT;
	struct o8_store *s = NULL;
	struct o8_store_record *r = mkrecs(3, "k", 1);
	char conninfo[96];
	PGconn *other;
	PGresult *res;

	o.busy_timeout_ms = 20;
	assert_int_equal(o8_store_open_opts(&s, f->url, &o, &e), O8_OK);
	assert_int_equal(o8_store_agent_upsert_seen(s, "lab", "agw-1", 1, NULL, &e),
			 O8_OK);
	snprintf(conninfo, sizeof(conninfo), "dbname=%s", f->db);
	other = PQconnectdb(conninfo);
	assert_int_equal(PQstatus(other), CONNECTION_OK);
	res = PQexec(other, "BEGIN; SELECT 1 FROM agents WHERE gateway = 'agw-1'"
		     " FOR UPDATE");
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	PQclear(res);
	assert_int_equal(ack(s, "lab", "agw-1", 1, r, 3, true, &e), O8_ERR);
	assert_string_equal(e.msg, "cannot record the ack of lab/agw-1: "
			    "canceling statement due to lock timeout");
	PQclear(PQexec(other, "ROLLBACK"));
	PQfinish(other);
	o8_err_clear(&e);
	assert_int_equal(ack(s, "lab", "agw-1", 1, r, 3, true, &e), O8_OK);
	assert_acked(s, "lab", "agw-1", 1);
	o8_store_close(s);
	freerecs(r, 3);
}

/* Several replicas starting on an empty database create the schema once. */
static void store_pg__replicas_open_a_new_database_at_once(void **state)
{
	struct fx *f = *state;
	pid_t pids[4];
	char got[32];
	int i, status;

	for (i = 0; i < 4; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct o8_err e = O8_ERR_INIT;
			struct o8_store *s = NULL;

			if (o8_store_open(&s, f->url, &e) != O8_OK) {
				fprintf(stderr, "replica %d: %s\n", i, e.msg);
				_exit(1);
			}
			o8_store_close(s);
			_exit(0);
		}
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	pg_query1(f->db, "SELECT version FROM schema_version", got, sizeof(got));
	assert_string_equal(got, "1");
}

/* --- agents, reports, events ----------------------------------------- */

struct names {
	char v[8][32];
	size_t n, stop_after;
};

static enum o8_rc collect_agent(const struct o8_store_agent *a, void *payload)
{
	struct names *nm = payload;

	snprintf(nm->v[nm->n++], sizeof(nm->v[0]), "%s/%s", a->network, a->gateway);
	return nm->stop_after && nm->n == nm->stop_after ? O8_ELIMIT : O8_OK;
}

/* A callback reads the store again: the agent itself and its records. */
struct nested {
	struct o8_store *s;
	size_t agents, records;
};

static enum o8_rc nested_agent(const struct o8_store_agent *a, void *payload)
{
	struct nested *n = payload;
	struct o8_store_agent again;
	struct o8_err e = O8_ERR_INIT;
	struct got g = { 0 };

	assert_int_equal(o8_store_agent_get(n->s, a->network, a->gateway, &again,
					    &e), O8_OK);
	assert_int_equal(again.acked_version, a->acked_version);
	assert_int_equal(again.ndigests, a->ndigests);
	o8_store_agent_done(&again);
	assert_int_equal(o8_store_agent_records(n->s, a->network, a->gateway,
						collect, &g, &e), O8_OK);
	n->records += g.n;
	got_free(&g);
	n->agents++;
	return O8_OK;
}

static void store__callbacks_may_read(void **state)
{
	struct fx *f = *state;
	struct o8_err e = O8_ERR_INIT;
	struct o8_store *s = open_ok(f);
	struct o8_store_record *r = mkrecs(10, "k", 1);
	struct nested n = { s, 0, 0 };

	assert_int_equal(ack(s, "lab", "agw-1", 1, r, 10, true, &e), O8_OK);
	assert_int_equal(ack(s, "lab", "agw-2", 2, r, 4, true, &e), O8_OK);
	assert_int_equal(ack(s, "lab", "agw-3", 3, r, 1, true, &e), O8_OK);
	assert_int_equal(o8_store_agents_list(s, nested_agent, &n, &e), O8_OK);
	assert_int_equal(n.agents, 3);
	assert_int_equal(n.records, 15);
	o8_store_close(s);
	freerecs(r, 10);
}

static void store__agent_fields_and_list(void **state)
{
	struct fx *f = *state;
	struct o8_err e = O8_ERR_INIT;
	struct o8_store *s = open_ok(f);
	struct o8_store_agent a;
	struct names nm = { 0 };

	assert_int_equal(o8_store_agent_get(s, "lab", "agw-1", &a, &e), O8_ENOTFOUND);
	o8_err_clear(&e);

	assert_int_equal(o8_store_agent_upsert_seen(s, "lab", "agw-1", 1000, "0a1b", &e),
			 O8_OK);
	assert_int_equal(o8_store_agent_upsert_seen(s, "lab", "agw-1", 2000, NULL, &e),
			 O8_OK);
	assert_int_equal(o8_store_agent_set_desired(s, "lab", "agw-1", 5, "c5", &e),
			 O8_OK);
	assert_int_equal(o8_store_agent_set_desired(s, "lab", "agw-1", 4, "c4", &e),
			 O8_ECONFLICT);
	assert_string_equal(e.msg, "cannot set the desired version of lab/agw-1 "
			    "to 4: it is at 5 already (versions only go up)");
	o8_err_clear(&e);
	assert_int_equal(o8_store_agent_set_desired(s, "lab", "agw-1", 5, "c5", &e),
			 O8_OK);
	assert_int_equal(o8_store_agent_set_failed(s, "lab", "agw-1", 5,
						   "health check failed", &e), O8_OK);
	assert_int_equal(o8_store_agent_set_error(s, "lab", "agw-1",
						  "connection reset", &e), O8_OK);
	assert_int_equal(o8_store_agent_get(s, "lab", "agw-1", &a, &e), O8_OK);
	assert_int_equal(a.acked_version, 0);
	assert_null(a.acked_commit);
	assert_int_equal(a.ndigests, 0);
	assert_int_equal(a.desired_version, 5);
	assert_string_equal(a.desired_commit, "c5");
	assert_int_equal(a.failed_version, 5);
	assert_string_equal(a.failed_reason, "health check failed");
	assert_int_equal(a.last_seen, 2000);
	assert_string_equal(a.last_error, "connection reset");
	assert_string_equal(a.cert_serial, "0a1b");
	o8_store_agent_done(&a);

	assert_int_equal(o8_store_agent_set_failed(s, "lab", "agw-1", 0, NULL, &e), O8_OK);
	assert_int_equal(o8_store_agent_set_error(s, "lab", "agw-1", NULL, &e), O8_OK);
	assert_int_equal(o8_store_agent_get(s, "lab", "agw-1", &a, &e), O8_OK);
	assert_int_equal(a.failed_version, 0);
	assert_null(a.failed_reason);
	assert_null(a.last_error);
	o8_store_agent_done(&a);

	/* every setter makes the agent; the list is sorted */
	assert_int_equal(o8_store_agent_set_error(s, "zoo", "agw-1", "x", &e), O8_OK);
	assert_int_equal(o8_store_agent_upsert_seen(s, "lab", "agw-0", 1, NULL, &e), O8_OK);
	assert_int_equal(o8_store_agent_set_desired(s, "berlin", "gw", 1, NULL, &e), O8_OK);
	assert_int_equal(o8_store_agents_list(s, collect_agent, &nm, &e), O8_OK);
	assert_int_equal(nm.n, 4);
	assert_string_equal(nm.v[0], "berlin/gw");
	assert_string_equal(nm.v[1], "lab/agw-0");
	assert_string_equal(nm.v[2], "lab/agw-1");
	assert_string_equal(nm.v[3], "zoo/agw-1");
	memset(&nm, 0, sizeof(nm));
	nm.stop_after = 2;
	assert_int_equal(o8_store_agents_list(s, collect_agent, &nm, &e), O8_ELIMIT);
	assert_int_equal(nm.n, 2);

	assert_int_equal(o8_store_agent_upsert_seen(s, "", "agw-1", 1, NULL, &e),
			 O8_EINVALID);
	o8_store_close(s);
}

struct reps {
	uint64_t v[8];
	size_t n;
};

static enum o8_rc collect_report(const struct o8_store_report *r, void *payload)
{
	struct reps *rs = payload;

	rs->v[rs->n++] = r->version;
	return O8_OK;
}

static void store__reports_overwrite_and_history(void **state)
{
	struct fx *f = *state;
	struct o8_store_opts o = O8_STORE_OPTS_INIT;
	struct o8_err e = O8_ERR_INIT;
	struct o8_store *s = NULL;
	struct o8_store_report r;
	struct reps rs = { { 0 }, 0 };
	uint64_t v;

	o.report_history = 3;
	assert_int_equal(o8_store_open_opts(&s, f->url, &o, &e), O8_OK);
	for (v = 1; v <= 5; v++) {
		char kpis[64];

		snprintf(kpis, sizeof(kpis), "{\"attached_ues\": %llu}",
			 (unsigned long long)v * 10);
		r = (struct o8_store_report){ v, 1000 + (int64_t)v, "running", kpis };
		assert_int_equal(o8_store_report_put(s, "lab", "agw-1", &r, &e), O8_OK);
	}
	assert_int_equal(o8_store_report_get(s, "lab", "agw-1", &r, &e), O8_OK);
	assert_int_equal(r.version, 5);
	assert_int_equal(r.received_at, 1005);
	assert_string_equal(r.status, "running");
	assert_string_equal(r.kpis, "{\"attached_ues\": 50}");
	o8_store_report_done(&r);

	/* NULLs stay NULL, and replace what was there */
	r = (struct o8_store_report){ 6, 1006, NULL, NULL };
	assert_int_equal(o8_store_report_put(s, "lab", "agw-1", &r, &e), O8_OK);
	assert_int_equal(o8_store_report_get(s, "lab", "agw-1", &r, &e), O8_OK);
	assert_int_equal(r.version, 6);
	assert_null(r.status);
	assert_null(r.kpis);
	o8_store_report_done(&r);

	/* only the 3 newest are kept, newest first */
	assert_int_equal(o8_store_report_history(s, "lab", "agw-1", 0,
						 collect_report, &rs, &e), O8_OK);
	assert_int_equal(rs.n, 3);
	assert_int_equal(rs.v[0], 6);
	assert_int_equal(rs.v[1], 5);
	assert_int_equal(rs.v[2], 4);
	rs.n = 0;
	assert_int_equal(o8_store_report_history(s, "lab", "agw-1", 1,
						 collect_report, &rs, &e), O8_OK);
	assert_int_equal(rs.n, 1);
	assert_int_equal(rs.v[0], 6);

	/* an agent that never reported */
	assert_int_equal(o8_store_agent_upsert_seen(s, "lab", "agw-2", 1, NULL, &e),
			 O8_OK);
	assert_int_equal(o8_store_report_get(s, "lab", "agw-2", &r, &e), O8_ENOTFOUND);
	o8_store_close(s);

	/* with no history kept, the last report is still there */
	o.report_history = 0;
	assert_int_equal(o8_store_open_opts(&s, f->url, &o, &e), O8_OK);
	r = (struct o8_store_report){ 7, 1007, "running", "{}" };
	assert_int_equal(o8_store_report_put(s, "lab", "agw-1", &r, &e), O8_OK);
	rs.n = 0;
	assert_int_equal(o8_store_report_history(s, "lab", "agw-1", 0,
						 collect_report, &rs, &e), O8_OK);
	assert_int_equal(rs.n, 0);
	assert_int_equal(o8_store_report_get(s, "lab", "agw-1", &r, &e), O8_OK);
	assert_int_equal(r.version, 7);
	o8_store_report_done(&r);
	o8_store_close(s);
}

struct evs {
	struct {
		int64_t id;
		char text[160];
	} v[16];
	size_t n;
};

static enum o8_rc collect_event(const struct o8_store_event *ev, void *payload)
{
	struct evs *es = payload;

	es->v[es->n].id = ev->id;
	snprintf(es->v[es->n].text, sizeof(es->v[0].text), "%lld %s %s %s %s %s %s",
		 (long long)ev->time, ev->network ? ev->network : "-",
		 ev->gateway ? ev->gateway : "-", ev->who,
		 ev->commit ? ev->commit : "-", ev->what, ev->result);
	es->n++;
	return O8_OK;
}

static void store__events_newest_first_with_filters(void **state)
{
	static const struct o8_store_event add[] = {
		{ 0, 100, NULL, NULL, "webhook", "c1", "push received", "ok" },
		{ 0, 101, "lab", "agw-1", "syncd", "c1", "push version 1", "ok" },
		{ 0, 102, "lab", "agw-2", "syncd", "c1", "push version 1", "ok" },
		{ 0, 103, "lab", "agw-1", "syncd", NULL, "ack version 1", "ok" },
		{ 0, 104, "berlin", "agw-1", "alice", "c2", "apply", "refused: invalid" },
		{ 0, 105, "lab", NULL, "syncd", "c2", "wave canary", "halted" },
	};
	struct fx *f = *state;
	struct o8_err e = O8_ERR_INIT;
	struct o8_store *s = open_ok(f);
	struct o8_store_event_filter fl = O8_STORE_EVENT_FILTER_INIT;
	struct o8_store_event bad = { 0, 1, NULL, NULL, NULL, NULL, "x", "ok" };
	struct evs es = { 0 };
	int64_t ids[6];
	size_t i;

	for (i = 0; i < 6; i++) {
		assert_int_equal(o8_store_event_add(s, &add[i], &ids[i], &e), O8_OK);
		if (i)
			assert_true(ids[i] > ids[i - 1]);
	}
	assert_int_equal(o8_store_event_add(s, &bad, NULL, &e), O8_EINVALID);
	o8_err_clear(&e);
	o8_store_close(s);
	s = open_ok(f);

	assert_int_equal(o8_store_events_list(s, NULL, collect_event, &es, &e), O8_OK);
	assert_int_equal(es.n, 6);
	assert_int_equal(es.v[0].id, ids[5]);
	assert_string_equal(es.v[0].text, "105 lab - syncd c2 wave canary halted");
	assert_int_equal(es.v[5].id, ids[0]);
	assert_string_equal(es.v[5].text, "100 - - webhook c1 push received ok");
	assert_string_equal(es.v[2].text, "103 lab agw-1 syncd - ack version 1 ok");

	es.n = 0;
	fl.network = "lab";
	assert_int_equal(o8_store_events_list(s, &fl, collect_event, &es, &e), O8_OK);
	assert_int_equal(es.n, 4);
	assert_int_equal(es.v[0].id, ids[5]);
	assert_int_equal(es.v[1].id, ids[3]);
	assert_int_equal(es.v[2].id, ids[2]);
	assert_int_equal(es.v[3].id, ids[1]);

	es.n = 0;
	fl.gateway = "agw-1";
	assert_int_equal(o8_store_events_list(s, &fl, collect_event, &es, &e), O8_OK);
	assert_int_equal(es.n, 2);
	assert_int_equal(es.v[0].id, ids[3]);
	assert_int_equal(es.v[1].id, ids[1]);

	es.n = 0;
	fl.network = NULL;      /* agw-1 of any network */
	assert_int_equal(o8_store_events_list(s, &fl, collect_event, &es, &e), O8_OK);
	assert_int_equal(es.n, 3);
	assert_int_equal(es.v[0].id, ids[4]);

	es.n = 0;
	fl.gateway = NULL;
	fl.since_id = ids[2];
	assert_int_equal(o8_store_events_list(s, &fl, collect_event, &es, &e), O8_OK);
	assert_int_equal(es.n, 3);
	assert_int_equal(es.v[2].id, ids[3]);

	es.n = 0;
	fl.since_id = 0;
	fl.limit = 2;
	assert_int_equal(o8_store_events_list(s, &fl, collect_event, &es, &e), O8_OK);
	assert_int_equal(es.n, 2);
	assert_int_equal(es.v[0].id, ids[5]);
	assert_int_equal(es.v[1].id, ids[4]);
	o8_store_close(s);
}

/* --- how fast -------------------------------------------------------- */

static void store__ack_10000_timing(void **state)
{
	struct fx *f = *state;
	struct o8_err e = O8_ERR_INIT;
	struct o8_store *s = open_ok(f);
	struct o8_store_record *v1 = mkrecs(10000, "00101000", 1);
	struct o8_store_record *v2 = mkrecs(10000, "00101000", 2);
	struct o8_store_ack a = O8_STORE_ACK_INIT;
	struct timespec t0;
	double first, again, delta, many;
	int i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(ack(s, "lab", "agw-1", 1, v1, 10000, true, &e), O8_OK);
	first = ms_since(&t0);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(ack(s, "lab", "agw-1", 2, v2, 10000, true, &e), O8_OK);
	again = ms_since(&t0);

	a.version = 3;
	a.upserts = &v1[1234];
	a.nupserts = 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(o8_store_agent_ack(s, "lab", "agw-1", &a, &e), O8_OK);
	delta = ms_since(&t0);

	/* 100 AGWs acking a one-record delta, one transaction */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(o8_store_begin(s, &e), O8_OK);
	for (i = 0; i < 100; i++) {
		char gw[32];

		snprintf(gw, sizeof(gw), "agw-%d", 100 + i);
		assert_int_equal(o8_store_agent_ack(s, "lab", gw, &a, &e), O8_OK);
	}
	assert_int_equal(o8_store_commit(s, &e), O8_OK);
	many = ms_since(&t0);

	print_message("ack of 10,000 records: %.1f ms new, %.1f ms replacing all, "
		      "%.2f ms for a one-record delta, %.1f ms for 100 agents' "
		      "one-record deltas in one transaction\n",
		      first, again, delta, many);
	assert_records(s, "lab", "agw-100", &v1[1234], 1);
	o8_store_close(s);
	freerecs(v1, 10000);
	freerecs(v2, 10000);
}

int main(void)
{
	const struct CMUnitTest generic[] = {
		cmocka_unit_test_setup_teardown(store__ack_survives_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(store__ack_delta_and_full, setup, teardown),
		cmocka_unit_test_setup_teardown(store__older_ack_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(store__failing_statement_rolls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(store__batch_rolls_back_or_commits, setup, teardown),
		cmocka_unit_test_setup_teardown(store__agent_fields_and_list, setup, teardown),
		cmocka_unit_test_setup_teardown(store__callbacks_may_read, setup, teardown),
		cmocka_unit_test_setup_teardown(store__reports_overwrite_and_history, setup, teardown),
		cmocka_unit_test_setup_teardown(store__events_newest_first_with_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(store__ack_10000_timing, setup, teardown),
		cmocka_unit_test_setup_teardown(store__kill9_leaves_old_or_new, setup, teardown),
	};
	const struct CMUnitTest sqlite[] = {
		cmocka_unit_test_setup_teardown(store_sqlite__migrations_create_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(store_sqlite__newer_schema_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(store_sqlite__foreign_files_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(store_sqlite__url_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(store_sqlite__locked_error_names_the_ack, setup, teardown),
	};
	const struct CMUnitTest pg[] = {
		cmocka_unit_test_setup_teardown(store_pg__migrations_create_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(store_pg__newer_schema_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(store_pg__foreign_database_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(store_pg__locked_error_names_the_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(store_pg__replicas_open_a_new_database_at_once, setup, teardown),
	};
	int failed = 0;

	failed += cmocka_run_group_tests_name(on_pg() ? "store on postgresql"
					      : "store on sqlite", generic, NULL, NULL);
	if (on_pg())
		failed += cmocka_run_group_tests_name("store_pg", pg, NULL, NULL);
	else
		failed += cmocka_run_group_tests_name("store_sqlite", sqlite, NULL, NULL);
	return failed;
}
