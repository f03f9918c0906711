/*
 * test_agstate.c - the AGW's applied state (agent/agstate.h): a full and a
 * delta apply give exactly the records syncd compiled, on disk and after
 * a reopen; the version rules and bad changes are refused without a trace;
 * records handed in as views are copied; only the previous generation is
 * kept; a process killed before any durable step leaves the old or the
 * new version, never a mix, never a leftover; a corrupt generation is
 * found at open and the previous one takes over (or open names the
 * file); revert goes back one version; one process at a time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <nettle/base16.h>
#include <nettle/sha2.h>

#include "agstate.h"
#include "repo/compile.h"
#include "mconfig.h"
#include "orc8r.pb-c.h"
#include "repo/validate.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------------ */
/* Fixtures                                                                 */

/* The lab example compiled once; configs of two of its gateways. */
static struct o8_model *lab_model;
static struct o8_records *lab_recs;
static struct o8_agw_config berlin1, berlin2;

static int setup(void **state)
{
	const char *src = getenv("O8_SOURCE_DIR");
	struct o8_diags d = O8_DIAGS_INIT;
	struct o8_err err = O8_ERR_INIT;
	char dir[4096];

	(void)state;
	if (!src)
		return -1;
	snprintf(dir, sizeof(dir), "%s/examples/networks", src);
	if (o8_validate_dir(&lab_model, dir, NULL, NULL, &d, &err) || d.n ||
	    o8_compile(&lab_recs, lab_model, &err) ||
	    o8_compile_agw(&berlin1, lab_recs, "lab", "agw-berlin-1", &err) ||
	    o8_compile_agw(&berlin2, lab_recs, "lab", "agw-berlin-2", &err))
		return -1;
	o8_diags_free(&d);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	o8_agw_config_done(&berlin1);
	o8_agw_config_done(&berlin2);
	o8_records_free(lab_recs);
	o8_model_free(lab_model);
	return 0;
}

/* A set of records as the tests want them: sorted pointers. */
struct set {
	const struct o8_record *const *v;
	size_t n;
	const char *gateway;
};

static struct set set_of(const struct o8_agw_config *c, const char *gateway)
{
	struct set s = { (const struct o8_record *const *)c->recs, c->n, gateway };

	return s;
}

/* A fresh state directory name (not created: open creates it). */
static void tmpdir(char *out, size_t len)
{
	const char *t = getenv("TMPDIR");
	char base[2048];

	snprintf(base, sizeof(base), "%s/o8agstateXXXXXX", t && *t ? t : "/tmp");
	assert_non_null(mkdtemp(base));
	snprintf(out, len, "%s/state", base);
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rmtree(const char *state_dir)
{
	char base[4096];

	snprintf(base, sizeof(base), "%s", state_dir);
	*strrchr(base, '/') = '\0';
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The upserts of a change, as the array of structs apply takes. */
struct change {
	struct o8_agstate_change c;
	struct o8_record *ups;
	struct o8_wire_key *dels;
};

static void change_done(struct change *x)
{
	free(x->ups);
	free(x->dels);
}

/* A full change to version `to` holding s. */
static struct change full_change(struct set s, uint64_t to)
{
	struct change x = { 0 };
	size_t i;

	assert_non_null(x.ups = malloc((s.n ? s.n : 1) * sizeof(*x.ups)));
	for (i = 0; i < s.n; i++)
		x.ups[i] = *s.v[i];
	x.c.to_version = to;
	x.c.commit = "c0ffee";
	x.c.full = true;
	x.c.upserts = x.ups;
	x.c.nupserts = s.n;
	x.c.network = "lab";
	x.c.gateway = s.gateway;
	return x;
}

static int rcmp(const struct o8_record *a, const struct o8_record *b)
{
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	return strcmp(a->key, b->key);
}

/* The delta that turns a into b (both sorted). */
static struct change delta_change(struct set a, struct set b, uint64_t from,
				  uint64_t to)
{
	struct change x = { 0 };
	size_t i = 0, j = 0, nu = 0, nd = 0;

	assert_non_null(x.ups = malloc((b.n + 1) * sizeof(*x.ups)));
	assert_non_null(x.dels = malloc((a.n + 1) * sizeof(*x.dels)));
	while (i < a.n || j < b.n) {
		int c = i == a.n ? 1 : j == b.n ? -1 : rcmp(a.v[i], b.v[j]);

		if (c < 0) {
			x.dels[nd].kind = a.v[i]->kind;
			x.dels[nd++].key = a.v[i++]->key;
		} else if (c > 0) {
			x.ups[nu++] = *b.v[j++];
		} else {
			if (memcmp(a.v[i]->digest, b.v[j]->digest, 32))
				x.ups[nu++] = *b.v[j];
			i++;
			j++;
		}
	}
	x.c.from_version = from;
	x.c.to_version = to;
	x.c.commit = "beef";
	x.c.upserts = x.ups;
	x.c.nupserts = nu;
	x.c.deletes = x.dels;
	x.c.ndeletes = nd;
	x.c.network = "lab";
	x.c.gateway = b.gateway;
	return x;
}

static void sha256(const void *p, size_t n, uint8_t out[32])
{
	struct sha256_ctx c;

	sha256_init(&c);
	sha256_update(&c, n, p);
	sha256_digest(&c, 32, out);
}

/*
 * berlin1 with one subscriber set INACTIVE: a real one-record change.
 * The new record's key and body live in *keep (free it).
 */
struct edited {
	struct o8_record **v;           /* the set, sorted */
	struct o8_record rec;
	uint8_t *body;
	size_t n;
};

static void edit_subscriber(struct edited *e, struct set base, const char *key)
{
	Orc8r__V1__Subscriber *u;
	size_t i;

	memset(e, 0, sizeof(*e));
	assert_non_null(e->v = malloc(base.n * sizeof(*e->v)));
	for (i = 0; i < base.n; i++) {
		e->v[i] = (struct o8_record *)base.v[i];
		if (base.v[i]->kind != O8_REC_SUBSCRIBER || strcmp(base.v[i]->key, key))
			continue;
		e->rec = *base.v[i];
		u = orc8r__v1__subscriber__unpack(NULL, e->rec.len, e->rec.body);
		assert_non_null(u);
		u->state = ORC8R__V1__SUBSCRIBER_STATE__SUBSCRIBER_STATE_INACTIVE;
		e->rec.len = orc8r__v1__subscriber__get_packed_size(u);
		assert_non_null(e->body = malloc(e->rec.len));
		orc8r__v1__subscriber__pack(u, e->body);
		orc8r__v1__subscriber__free_unpacked(u, NULL);
		e->rec.body = e->body;
		sha256(e->body, e->rec.len, e->rec.digest);
		e->v[i] = &e->rec;
	}
	e->n = base.n;
	assert_non_null(e->body);
}

static struct set edited_set(const struct edited *e, const char *gateway)
{
	struct set s = { (const struct o8_record *const *)e->v, e->n, gateway };

	return s;
}

static void edited_done(struct edited *e)
{
	free(e->v);
	free(e->body);
}

/* ------------------------------------------------------------------------ */
/* Checks                                                                   */

static struct o8_agstate *must_open(const char *dir)
{
	struct o8_err err = O8_ERR_INIT;
	struct o8_agstate *s = NULL;

	if (o8_agstate_open(&s, dir, &err))
		fail_msg("open: %s", err.msg);
	return s;
}

static void must_apply(struct o8_agstate *s, const struct o8_agstate_change *c)
{
	struct o8_err err = O8_ERR_INIT;

	if (o8_agstate_apply(s, c, &err))
		fail_msg("apply: %s", err.msg);
}

/* The state holds exactly want: records, bodies, digests, kind digests. */
static void same_records(const struct o8_agstate *s, struct set want)
{
	const struct o8_record *const *got = o8_agstate_records(s);
	struct o8_wire_kind_digests kd;
	struct o8_err err = O8_ERR_INIT;
	size_t i;

	assert_int_equal(o8_agstate_count(s), want.n);
	for (i = 0; i < want.n; i++) {
		if (rcmp(got[i], want.v[i]) || got[i]->len != want.v[i]->len ||
		    strcmp(got[i]->network, want.v[i]->network) ||
		    (got[i]->len && memcmp(got[i]->body, want.v[i]->body, got[i]->len)) ||
		    memcmp(got[i]->digest, want.v[i]->digest, 32))
			fail_msg("record %zu: %s '%s' differs from %s '%s'", i,
				 o8_rec_kind_name(got[i]->kind), got[i]->key,
				 o8_rec_kind_name(want.v[i]->kind), want.v[i]->key);
		assert_ptr_equal(o8_agstate_find(s, want.v[i]->kind, want.v[i]->key),
				 got[i]);
	}
	assert_int_equal(o8_wire_kind_digests_of(&kd, want.v, want.n, &err), O8_OK);
	assert_memory_equal(&kd, o8_agstate_kind_digests(s), sizeof(kd));
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		return NULL;
	n = getdelim(&p, &cap, '\0', f);
	fclose(f);
	if (n < 0) {
		free(p);
		return strdup("");
	}
	return p;
}

/* DIR/current/gateway.mconfig is what mconfig renders from want. */
static void current_mconfig_is(const char *dir, struct set want)
{
	struct o8_err err = O8_ERR_INIT;
	char path[4200], *mc, *disk;

	snprintf(path, sizeof(path), "%s/current/gateway.mconfig", dir);
	disk = read_text(path);
	if (!want.gateway) {
		assert_null(disk);
		return;
	}
	assert_int_equal(o8_mconfig_render(&mc, NULL, want.v, want.n, "lab",
					   want.gateway, &err), O8_OK);
	assert_non_null(disk);
	assert_string_equal(disk, mc);
	free(mc);
	free(disk);
}

/* gen/ holds exactly the generations listed (and nothing staged), and
 * no pointer leftover is beside current. */
static void generations_are(const char *dir, const uint64_t *want, size_t n)
{
	char path[4200], seen[64][256];
	struct dirent *e;
	size_t i, k = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/gen", dir);
	assert_non_null(d = opendir(path));
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && k < 64)
			snprintf(seen[k++], sizeof(seen[0]), "%s", e->d_name);
	closedir(d);
	for (i = 0; i < n; i++) {
		char name[32];
		size_t j;

		snprintf(name, sizeof(name), "%" PRIu64, want[i]);
		for (j = 0; j < k && strcmp(seen[j], name); j++)
			;
		if (j == k)
			fail_msg("gen/%s is missing", name);
	}
	if (k != n)
		fail_msg("gen/ holds %zu entries, expected %zu (first: %s)", k, n,
			 k ? seen[0] : "-");
	snprintf(path, sizeof(path), "%s/.current.tmp", dir);
	assert_int_equal(access(path, F_OK), -1);
}

static void pointer_is(const char *dir, uint64_t v)
{
	char path[4200], link[64], want[64];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/current", dir);
	n = readlink(path, link, sizeof(link) - 1);
	if (!v) {
		assert_true(n < 0);
		return;
	}
	assert_true(n > 0);
	link[n] = '\0';
	snprintf(want, sizeof(want), "gen/%" PRIu64, v);
	assert_string_equal(link, want);
}

static mode_t mode_of(const char *dir, const char *rel)
{
	char path[4200];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                    */

static void agstate__empty_dir_is_created_private(void **state)
{
	struct o8_wire_kind_digests none;
	struct o8_err err = O8_ERR_INIT;
	struct o8_agstate *s;
	char dir[4096];

	(void)state;
	tmpdir(dir, sizeof(dir));
	s = must_open(dir);
	assert_int_equal(mode_of(dir, "."), 0700);
	assert_int_equal(mode_of(dir, "gen"), 0700);
	assert_int_equal(o8_agstate_version(s), 0);
	assert_string_equal(o8_agstate_commit(s), "");
	assert_int_equal(o8_agstate_count(s), 0);
	assert_int_equal(o8_agstate_previous(s), 0);
	assert_null(o8_agstate_recovered(s));
	assert_null(o8_agstate_find(s, O8_REC_NETWORK, "lab"));
	assert_int_equal(o8_wire_kind_digests_of(&none, NULL, 0, &err), O8_OK);
	assert_memory_equal(&none, o8_agstate_kind_digests(s), sizeof(none));
	o8_agstate_free(s);
	rmtree(dir);
}

static void agstate__full_apply_is_durable_and_reloads(void **state)
{
	struct set b1 = set_of(&berlin1, "agw-berlin-1");
	struct change x = full_change(b1, 1);
	const uint64_t gens[] = { 1 };
	struct o8_agstate *s;
	char dir[4096], path[4200], *subs;

	(void)state;
	tmpdir(dir, sizeof(dir));
	s = must_open(dir);
	must_apply(s, &x.c);
	assert_int_equal(o8_agstate_version(s), 1);
	assert_string_equal(o8_agstate_commit(s), "c0ffee");
	assert_int_equal(o8_agstate_previous(s), 0);
	same_records(s, b1);
	change_done(&x);
	o8_agstate_free(s);

	pointer_is(dir, 1);
	generations_are(dir, gens, 1);
	current_mconfig_is(dir, b1);
	assert_int_equal(mode_of(dir, "gen/1/subscribers.json"), 0600);
	assert_int_equal(mode_of(dir, "gen/1/records.bin"), 0600);
	assert_int_equal(mode_of(dir, "gen/1/meta.json"), 0600);
	assert_int_equal(mode_of(dir, "gen/1"), 0700);
	snprintf(path, sizeof(path), "%s/current/subscribers.json", dir);
	assert_non_null(subs = read_text(path));
	assert_non_null(strstr(subs, "e1c60aa3d510bb0432d90dcd57bb7d97"));
	free(subs);

	s = must_open(dir);
	assert_int_equal(o8_agstate_version(s), 1);
	assert_string_equal(o8_agstate_commit(s), "c0ffee");
	same_records(s, b1);
	assert_null(o8_agstate_recovered(s));
	o8_agstate_free(s);
	rmtree(dir);
}

static void agstate__deltas_keep_only_the_previous(void **state)
{
	struct set b1 = set_of(&berlin1, "agw-berlin-1");
	struct set b2 = set_of(&berlin2, "agw-berlin-2");
	struct change x1 = full_change(b1, 1), x2 = delta_change(b1, b2, 1, 2), x3;
	const uint64_t g12[] = { 1, 2 }, g23[] = { 2, 3 };
	struct edited e;
	struct o8_agstate *s;
	char dir[4096];

	(void)state;
	/* berlin-1 to berlin-2: its gateway and eNodeB go, the others' come */
	assert_int_equal(x2.c.ndeletes, 2);
	assert_int_equal(x2.c.nupserts, 2);
	tmpdir(dir, sizeof(dir));
	s = must_open(dir);
	must_apply(s, &x1.c);
	must_apply(s, &x2.c);
	assert_int_equal(o8_agstate_version(s), 2);
	assert_int_equal(o8_agstate_previous(s), 1);
	same_records(s, b2);
	generations_are(dir, g12, 2);
	current_mconfig_is(dir, b2);

	edit_subscriber(&e, b2, "001010000000042");
	x3 = delta_change(b2, edited_set(&e, "agw-berlin-2"), 2, 3);
	assert_int_equal(x3.c.nupserts, 1);
	assert_int_equal(x3.c.ndeletes, 0);
	must_apply(s, &x3.c);
	same_records(s, edited_set(&e, "agw-berlin-2"));
	assert_int_equal(o8_agstate_previous(s), 2);
	generations_are(dir, g23, 2);
	o8_agstate_free(s);

	s = must_open(dir);
	same_records(s, edited_set(&e, "agw-berlin-2"));
	assert_int_equal(o8_agstate_previous(s), 2);
	o8_agstate_free(s);
	change_done(&x1);
	change_done(&x2);
	change_done(&x3);
	edited_done(&e);
	rmtree(dir);
}

/* Each bad change is refused with its code, and nothing changes. */
static void agstate__bad_changes_change_nothing(void **state)
{
	struct set b1 = set_of(&berlin1, "agw-berlin-1");
	struct set b2 = set_of(&berlin2, "agw-berlin-2");
	struct change x1 = full_change(b1, 1), x;
	const uint64_t g1[] = { 1 };
	struct o8_err err = O8_ERR_INIT;
	struct o8_wire_key k;
	struct o8_record r;
	struct o8_agstate *s;
	char dir[4096];

	(void)state;
	tmpdir(dir, sizeof(dir));
	s = must_open(dir);
	must_apply(s, &x1.c);

	/* not newer */
	x = delta_change(b1, b2, 1, 1);
	assert_int_equal(o8_agstate_apply(s, &x.c, &err), O8_ECONFLICT);
	assert_non_null(strstr(err.msg, "not newer"));
	change_done(&x);
	x = full_change(b2, 1);
	o8_err_clear(&err);
	assert_int_equal(o8_agstate_apply(s, &x.c, &err), O8_ECONFLICT);
	change_done(&x);

	/* from a version that is not applied: both numbers are named */
	x = delta_change(b1, b2, 7, 9);
	o8_err_clear(&err);
	assert_int_equal(o8_agstate_apply(s, &x.c, &err), O8_ECONFLICT);
	assert_non_null(strstr(err.msg, "7"));
	assert_non_null(strstr(err.msg, "version 1 is applied"));

	/* a delete of an absent key */
	x.c.from_version = 1;
	k.kind = O8_REC_ENODEB;
	k.key = "NO-SUCH-SERIAL";
	x.c.deletes = &k;
	x.c.ndeletes = 1;
	o8_err_clear(&err);
	assert_int_equal(o8_agstate_apply(s, &x.c, &err), O8_EINVALID);
	assert_non_null(strstr(err.msg, "NO-SUCH-SERIAL"));

	/* a key both upserted and deleted */
	assert_int_equal(b1.v[0]->kind, O8_REC_NETWORK);
	x.ups[x.c.nupserts++] = *b1.v[0];
	k.kind = O8_REC_NETWORK;
	k.key = "lab";
	x.c.deletes = &k;
	x.c.ndeletes = 1;
	o8_err_clear(&err);
	assert_int_equal(o8_agstate_apply(s, &x.c, &err), O8_EINVALID);
	assert_non_null(strstr(err.msg, "both"));
	change_done(&x);

	/* a digest that is not the body's */
	x = delta_change(b1, b2, 1, 2);
	x.ups[0].digest[5] ^= 1;
	o8_err_clear(&err);
	assert_int_equal(o8_agstate_apply(s, &x.c, &err), O8_EINVALID);
	assert_non_null(strstr(err.msg, "digest"));
	x.ups[0].digest[5] ^= 1;

	/* the same record twice */
	r = x.ups[0];
	x.ups[1] = r;
	o8_err_clear(&err);
	assert_int_equal(o8_agstate_apply(s, &x.c, &err), O8_EINVALID);
	assert_non_null(strstr(err.msg, "twice"));
	change_done(&x);

	/* another network's record */
	x = delta_change(b1, b2, 1, 2);
	x.c.network = "lab2";
	o8_err_clear(&err);
	assert_int_equal(o8_agstate_apply(s, &x.c, &err), O8_EINVALID);
	change_done(&x);

	/* a full change with deletes */
	x = full_change(b2, 2);
	k.kind = O8_REC_GATEWAY;
	k.key = "agw-berlin-1";
	x.c.deletes = &k;
	x.c.ndeletes = 1;
	o8_err_clear(&err);
	assert_int_equal(o8_agstate_apply(s, &x.c, &err), O8_EINVALID);
	change_done(&x);

	/* a config the mconfig cannot be rendered from (no such gateway) */
	x = full_change(b2, 2);
	x.c.gateway = "agw-elsewhere";
	o8_err_clear(&err);
	assert_int_equal(o8_agstate_apply(s, &x.c, &err), O8_EINVALID);
	assert_non_null(strstr(err.msg, "agw-elsewhere"));
	change_done(&x);

	assert_int_equal(o8_agstate_version(s), 1);
	same_records(s, b1);
	generations_are(dir, g1, 1);
	pointer_is(dir, 1);
	o8_agstate_free(s);
	change_done(&x1);
	rmtree(dir);
}

/* Upserts may be views into a buffer that is gone after the call. */
static void agstate__views_are_copied(void **state)
{
	struct set b1 = set_of(&berlin1, "agw-berlin-1");
	struct change x = full_change(b1, 1);
	struct o8_agstate *s;
	char dir[4096];
	size_t i;

	(void)state;
	for (i = 0; i < x.c.nupserts; i++) {
		uint8_t *body = malloc(x.ups[i].len + 1);
		assert_non_null(body);
		memcpy(body, x.ups[i].body, x.ups[i].len);
		x.ups[i].body = body;
		assert_non_null(x.ups[i].key = strdup(x.ups[i].key));
		assert_non_null(x.ups[i].network = strdup(x.ups[i].network));
	}
	tmpdir(dir, sizeof(dir));
	s = must_open(dir);
	must_apply(s, &x.c);
	for (i = 0; i < x.c.nupserts; i++) {
		memset((void *)x.ups[i].body, 0xa5, x.ups[i].len);
		memset((void *)x.ups[i].key, 'x', strlen(x.ups[i].key));
		free((void *)x.ups[i].body);
		free((void *)x.ups[i].key);
		free((void *)x.ups[i].network);
	}
	same_records(s, b1);
	o8_agstate_free(s);
	change_done(&x);
	rmtree(dir);
}

/* A change without a gateway writes no mconfig and no subscribers. */
static void agstate__without_gateway_only_records(void **state)
{
	struct set b1 = set_of(&berlin1, NULL);
	struct change x = full_change(b1, 4);
	struct o8_agstate *s;
	char dir[4096], path[4200];

	(void)state;
	tmpdir(dir, sizeof(dir));
	s = must_open(dir);
	must_apply(s, &x.c);
	o8_agstate_free(s);
	current_mconfig_is(dir, b1);
	snprintf(path, sizeof(path), "%s/gen/4/subscribers.json", dir);
	assert_int_equal(access(path, F_OK), -1);
	s = must_open(dir);
	assert_int_equal(o8_agstate_version(s), 4);
	same_records(s, b1);
	o8_agstate_free(s);
	change_done(&x);
	rmtree(dir);
}

/* --- crashes ----------------------------------------------------------------- */

struct steps {
	char names[64][48];
	size_t n;
	size_t die_at;          /* 1-based; 0: never */
};

static int record_step(void *payload, const char *what)
{
	struct steps *st = payload;

	if (st->n < NELEM(st->names))
		snprintf(st->names[st->n], sizeof(st->names[0]), "%s", what);
	if (++st->n == st->die_at)
		_exit(42);      /* a crash: no cleanup, no buffers flushed */
	return 0;
}

/* A directory at version `old` (0: empty) holding from. */
static void prepare(const char *dir, struct set from, uint64_t old)
{
	struct o8_agstate *s = must_open(dir);
	struct change x;

	if (old) {
		x = full_change(from, old);
		must_apply(s, &x.c);
		change_done(&x);
	}
	o8_agstate_free(s);
}

/* In a child: opens dir with the hook and applies c; dies at step k. */
static int crash_at(const char *dir, const struct o8_agstate_change *c,
		    struct steps *st)
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct o8_agstate_open_opts o = { record_step, st };
		struct o8_err err = O8_ERR_INIT;
		struct o8_agstate *s;

		if (o8_agstate_open_opts(&s, dir, &o, &err) ||
		    o8_agstate_apply(s, c, &err))
			_exit(1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/*
 * For every step k of applying `to` over `from`: a child dies at k, then
 * open sees the old or the new version exactly (records, digests, the
 * mconfig on disk), and nothing left behind; the new one from the commit
 * point (the pointer's rename) on, never before; and the state takes the
 * next version.
 */
static void crash_everywhere(struct set from, uint64_t old, struct set to,
			     const struct o8_agstate_change *c)
{
	struct steps dry = { .n = 0 };
	struct set b2 = set_of(&berlin2, "agw-berlin-2");
	char dir[4096];
	bool seen_new = false;
	size_t k, commit = 0;

	/* a dry run, in this process, names the steps */
	tmpdir(dir, sizeof(dir));
	prepare(dir, from, old);
	{
		struct o8_agstate_open_opts o = { record_step, &dry };
		struct o8_err err = O8_ERR_INIT;
		struct o8_agstate *s;

		assert_int_equal(o8_agstate_open_opts(&s, dir, &o, &err), O8_OK);
		must_apply(s, c);
		o8_agstate_free(s);
	}
	rmtree(dir);
	for (k = 0; k < dry.n; k++)
		if (!strcmp(dry.names[k], "fsync state directory"))
			commit = k + 1;
	assert_true(commit > 0);
	assert_true(dry.n > 12);

	for (k = 1; k <= dry.n; k++) {
		struct steps st = { .die_at = k };
		uint64_t gens[2];
		struct o8_agstate *s;
		struct change next;
		bool is_new;

		tmpdir(dir, sizeof(dir));
		prepare(dir, from, old);
		if (crash_at(dir, c, &st) != 42)
			fail_msg("the child did not die at step %zu", k);
		s = must_open(dir);
		is_new = o8_agstate_version(s) == c->to_version;
		if (!is_new && o8_agstate_version(s) != old)
			fail_msg("step %zu (%s): version %" PRIu64, k,
				 dry.names[k - 1], o8_agstate_version(s));
		if (is_new != (k >= commit))
			fail_msg("step %zu (%s): %s version", k, dry.names[k - 1],
				 is_new ? "new" : "old");
		assert_true(!seen_new || is_new);
		seen_new = is_new;
		same_records(s, is_new ? to : from);
		current_mconfig_is(dir, is_new ? to : (old ? from : (struct set){ 0 }));
		gens[0] = o8_agstate_version(s);
		gens[1] = old;
		generations_are(dir, gens, !gens[0] ? 0 : (is_new && old) ? 2 : 1);
		/* and it goes on */
		next = full_change(b2, c->to_version + 1);
		must_apply(s, &next.c);
		change_done(&next);
		o8_agstate_free(s);
		rmtree(dir);
	}
}

static void agstate__crash_at_every_step_of_a_first_apply(void **state)
{
	struct set b1 = set_of(&berlin1, "agw-berlin-1");
	struct change x = full_change(b1, 1);

	(void)state;
	crash_everywhere((struct set){ NULL, 0, NULL }, 0, b1, &x.c);
	change_done(&x);
}

static void agstate__crash_at_every_step_of_a_delta(void **state)
{
	struct set b1 = set_of(&berlin1, "agw-berlin-1");
	struct set b2 = set_of(&berlin2, "agw-berlin-2");
	struct change x = delta_change(b1, b2, 5, 6);

	(void)state;
	crash_everywhere(b1, 5, b2, &x.c);
	change_done(&x);
}

/* A hook that fails one step, as a full disk would. */
static int failer(void *payload, const char *what)
{
	return *(int *)payload && !strcmp(what, "write gateway.mconfig");
}

/* The hook failing (as a write would) leaves the old version in place. */
static void agstate__failed_write_changes_nothing(void **state)
{
	struct set b1 = set_of(&berlin1, "agw-berlin-1");
	struct set b2 = set_of(&berlin2, "agw-berlin-2");
	struct change x1 = full_change(b1, 1), x2 = delta_change(b1, b2, 1, 2);
	struct o8_err err = O8_ERR_INIT;
	const uint64_t g1[] = { 1 };
	struct o8_agstate *s;
	char dir[4096];
	int fail_on = 0;

	(void)state;
	tmpdir(dir, sizeof(dir));
	prepare(dir, b1, 1);
	{
		struct o8_agstate_open_opts o = { failer, &fail_on };

		assert_int_equal(o8_agstate_open_opts(&s, dir, &o, &err), O8_OK);
	}
	fail_on = 1;
	assert_int_equal(o8_agstate_apply(s, &x2.c, &err), O8_ERR);
	assert_non_null(strstr(err.msg, "gateway.mconfig"));
	assert_int_equal(o8_agstate_version(s), 1);
	same_records(s, b1);
	generations_are(dir, g1, 1);
	fail_on = 0;
	must_apply(s, &x2.c);
	same_records(s, b2);
	o8_agstate_free(s);
	change_done(&x1);
	change_done(&x2);
	rmtree(dir);
}

/* --- corruption ----------------------------------------------------------------- */

static void flip_byte(const char *path, long off)
{
	int fd = open(path, O_RDWR);
	unsigned char c;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0x40;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static long file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (long)st.st_size;
}

enum damage { D_FLIP_RECORDS, D_TRUNCATE_RECORDS, D_FLIP_MCONFIG,
	      D_TRUNCATE_SUBSCRIBERS, D_META_GARBAGE, D_REMOVE_META,
	      D_REMOVE_DIR };

static const struct {
	enum damage d;
	const char *file;       /* what the message names */
} damages[] = {
	{ D_FLIP_RECORDS, "records.bin" },
	{ D_TRUNCATE_RECORDS, "records.bin" },
	{ D_FLIP_MCONFIG, "gateway.mconfig" },
	{ D_TRUNCATE_SUBSCRIBERS, "subscribers.json" },
	{ D_META_GARBAGE, "meta.json" },
	{ D_REMOVE_META, "meta.json" },
	{ D_REMOVE_DIR, "gen/2" },
};

static void damage(const char *dir, uint64_t v, enum damage d)
{
	char g[4200], path[4300];

	snprintf(g, sizeof(g), "%s/gen/%" PRIu64, dir, v);
	switch (d) {
	case D_FLIP_RECORDS:
		snprintf(path, sizeof(path), "%s/records.bin", g);
		flip_byte(path, file_size(path) / 2);
		break;
	case D_TRUNCATE_RECORDS:
		snprintf(path, sizeof(path), "%s/records.bin", g);
		assert_int_equal(truncate(path, file_size(path) - 100), 0);
		break;
	case D_FLIP_MCONFIG:
		snprintf(path, sizeof(path), "%s/gateway.mconfig", g);
		flip_byte(path, 10);
		break;
	case D_TRUNCATE_SUBSCRIBERS:
		snprintf(path, sizeof(path), "%s/subscribers.json", g);
		assert_int_equal(truncate(path, 5), 0);
		break;
	case D_META_GARBAGE:
		snprintf(path, sizeof(path), "%s/meta.json", g);
		assert_int_equal(truncate(path, 20), 0);
		break;
	case D_REMOVE_META:
		snprintf(path, sizeof(path), "%s/meta.json", g);
		assert_int_equal(unlink(path), 0);
		break;
	case D_REMOVE_DIR:
		snprintf(path, sizeof(path), "rm -rf '%s'", g);
		assert_int_equal(system(path), 0);
		break;
	}
}

static void agstate__corrupt_current_falls_back(void **state)
{
	struct set b1 = set_of(&berlin1, "agw-berlin-1");
	struct set b2 = set_of(&berlin2, "agw-berlin-2");
	const uint64_t g1[] = { 1 };
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(damages); i++) {
		struct change x1 = full_change(b1, 1), x2 = delta_change(b1, b2, 1, 2);
		struct o8_agstate *s;
		char dir[4096];

		tmpdir(dir, sizeof(dir));
		s = must_open(dir);
		must_apply(s, &x1.c);
		must_apply(s, &x2.c);
		o8_agstate_free(s);
		damage(dir, 2, damages[i].d);

		s = must_open(dir);
		assert_int_equal(o8_agstate_version(s), 1);
		same_records(s, b1);
		assert_non_null(o8_agstate_recovered(s));
		if (!strstr(o8_agstate_recovered(s), damages[i].file))
			fail_msg("damage %zu: '%s' does not name %s", i,
				 o8_agstate_recovered(s), damages[i].file);
		o8_agstate_free(s);
		pointer_is(dir, 1);
		generations_are(dir, g1, 1);
		current_mconfig_is(dir, b1);
		/* the next open is a plain one */
		s = must_open(dir);
		assert_null(o8_agstate_recovered(s));
		o8_agstate_free(s);
		change_done(&x1);
		change_done(&x2);
		rmtree(dir);
	}
}

static void agstate__corrupt_without_previous_names_the_file(void **state)
{
	struct set b1 = set_of(&berlin1, "agw-berlin-1");
	struct change x = full_change(b1, 1);
	struct o8_err err = O8_ERR_INIT;
	struct o8_agstate *s;
	char dir[4096], path[4200];

	(void)state;
	tmpdir(dir, sizeof(dir));
	prepare(dir, b1, 1);
	snprintf(path, sizeof(path), "%s/gen/1/records.bin", dir);
	assert_int_equal(truncate(path, file_size(path) - 1), 0);
	assert_int_equal(o8_agstate_open(&s, dir, &err), O8_EINVALID);
	assert_null(s);
	assert_non_null(strstr(err.msg, "gen/1/records.bin"));
	assert_non_null(strstr(err.msg, "truncated"));
	change_done(&x);
	rmtree(dir);
}

/*
 * A body altered with meta.json made to agree: the file checks pass, the
 * record's own digest does not.
 */
static void agstate__every_digest_is_checked(void **state)
{
	struct set b1 = set_of(&berlin1, "agw-berlin-1");
	struct o8_err err = O8_ERR_INIT;
	const struct o8_record *sub = NULL;
	struct o8_agstate *s;
	char dir[4096], path[4200], mpath[4200], hex[65];
	uint8_t *buf, *hit, digest[32];
	json_t *meta;
	size_t i, len;
	FILE *f;

	(void)state;
	tmpdir(dir, sizeof(dir));
	prepare(dir, b1, 1);
	for (i = 0; i < b1.n; i++)
		if (b1.v[i]->kind == O8_REC_SUBSCRIBER && b1.v[i]->len > 20)
			sub = b1.v[i];
	assert_non_null(sub);
	snprintf(path, sizeof(path), "%s/gen/1/records.bin", dir);
	len = (size_t)file_size(path);
	assert_non_null(buf = malloc(len));
	assert_non_null(f = fopen(path, "r+b"));
	assert_int_equal(fread(buf, 1, len, f), len);
	assert_non_null(hit = memmem(buf, len, sub->body, sub->len));
	hit[sub->len - 1] ^= 1;
	rewind(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
	sha256(buf, len, digest);
	base16_encode_update(hex, 32, digest);
	hex[64] = '\0';
	snprintf(mpath, sizeof(mpath), "%s/gen/1/meta.json", dir);
	assert_non_null(meta = json_load_file(mpath, 0, NULL));
	json_object_set_new(json_object_get(json_object_get(meta, "files"),
					    "records.bin"), "sha256", json_string(hex));
	assert_int_equal(json_dump_file(meta, mpath, JSON_COMPACT), 0);
	json_decref(meta);

	assert_int_equal(o8_agstate_open(&s, dir, &err), O8_EINVALID);
	assert_non_null(strstr(err.msg, "does not match its body"));
	assert_non_null(strstr(err.msg, sub->key));
	free(buf);
	rmtree(dir);
}

static void agstate__leftovers_are_swept(void **state)
{
	struct set b1 = set_of(&berlin1, "agw-berlin-1");
	const uint64_t g1[] = { 1 };
	struct o8_agstate *s;
	char dir[4096], path[4300];

	(void)state;
	tmpdir(dir, sizeof(dir));
	prepare(dir, b1, 1);
	snprintf(path, sizeof(path), "%s/.current.tmp", dir);
	assert_int_equal(symlink("gen/9", path), 0);
	snprintf(path, sizeof(path), "%s/gen/.staging-9", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/gen/.staging-9/records.bin", dir);
	assert_int_equal(close(open(path, O_CREAT | O_WRONLY, 0600)), 0);
	snprintf(path, sizeof(path), "%s/gen/7", dir);       /* never pointed to */
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/gen/7/meta.json", dir);
	assert_int_equal(close(open(path, O_CREAT | O_WRONLY, 0600)), 0);

	s = must_open(dir);
	assert_int_equal(o8_agstate_version(s), 1);
	assert_null(o8_agstate_recovered(s));
	generations_are(dir, g1, 1);
	o8_agstate_free(s);
	rmtree(dir);
}

static void agstate__revert_goes_back_once(void **state)
{
	struct set b1 = set_of(&berlin1, "agw-berlin-1");
	struct set b2 = set_of(&berlin2, "agw-berlin-2");
	struct change x1 = full_change(b1, 1), x2 = delta_change(b1, b2, 1, 2);
	struct change x3 = delta_change(b1, b2, 1, 3);
	const uint64_t g1[] = { 1 }, g13[] = { 1, 3 };
	struct o8_err err = O8_ERR_INIT;
	struct o8_agstate *s;
	char dir[4096];

	(void)state;
	tmpdir(dir, sizeof(dir));
	s = must_open(dir);
	must_apply(s, &x1.c);
	must_apply(s, &x2.c);
	assert_int_equal(o8_agstate_revert(s, &err), O8_OK);
	assert_int_equal(o8_agstate_version(s), 1);
	assert_int_equal(o8_agstate_previous(s), 0);
	same_records(s, b1);
	pointer_is(dir, 1);
	generations_are(dir, g1, 1);
	current_mconfig_is(dir, b1);
	assert_int_equal(o8_agstate_revert(s, &err), O8_ENOTFOUND);
	/* a newer version from the one reverted to */
	must_apply(s, &x3.c);
	same_records(s, b2);
	generations_are(dir, g13, 2);
	o8_agstate_free(s);
	change_done(&x1);
	change_done(&x2);
	change_done(&x3);
	rmtree(dir);
}

static void agstate__one_process_at_a_time(void **state)
{
	struct o8_err err = O8_ERR_INIT;
	struct o8_agstate *a, *b;
	char dir[4096];

	(void)state;
	tmpdir(dir, sizeof(dir));
	a = must_open(dir);
	assert_int_equal(o8_agstate_open(&b, dir, &err), O8_ECONFLICT);
	assert_null(b);
	o8_agstate_free(a);
	b = must_open(dir);
	o8_agstate_free(b);
	rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(agstate__empty_dir_is_created_private),
		cmocka_unit_test(agstate__full_apply_is_durable_and_reloads),
		cmocka_unit_test(agstate__deltas_keep_only_the_previous),
		cmocka_unit_test(agstate__bad_changes_change_nothing),
		cmocka_unit_test(agstate__views_are_copied),
		cmocka_unit_test(agstate__without_gateway_only_records),
		cmocka_unit_test(agstate__crash_at_every_step_of_a_first_apply),
		cmocka_unit_test(agstate__crash_at_every_step_of_a_delta),
		cmocka_unit_test(agstate__failed_write_changes_nothing),
		cmocka_unit_test(agstate__corrupt_current_falls_back),
		cmocka_unit_test(agstate__corrupt_without_previous_names_the_file),
		cmocka_unit_test(agstate__every_digest_is_checked),
		cmocka_unit_test(agstate__leftovers_are_swept),
		cmocka_unit_test(agstate__revert_goes_back_once),
		cmocka_unit_test(agstate__one_process_at_a_time),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
