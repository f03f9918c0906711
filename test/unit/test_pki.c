/*
 * test_pki.c - the orc8r CA (lib/proto/pki.h): init writes a CA and a server
 * certificate with the right modes, SANs and extensions and never replaces
 * a CA; an enrolment token redeems exactly once, not after its expiry, not
 * with a wrong secret, not with a tampered CSR, and is never stored in
 * clear; the client certificate carries network/gateway, clientAuth and a
 * 7-day validity and chains to the CA; revocation reaches the CRL and the
 * verifier; renewal is due at 2/3 of the lifetime.  An operator's
 * certificate carries CN=NAME, OU=orc8r-operator, clientAuth and 90 days;
 * the gateway verifier refuses it and the operator verifier refuses a
 * gateway's, even when a CA-signed subject is crafted to look like the
 * other kind; revoking an operator reaches its verifier and nothing else.
 * Every certificate is checked by parsing it with GnuTLS, not by trusting
 * our own bookkeeping.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "proto/pki.h"
#include "util/fileio.h"

#define DAY 86400

/* --- fixtures ------------------------------------------------------------ */

struct fx {
	char root[256];         /* temp dir, removed afterwards */
	char pki[300];          /* root/pki: an initialised PKI */
	char key[300];          /* root/agw.key: a gateway key (made by make_csr) */
	time_t now;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static char *path_in(const char *dir, const char *name)
{
	static char buf[4][512];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", dir, name);
	return buf[k];
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? 2 * cap : 8192;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		size_t r = fread(buf + n, 1, cap - n - 1, f);

		n += r;
		if (r == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static unsigned mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static void init_pki(const char *dir, time_t now)
{
	static const char *const hosts[] = { "syncd.example.org", "10.0.0.1", "::1" };
	struct o8_pki_opts o = O8_PKI_OPTS_INIT;
	struct o8_err err = O8_ERR_INIT;

	o.now = now;
	if (o8_pki_init(dir, hosts, 3, &o, &err))
		fail_msg("init: %s", err.msg);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	const char *tmp = getenv("TMPDIR");

	assert_non_null(fx);
	snprintf(fx->root, sizeof(fx->root), "%s/o8-pki-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(fx->root));
	snprintf(fx->pki, sizeof(fx->pki), "%s/pki", fx->root);
	snprintf(fx->key, sizeof(fx->key), "%s/agw.key", fx->root);
	fx->now = time(NULL);
	init_pki(fx->pki, fx->now);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	nftw(fx->root, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static gnutls_x509_crt_t load_crt_mem(const char *pem)
{
	gnutls_datum_t d = { (unsigned char *)(uintptr_t)pem, (unsigned)strlen(pem) };
	gnutls_x509_crt_t c;

	assert_int_equal(gnutls_x509_crt_init(&c), 0);
	assert_int_equal(gnutls_x509_crt_import(c, &d, GNUTLS_X509_FMT_PEM), 0);
	return c;
}

static gnutls_x509_crt_t load_crt_file(const char *path)
{
	char *pem = slurp(path, NULL);
	gnutls_x509_crt_t c;

	assert_non_null(pem);
	c = load_crt_mem(pem);
	free(pem);
	return c;
}

static char *make_token(const struct fx *fx, const char *net, const char *gw, unsigned ttl)
{
	struct o8_err err = O8_ERR_INIT;
	char *tok = NULL;
	time_t exp = 0;

	if (o8_pki_enroll_token(&tok, &exp, fx->pki, net, gw, ttl, &err))
		fail_msg("enroll-token: %s", err.msg);
	assert_true(exp >= fx->now + (time_t)(ttl ? ttl : O8_PKI_TOKEN_TTL));
	return tok;
}

static char *make_csr(const char *key, const char *hint)
{
	struct o8_err err = O8_ERR_INIT;
	char *csr = NULL;

	if (o8_pki_make_csr(key, hint, &csr, &err))
		fail_msg("make_csr: %s", err.msg);
	return csr;
}

/* Enrols network/gateway end to end and returns its certificate (PEM). */
static char *enrol(const struct fx *fx, const char *net, const char *gw, const char *key)
{
	struct o8_err err = O8_ERR_INIT;
	char *tok = make_token(fx, net, gw, 0), *csr = make_csr(key, NULL), *pem = NULL;

	if (o8_pki_redeem(fx->pki, tok, csr, strlen(csr), 0, 0, &pem, &err))
		fail_msg("redeem: %s", err.msg);
	free(tok);
	free(csr);
	return pem;
}

/* --- init ---------------------------------------------------------------- */

static void init__files_and_modes(void **state)
{
	struct fx *fx = *state;
	size_t len;
	char *s;

	assert_int_equal(mode_of(fx->pki), 0700);
	assert_int_equal(mode_of(path_in(fx->pki, "ca.key")), 0600);
	assert_int_equal(mode_of(path_in(fx->pki, "server.key")), 0600);
	assert_int_equal(mode_of(path_in(fx->pki, "tokens")), 0700);
	assert_int_equal(mode_of(path_in(fx->pki, "issued")), 0600);
	assert_int_equal(mode_of(path_in(fx->pki, "serial")), 0600);
	assert_int_equal(mode_of(path_in(fx->pki, "revoked")), 0600);
	s = slurp(path_in(fx->pki, "revoked"), &len);
	assert_int_equal(len, 0);
	free(s);
	s = slurp(path_in(fx->pki, "ca.key"), NULL);
	assert_non_null(strstr(s, "-----BEGIN PRIVATE KEY-----"));
	free(s);
	s = slurp(path_in(fx->pki, ".gitignore"), NULL);
	assert_non_null(strstr(s, "\n*\n"));
	free(s);
	s = slurp(path_in(fx->pki, "crl.pem"), NULL);
	assert_non_null(strstr(s, "-----BEGIN X509 CRL-----"));
	free(s);
	/* Nothing else, in particular no temporary file or directory left behind. */
	assert_int_equal(access(path_in(fx->root, "pki.tmp"), F_OK), -1);
	{
		char cmd[600];
		FILE *p;
		int n = -1;

		snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l; ls -A '%s' | wc -l", fx->pki,
			 fx->root);
		p = popen(cmd, "r");
		assert_non_null(p);
		assert_int_equal(fscanf(p, "%d", &n), 1);
		assert_int_equal(n, 10);
		assert_int_equal(fscanf(p, "%d", &n), 1);
		assert_int_equal(n, 1);
		pclose(p);
	}
}

static void init__ca_and_server_certificates(void **state)
{
	struct fx *fx = *state;
	gnutls_x509_crt_t ca = load_crt_file(path_in(fx->pki, "ca.crt"));
	gnutls_x509_crt_t srv = load_crt_file(path_in(fx->pki, "server.crt"));
	unsigned status = 99, usage = 0, crit = 0, type;
	char buf[256];
	size_t n;
	int i, dns = 0, ip4 = 0, ip6 = 0, r;
	unsigned bits = 0;

	/* The CA: self-signed, a CA, signs certificates and CRLs, 10 years, P-256. */
	n = sizeof(buf);
	assert_int_equal(gnutls_x509_crt_get_dn_by_oid(ca, GNUTLS_OID_X520_COMMON_NAME, 0, 0,
						       buf, &n), 0);
	assert_string_equal(buf, "orc8r CA");
	assert_true(gnutls_x509_crt_get_ca_status(ca, &crit) > 0);
	assert_true(gnutls_x509_crt_get_key_usage(ca, &usage, &crit) >= 0);
	assert_true(usage & GNUTLS_KEY_KEY_CERT_SIGN);
	assert_true(usage & GNUTLS_KEY_CRL_SIGN);
	assert_int_equal(gnutls_x509_crt_get_pk_algorithm(ca, &bits), GNUTLS_PK_ECDSA);
	assert_int_equal(bits, 256);
	assert_int_equal(gnutls_x509_crt_get_expiration_time(ca), fx->now + 3650 * DAY);
	assert_int_equal(gnutls_x509_crt_get_activation_time(ca), fx->now - 300);
	assert_int_equal(gnutls_x509_crt_verify(ca, &ca, 1, 0, &status), 0);
	assert_int_equal(status, 0);

	/* The server certificate: signed by the CA, serverAuth, not a CA, 1 year. */
	status = 99;
	assert_int_equal(gnutls_x509_crt_verify(srv, &ca, 1, 0, &status), 0);
	assert_int_equal(status, 0);
	assert_true(gnutls_x509_crt_check_key_purpose(srv, GNUTLS_KP_TLS_WWW_SERVER, 0));
	n = sizeof(buf);
	assert_int_equal(gnutls_x509_crt_get_key_purpose_oid(srv, 0, buf, &n, NULL), 0);
	assert_string_equal(buf, GNUTLS_KP_TLS_WWW_SERVER);
	assert_true(gnutls_x509_crt_get_ca_status(srv, &crit) <= 0);
	assert_int_equal(gnutls_x509_crt_get_expiration_time(srv), fx->now + 365 * DAY);
	assert_true(gnutls_x509_crt_check_hostname(srv, "syncd.example.org"));
	assert_true(gnutls_x509_crt_check_ip(srv, (const unsigned char *)"\x0a\0\0\x01", 4, 0));
	assert_false(gnutls_x509_crt_check_hostname(srv, "other.example.org"));

	/* Exactly the three SANs, each of the right type. */
	for (i = 0;; i++) {
		unsigned char ip[16];

		n = sizeof(buf);
		r = gnutls_x509_crt_get_subject_alt_name2(srv, (unsigned)i, buf, &n, &type, NULL);
		if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		assert_true(r >= 0);
		if (type == GNUTLS_SAN_DNSNAME) {
			assert_string_equal(buf, "syncd.example.org");
			dns++;
		} else if (type == GNUTLS_SAN_IPADDRESS && n == 4) {
			assert_int_equal(inet_pton(AF_INET, "10.0.0.1", ip), 1);
			assert_memory_equal(buf, ip, 4);
			ip4++;
		} else if (type == GNUTLS_SAN_IPADDRESS && n == 16) {
			assert_int_equal(inet_pton(AF_INET6, "::1", ip), 1);
			assert_memory_equal(buf, ip, 16);
			ip6++;
		} else {
			fail_msg("unexpected SAN type %u", type);
		}
	}
	assert_int_equal(i, 3);
	assert_int_equal(dns + ip4 + ip6, 3);
	assert_int_equal(dns * ip4 * ip6, 1);
	gnutls_x509_crt_deinit(ca);
	gnutls_x509_crt_deinit(srv);
}

static void init__never_replaces_a_ca(void **state)
{
	struct fx *fx = *state;
	static const char *const hosts[] = { "syncd.example.org" };
	static const char *const bad[] = { "not a host!" };
	struct o8_err err = O8_ERR_INIT;
	char *before = slurp(path_in(fx->pki, "ca.key"), NULL), *after;
	char other[400];

	/* Same directory: refused, the CA key unchanged, the message names it. */
	assert_int_equal(o8_pki_init(fx->pki, hosts, 1, NULL, &err), O8_ECONFLICT);
	assert_non_null(strstr(err.msg, "ca.key' already exists"));
	after = slurp(path_in(fx->pki, "ca.key"), NULL);
	assert_string_equal(before, after);
	free(before);
	free(after);

	/* A non-empty directory without a CA is refused too. */
	snprintf(other, sizeof(other), "%s/busy", fx->root);
	assert_int_equal(mkdir(other, 0700), 0);
	assert_int_equal(mkdir(path_in(other, "x"), 0700), 0);
	o8_err_clear(&err);
	assert_int_equal(o8_pki_init(other, hosts, 1, NULL, &err), O8_ECONFLICT);
	assert_non_null(strstr(err.msg, "not empty"));

	/* No host, or a bad one: refused before anything is created. */
	snprintf(other, sizeof(other), "%s/fresh", fx->root);
	o8_err_clear(&err);
	assert_int_equal(o8_pki_init(other, hosts, 0, NULL, &err), O8_EINVALID);
	o8_err_clear(&err);
	assert_int_equal(o8_pki_init(other, bad, 1, NULL, &err), O8_EINVALID);
	assert_non_null(strstr(err.msg, "'not a host!'"));
	assert_int_equal(access(other, F_OK), -1);

	/* An empty existing directory is fine (and ends up 0700). */
	assert_int_equal(mkdir(other, 0755), 0);
	o8_err_clear(&err);
	assert_int_equal(o8_pki_init(other, hosts, 1, NULL, &err), O8_OK);
	assert_int_equal(mode_of(other), 0700);
	assert_int_equal(mode_of(path_in(other, "ca.key")), 0600);
}

/* --- tokens and redemption ----------------------------------------------- */

static void token__stored_without_secret(void **state)
{
	struct fx *fx = *state;
	char *tok = make_token(fx, "lab", "agw-1", 3600), *secret, *id, *json, path[600];
	unsigned char raw[32], digest[32];
	char dighex[65];
	gnutls_datum_t hex, d;
	size_t n = sizeof(raw), m = sizeof(dighex);

	assert_int_equal(strncmp(tok, "o8e1.", 5), 0);
	assert_int_equal(strlen(tok), 5 + 16 + 1 + 64);
	id = strndup(tok + 5, 16);
	secret = tok + 5 + 16 + 1;
	snprintf(path, sizeof(path), "%s/tokens/%s.json", fx->pki, id);
	assert_int_equal(mode_of(path), 0600);
	json = slurp(path, NULL);
	assert_non_null(json);
	/* Neither the secret (in any case) nor the whole token is on disk... */
	assert_null(strcasestr(json, secret));
	assert_null(strstr(json, tok));
	/* ...only its SHA-256, next to the identity and the expiry. */
	hex.data = (unsigned char *)secret;
	hex.size = 64;
	assert_int_equal(gnutls_hex_decode(&hex, raw, &n), 0);
	assert_int_equal(gnutls_hash_fast(GNUTLS_DIG_SHA256, raw, sizeof(raw), digest), 0);
	d.data = digest;
	d.size = sizeof(digest);
	assert_int_equal(gnutls_hex_encode(&d, dighex, &m), 0);
	assert_non_null(strstr(json, dighex));
	assert_non_null(strstr(json, "\"network\": \"lab\""));
	assert_non_null(strstr(json, "\"gateway\": \"agw-1\""));
	assert_non_null(strstr(json, "\"used\": false"));
	free(json);
	free(id);
	free(tok);

	/* Bad names never make a token. */
	{
		struct o8_err err = O8_ERR_INIT;
		char *t = NULL;

		assert_int_equal(o8_pki_enroll_token(&t, NULL, fx->pki, "lab", "../x", 0, &err),
				 O8_EINVALID);
		assert_null(t);
	}
}

static void redeem__once_then_replay_fails(void **state)
{
	struct fx *fx = *state;
	struct o8_err err = O8_ERR_INIT;
	char *tok = make_token(fx, "lab", "agw-1", 0), *csr = make_csr(fx->key, NULL);
	char *pem = NULL, *again = NULL;

	assert_int_equal(o8_pki_redeem(fx->pki, tok, csr, strlen(csr), 0, 0, &pem, &err), O8_OK);
	assert_non_null(pem);
	assert_int_equal(o8_pki_redeem(fx->pki, tok, csr, strlen(csr), 0, 0, &again, &err),
			 O8_ECONFLICT);
	assert_null(again);
	assert_non_null(strstr(err.msg, "already used"));
	assert_null(strstr(err.msg, tok + 22));         /* the secret is not in the message */
	free(pem);
	free(csr);
	free(tok);
}

/* Racing redemptions of one token (separate processes): exactly one wins. */
static void redeem__concurrent_replay_fails(void **state)
{
	struct fx *fx = *state;
	char *tok = make_token(fx, "lab", "agw-1", 0), *csr = make_csr(fx->key, NULL);
	int won = 0, refused = 0, i, st;
	pid_t pids[4];

	for (i = 0; i < 4; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct o8_err err = O8_ERR_INIT;
			char *pem = NULL;
			enum o8_rc rc = o8_pki_redeem(fx->pki, tok, csr, strlen(csr), 0, 0, &pem,
						      &err);

			_exit(rc == O8_OK ? 0 : rc == O8_ECONFLICT ? 1 : 2);
		}
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st));
		won += WEXITSTATUS(st) == 0;
		refused += WEXITSTATUS(st) == 1;
	}
	assert_int_equal(won, 1);
	assert_int_equal(refused, 3);
	free(csr);
	free(tok);
}

static void redeem__expired_token_fails(void **state)
{
	struct fx *fx = *state;
	struct o8_err err = O8_ERR_INIT;
	char *tok = make_token(fx, "lab", "agw-1", 3600), *csr = make_csr(fx->key, NULL);
	char *pem = NULL;

	assert_int_equal(o8_pki_redeem(fx->pki, tok, csr, strlen(csr), fx->now + 3601, 0,
				       &pem, &err), O8_EINVALID);
	assert_null(pem);
	assert_non_null(strstr(err.msg, "expired"));
	/* The refused attempt did not consume the token: in time it works. */
	o8_err_clear(&err);
	assert_int_equal(o8_pki_redeem(fx->pki, tok, csr, strlen(csr), fx->now + 3500, 0,
				       &pem, &err), O8_OK);
	free(pem);
	free(csr);
	free(tok);
}

static void redeem__wrong_or_malformed_token_fails(void **state)
{
	struct fx *fx = *state;
	struct o8_err err = O8_ERR_INIT;
	char *tok = make_token(fx, "lab", "agw-1", 0), *csr = make_csr(fx->key, NULL);
	char *bad = strdup(tok), *pem = NULL;
	size_t last = strlen(bad) - 1;

	bad[last] = bad[last] == '0' ? '1' : '0';
	assert_int_equal(o8_pki_redeem(fx->pki, bad, csr, strlen(csr), 0, 0, &pem, &err),
			 O8_EINVALID);
	assert_non_null(strstr(err.msg, "wrong secret"));
	assert_null(strstr(err.msg, bad + 22));
	assert_null(pem);

	/* An unknown id, a truncated token, a path in place of the id. */
	memcpy(bad, tok, strlen(tok));
	bad[6] = bad[6] == 'a' ? 'b' : 'a';
	o8_err_clear(&err);
	assert_int_equal(o8_pki_redeem(fx->pki, bad, csr, strlen(csr), 0, 0, &pem, &err),
			 O8_ENOTFOUND);
	bad[20] = '\0';
	o8_err_clear(&err);
	assert_int_equal(o8_pki_redeem(fx->pki, bad, csr, strlen(csr), 0, 0, &pem, &err),
			 O8_EINVALID);
	o8_err_clear(&err);
	assert_int_equal(o8_pki_redeem(fx->pki, "o8e1.../../../../x.0000000000000000000000000000"
				       "000000000000000000000000000000000000", csr, strlen(csr),
				       0, 0, &pem, &err), O8_EINVALID);
	assert_null(pem);

	/* The right one still works. */
	o8_err_clear(&err);
	assert_int_equal(o8_pki_redeem(fx->pki, tok, csr, strlen(csr), 0, 0, &pem, &err), O8_OK);
	free(pem);
	free(bad);
	free(csr);
	free(tok);
}

/* A CSR (DER) with one byte of its subject changed: the signature no longer matches. */
static void redeem__tampered_or_weak_csr_fails(void **state)
{
	struct fx *fx = *state;
	struct o8_err err = O8_ERR_INIT;
	char *tok = make_token(fx, "lab", "agw-1", 0), *csr = make_csr(fx->key, "tamper-me");
	gnutls_datum_t pem = { (unsigned char *)csr, (unsigned)strlen(csr) }, der = { 0 };
	unsigned char *hit;
	char *out = NULL;

	assert_int_equal(gnutls_pem_base64_decode2(NULL, &pem, &der), 0);
	/* Untouched DER is accepted as input format... checked at the end. */
	hit = memmem(der.data, der.size, "tamper-me", 9);
	assert_non_null(hit);
	hit[0] = 'T';
	assert_int_equal(o8_pki_redeem(fx->pki, tok, der.data, der.size, 0, 0, &out, &err),
			 O8_EINVALID);
	assert_non_null(strstr(err.msg, "signature"));
	assert_null(out);
	hit[0] = 't';

	/* Garbage, and an empty CSR. */
	o8_err_clear(&err);
	assert_int_equal(o8_pki_redeem(fx->pki, tok, "hello", 5, 0, 0, &out, &err), O8_EINVALID);
	o8_err_clear(&err);
	assert_int_equal(o8_pki_redeem(fx->pki, tok, "", 0, 0, 0, &out, &err), O8_EINVALID);

	/* A valid CSR for a P-384 key: refused, only P-256 is accepted. */
	{
		gnutls_x509_privkey_t k;
		gnutls_x509_crq_t q;
		gnutls_datum_t qd = { 0 };

		assert_int_equal(gnutls_x509_privkey_init(&k), 0);
		assert_int_equal(gnutls_x509_privkey_generate2(k, GNUTLS_PK_ECDSA,
				 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1), 0, NULL, 0), 0);
		assert_int_equal(gnutls_x509_crq_init(&q), 0);
		assert_int_equal(gnutls_x509_crq_set_version(q, 1), 0);
		assert_int_equal(gnutls_x509_crq_set_dn_by_oid(q, GNUTLS_OID_X520_COMMON_NAME, 0,
							       "x", 1), 0);
		assert_int_equal(gnutls_x509_crq_set_key(q, k), 0);
		assert_int_equal(gnutls_x509_crq_sign2(q, k, GNUTLS_DIG_SHA256, 0), 0);
		assert_int_equal(gnutls_x509_crq_export2(q, GNUTLS_X509_FMT_DER, &qd), 0);
		o8_err_clear(&err);
		assert_int_equal(o8_pki_redeem(fx->pki, tok, qd.data, qd.size, 0, 0, &out, &err),
				 O8_EINVALID);
		assert_non_null(strstr(err.msg, "P-256"));
		gnutls_free(qd.data);
		gnutls_x509_crq_deinit(q);
		gnutls_x509_privkey_deinit(k);
	}

	/* None of that consumed the token; the intact DER CSR redeems it. */
	o8_err_clear(&err);
	assert_int_equal(o8_pki_redeem(fx->pki, tok, der.data, der.size, 0, 0, &out, &err), O8_OK);
	assert_non_null(out);
	free(out);
	gnutls_free(der.data);
	free(csr);
	free(tok);
}

static void redeem__client_certificate(void **state)
{
	struct fx *fx = *state;
	struct o8_err err = O8_ERR_INIT;
	char *tok = make_token(fx, "lab", "agw-1", 0);
	char *csr = make_csr(fx->key, "evil/other-gateway"), *pem = NULL, *net, *gw;
	gnutls_x509_crt_t ca = load_crt_file(path_in(fx->pki, "ca.crt")), crt;
	gnutls_x509_crq_t q;
	gnutls_datum_t qd = { (unsigned char *)csr, (unsigned)strlen(csr) };
	unsigned char id1[64], id2[64], s1[32], s2[32];
	size_t n1 = sizeof(id1), n2 = sizeof(id2), sl1 = sizeof(s1), sl2 = sizeof(s2);
	unsigned status = 99, crit = 0, usage = 0;
	time_t now = fx->now, nb, na;
	char buf[256], *issued, *pem2;
	size_t n = sizeof(buf);

	assert_int_equal(o8_pki_redeem(fx->pki, tok, csr, strlen(csr), now, 0, &pem, &err), O8_OK);
	crt = load_crt_mem(pem);

	/* The identity is the token's, whatever the CSR asked for. */
	assert_int_equal(gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0,
						       buf, &n), 0);
	assert_string_equal(buf, "lab/agw-1");
	assert_int_equal(o8_pki_cert_identity(pem, strlen(pem), &net, &gw, &nb, &na, &err), O8_OK);
	assert_string_equal(net, "lab");
	assert_string_equal(gw, "agw-1");
	free(net);
	free(gw);

	/* 7 days from now (5 minutes of skew before), clientAuth only, not a CA. */
	assert_int_equal(nb, now - 300);
	assert_int_equal(na, now + 7 * DAY);
	n = sizeof(buf);
	assert_int_equal(gnutls_x509_crt_get_key_purpose_oid(crt, 0, buf, &n, NULL), 0);
	assert_string_equal(buf, GNUTLS_KP_TLS_WWW_CLIENT);
	n = sizeof(buf);
	assert_int_equal(gnutls_x509_crt_get_key_purpose_oid(crt, 1, buf, &n, NULL),
			 GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
	assert_true(gnutls_x509_crt_get_ca_status(crt, &crit) <= 0);
	assert_true(gnutls_x509_crt_get_key_usage(crt, &usage, &crit) >= 0);
	assert_false(usage & GNUTLS_KEY_KEY_CERT_SIGN);

	/* It chains to the CA and certifies the CSR's key. */
	assert_int_equal(gnutls_x509_crt_verify(crt, &ca, 1, 0, &status), 0);
	assert_int_equal(status, 0);
	assert_int_equal(gnutls_x509_crq_init(&q), 0);
	assert_int_equal(gnutls_x509_crq_import(q, &qd, GNUTLS_X509_FMT_PEM), 0);
	assert_int_equal(gnutls_x509_crq_get_key_id(q, 0, id1, &n1), 0);
	assert_int_equal(gnutls_x509_crt_get_key_id(crt, 0, id2, &n2), 0);
	assert_int_equal(n1, n2);
	assert_memory_equal(id1, id2, n1);
	gnutls_x509_crq_deinit(q);

	/* It is in the issued log, and a second certificate gets another serial. */
	assert_int_equal(gnutls_x509_crt_get_serial(crt, s1, &sl1), 0);
	issued = slurp(path_in(fx->pki, "issued"), NULL);
	assert_non_null(strstr(issued, " lab/agw-1 "));
	free(issued);
	pem2 = enrol(fx, "lab", "agw-1", fx->key);
	gnutls_x509_crt_deinit(crt);
	crt = load_crt_mem(pem2);
	assert_int_equal(gnutls_x509_crt_get_serial(crt, s2, &sl2), 0);
	assert_true(sl1 != sl2 || memcmp(s1, s2, sl1) != 0);

	/* A custom lifetime is honoured. */
	{
		char *t = make_token(fx, "lab", "agw-2", 0), *p3 = NULL;

		assert_int_equal(o8_pki_redeem(fx->pki, t, csr, strlen(csr), now, 3600, &p3, &err),
				 O8_OK);
		assert_int_equal(o8_pki_cert_identity(p3, strlen(p3), NULL, NULL, NULL, &na, &err),
				 O8_OK);
		assert_int_equal(na, now + 3600);
		free(p3);
		free(t);
	}
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_crt_deinit(ca);
	free(pem2);
	free(pem);
	free(csr);
	free(tok);
}

/* --- verification and revocation ----------------------------------------- */

static void revoke__verify_peer_refuses(void **state)
{
	struct fx *fx = *state;
	struct o8_err err = O8_ERR_INIT;
	char *ca = strdup(path_in(fx->pki, "ca.crt")), *crl = strdup(path_in(fx->pki, "crl.pem"));
	char *key2 = strdup(path_in(fx->root, "agw2.key"));
	char *pem = enrol(fx, "lab", "agw-1", fx->key), *other = enrol(fx, "lab", "agw-2", key2);
	char *pending = make_token(fx, "lab", "agw-1", 0), *keep = make_token(fx, "lab", "agw-2", 0);
	char *net = NULL, *gw = NULL, *revoked, *csr, *out = NULL;
	struct o8_pki_trust *t = NULL;
	struct o8_pki_issued *list;
	gnutls_x509_crt_t crt = load_crt_mem(pem);
	unsigned char serial[32];
	size_t sl = sizeof(serial), n, i, ncerts = 99, ntokens = 99;
	char serial_hex[65];
	gnutls_datum_t sd;
	size_t hl = sizeof(serial_hex);

	assert_int_equal(gnutls_x509_crt_get_serial(crt, serial, &sl), 0);
	sd.data = serial;
	sd.size = (unsigned)sl;
	assert_int_equal(gnutls_hex_encode(&sd, serial_hex, &hl), 0);

	/* Before: trusted, with its identity. */
	assert_int_equal(o8_pki_verify_peer(ca, crl, pem, strlen(pem), 0, &net, &gw, &err), O8_OK);
	assert_string_equal(net, "lab");
	assert_string_equal(gw, "agw-1");
	free(net);
	free(gw);
	assert_int_equal(o8_pki_trust_load(&t, ca, crl, &err), O8_OK);
	assert_false(o8_pki_is_revoked(t, serial, sl));

	assert_int_equal(o8_pki_revoke(fx->pki, "lab", "agw-1", &ncerts, &ntokens, &err), O8_OK);
	assert_int_equal(ncerts, 1);
	assert_int_equal(ntokens, 1);

	/* The serial is in `revoked`, the list says so, the CRL carries it. */
	revoked = slurp(path_in(fx->pki, "revoked"), NULL);
	assert_non_null(strstr(revoked, serial_hex));
	free(revoked);
	assert_int_equal(o8_pki_list(&list, &n, fx->pki, &err), O8_OK);
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++)
		assert_int_equal(list[i].revoked, !strcmp(list[i].gateway, "agw-1"));
	assert_string_equal(list[0].serial, serial_hex);
	free(list);

	/* A trust loaded before the revocation sees it after a refresh. */
	assert_false(o8_pki_is_revoked(t, serial, sl));
	assert_int_equal(o8_pki_trust_refresh(t, &err), O8_OK);
	assert_true(o8_pki_is_revoked(t, serial, sl));
	o8_err_clear(&err);
	assert_int_equal(o8_pki_trust_verify(t, pem, strlen(pem), 0, &net, &gw, &err),
			 O8_EINVALID);
	assert_non_null(strstr(err.msg, "revoked"));
	assert_null(net);
	assert_int_equal(o8_pki_trust_verify(t, other, strlen(other), 0, NULL, NULL,
					     &(struct o8_err)O8_ERR_INIT), O8_OK);
	o8_pki_trust_free(t);

	/* The one-shot verifier refuses it too; agw-2 is untouched. */
	o8_err_clear(&err);
	assert_int_equal(o8_pki_verify_peer(ca, crl, pem, strlen(pem), 0, NULL, NULL, &err),
			 O8_EINVALID);
	o8_err_clear(&err);
	assert_int_equal(o8_pki_verify_peer(ca, crl, other, strlen(other), 0, NULL, NULL, &err),
			 O8_OK);

	/* agw-1's pending token is gone, agw-2's still redeems. */
	csr = make_csr(fx->key, NULL);
	assert_int_equal(o8_pki_redeem(fx->pki, pending, csr, strlen(csr), 0, 0, &out, &err),
			 O8_ENOTFOUND);
	o8_err_clear(&err);
	assert_int_equal(o8_pki_redeem(fx->pki, keep, csr, strlen(csr), 0, 0, &out, &err), O8_OK);
	free(out);

	/* Revoking again is harmless; an unknown gateway is "nothing to revoke". */
	assert_int_equal(o8_pki_revoke(fx->pki, "lab", "agw-1", &ncerts, &ntokens, &err), O8_OK);
	assert_int_equal(ncerts, 0);
	assert_int_equal(ntokens, 0);
	assert_int_equal(o8_pki_revoke(fx->pki, "lab", "agw-9", &ncerts, NULL, &err), O8_ENOTFOUND);

	gnutls_x509_crt_deinit(crt);
	free(csr);
	free(pending);
	free(keep);
	free(pem);
	free(other);
	free(key2);
	free(crl);
	free(ca);
}

static void verify__refuses_foreign_expired_and_server(void **state)
{
	struct fx *fx = *state;
	struct o8_err err = O8_ERR_INIT;
	char *ca = strdup(path_in(fx->pki, "ca.crt")), *crl = strdup(path_in(fx->pki, "crl.pem"));
	char *pem = enrol(fx, "lab", "agw-1", fx->key), *srv, *foreign_dir, *foreign;
	struct fx fx2;

	/* Expired (and not yet valid) against the given clock. */
	assert_int_equal(o8_pki_verify_peer(ca, crl, pem, strlen(pem), fx->now + 8 * DAY, NULL,
					    NULL, &err), O8_EINVALID);
	assert_non_null(strstr(err.msg, "expired"));
	o8_err_clear(&err);
	assert_int_equal(o8_pki_verify_peer(ca, crl, pem, strlen(pem), fx->now - 3600, NULL,
					    NULL, &err), O8_EINVALID);

	/* syncd's own server certificate is not a client certificate. */
	srv = slurp(path_in(fx->pki, "server.crt"), NULL);
	o8_err_clear(&err);
	assert_int_equal(o8_pki_verify_peer(ca, crl, srv, strlen(srv), 0, NULL, NULL, &err),
			 O8_EINVALID);
	assert_non_null(strstr(err.msg, "not a gateway client certificate"));
	o8_err_clear(&err);
	assert_int_equal(o8_pki_cert_identity(srv, strlen(srv), NULL, NULL, NULL, NULL, &err),
			 O8_EINVALID);
	assert_non_null(strstr(err.msg, "not 'network/gateway'"));
	free(srv);

	/* A certificate from another CA with the same identity. */
	memcpy(&fx2, fx, sizeof(fx2));
	foreign_dir = strdup(path_in(fx->root, "other-pki"));
	init_pki(foreign_dir, fx->now);
	snprintf(fx2.pki, sizeof(fx2.pki), "%s", foreign_dir);
	foreign = enrol(&fx2, "lab", "agw-1", fx->key);
	o8_err_clear(&err);
	assert_int_equal(o8_pki_verify_peer(ca, crl, foreign, strlen(foreign), 0, NULL, NULL,
					    &err), O8_EINVALID);
	assert_non_null(strstr(err.msg, "not signed by the CA"));

	/* A CRL signed by another CA is refused at load time. */
	o8_err_clear(&err);
	assert_int_equal(o8_pki_verify_peer(ca, path_in(foreign_dir, "crl.pem"), pem, strlen(pem),
					    0, NULL, NULL, &err), O8_EINVALID);
	assert_non_null(strstr(err.msg, "not signed by the CA"));

	/* Garbage. */
	o8_err_clear(&err);
	assert_int_equal(o8_pki_verify_peer(ca, crl, "junk", 4, 0, NULL, NULL, &err),
			 O8_EINVALID);
	free(foreign);
	free(foreign_dir);
	free(pem);
	free(ca);
	free(crl);
}

static void missing_ca__is_an_error_naming_the_file(void **state)
{
	struct fx *fx = *state;
	struct o8_err err = O8_ERR_INIT;
	char *empty = strdup(path_in(fx->root, "empty")), *tok = NULL, *pem = NULL;
	char *csr = make_csr(fx->key, NULL), *good;

	assert_int_equal(mkdir(empty, 0700), 0);
	assert_int_equal(o8_pki_enroll_token(&tok, NULL, empty, "lab", "agw-1", 0, &err),
			 O8_ENOTFOUND);
	assert_null(tok);
	assert_non_null(strstr(err.msg, "/empty/ca.crt': no such file"));
	assert_non_null(strstr(err.msg, "run 'orc8r pki init' first"));

	/* A PKI whose CA key vanished issues nothing, even with a valid token. */
	good = make_token(fx, "lab", "agw-1", 0);
	assert_int_equal(unlink(path_in(fx->pki, "ca.key")), 0);
	o8_err_clear(&err);
	assert_int_equal(o8_pki_redeem(fx->pki, good, csr, strlen(csr), 0, 0, &pem, &err),
			 O8_ENOTFOUND);
	assert_non_null(strstr(err.msg, "/pki/ca.key'"));
	assert_null(pem);

	o8_err_clear(&err);
	assert_int_equal(o8_pki_verify_peer(path_in(empty, "ca.crt"), path_in(empty, "crl.pem"),
					    "x", 1, 0, NULL, NULL, &err), O8_ENOTFOUND);
	assert_non_null(strstr(err.msg, "ca.crt"));
	o8_err_clear(&err);
	assert_int_equal(o8_pki_verify_peer(path_in(fx->pki, "ca.crt"), NULL, "x", 1, 0, NULL,
					    NULL, &err), O8_EINVALID);
	free(good);
	free(csr);
	free(empty);
}

/*
 * GnuTLS's certtool, an independent reader, agrees: the client certificate
 * chains to the CA for clientAuth (not serverAuth), and once revoked the
 * CRL makes certtool refuse it too.  Skipped without certtool (gnutls-bin).
 */
static int certtool(const char *args)
{
	char cmd[2048];
	int st;

	snprintf(cmd, sizeof(cmd), "certtool %s >/dev/null 2>&1", args);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void certtool__agrees(void **state)
{
	struct fx *fx = *state;
	struct o8_err err = O8_ERR_INIT;
	char *pem, crt[600], args[1800];
	FILE *f;

	if (system("command -v certtool >/dev/null 2>&1") != 0)
		skip();
	pem = enrol(fx, "lab", "agw-1", fx->key);
	snprintf(crt, sizeof(crt), "%s/agw.crt", fx->root);
	f = fopen(crt, "w");
	assert_non_null(f);
	fputs(pem, f);
	assert_int_equal(fclose(f), 0);

	snprintf(args, sizeof(args), "--verify --load-ca-certificate '%s/ca.crt' "
		 "--verify-purpose 1.3.6.1.5.5.7.3.2 --infile '%s'", fx->pki, crt);
	assert_int_equal(certtool(args), 0);
	snprintf(args, sizeof(args), "--verify --load-ca-certificate '%s/ca.crt' "
		 "--verify-purpose 1.3.6.1.5.5.7.3.1 --infile '%s'", fx->pki, crt);
	assert_int_not_equal(certtool(args), 0);
	snprintf(args, sizeof(args), "--verify --load-ca-certificate '%s/ca.crt' "
		 "--load-crl '%s/crl.pem' --infile '%s'", fx->pki, fx->pki, crt);
	assert_int_equal(certtool(args), 0);

	assert_int_equal(o8_pki_revoke(fx->pki, "lab", "agw-1", NULL, NULL, &err), O8_OK);
	snprintf(args, sizeof(args), "--verify-crl --load-ca-certificate '%s/ca.crt' "
		 "--infile '%s/crl.pem'", fx->pki, fx->pki);
	assert_int_equal(certtool(args), 0);
	snprintf(args, sizeof(args), "--verify --load-ca-certificate '%s/ca.crt' "
		 "--load-crl '%s/crl.pem' --infile '%s'", fx->pki, fx->pki, crt);
	assert_int_not_equal(certtool(args), 0);
	free(pem);
}

/* --- gateway side -------------------------------------------------------- */

static void csr__key_made_once_0600(void **state)
{
	struct fx *fx = *state;
	struct o8_err err = O8_ERR_INIT;
	char *k1, *k2, *csr1 = make_csr(fx->key, "lab/agw-1"), *csr2, *out = NULL;

	assert_int_equal(mode_of(fx->key), 0600);
	k1 = slurp(fx->key, NULL);
	csr2 = make_csr(fx->key, NULL);
	k2 = slurp(fx->key, NULL);
	assert_string_equal(k1, k2);            /* the key is reused, not replaced */
	assert_non_null(strstr(csr1, "-----BEGIN NEW CERTIFICATE REQUEST-----"));

	/* A key others can read is refused, as ssh refuses one. */
	assert_int_equal(chmod(fx->key, 0644), 0);
	assert_int_equal(o8_pki_make_csr(fx->key, NULL, &out, &err), O8_EINVALID);
	assert_non_null(strstr(err.msg, "chmod 600"));
	assert_null(out);

	/* store_file writes 0600 and replaces. */
	o8_err_clear(&err);
	assert_int_equal(o8_fileio_write_atomic(path_in(fx->root, "agw.crt"), "a", 1, 0600, true, &err), O8_OK);
	assert_int_equal(o8_fileio_write_atomic(path_in(fx->root, "agw.crt"), "bc", 2, 0600, true, &err), O8_OK);
	assert_int_equal(mode_of(path_in(fx->root, "agw.crt")), 0600);
	free(k1);
	k1 = slurp(path_in(fx->root, "agw.crt"), NULL);
	assert_string_equal(k1, "bc");
	free(k1);
	free(k2);
	free(csr1);
	free(csr2);
}

static void renew__at_two_thirds(void **state)
{
	struct fx *fx = *state;
	char *pem = enrol(fx, "lab", "agw-1", fx->key);
	struct o8_err err = O8_ERR_INIT;
	time_t nb, na;

	assert_int_equal(o8_pki_renew_at(0, 300), 200);
	assert_int_equal(o8_pki_renew_at(1000, 1000 + 3 * DAY), 1000 + 2 * DAY);
	assert_int_equal(o8_pki_renew_at(100, 100), 100);
	/* No overflow near the end of time_t. */
	assert_int_equal(o8_pki_renew_at(0, (time_t)3 << 60), (time_t)2 << 60);
	assert_int_equal(o8_pki_cert_identity(pem, strlen(pem), NULL, NULL, &nb, &na, &err), O8_OK);
	assert_int_equal(o8_pki_renew_at(nb, na), nb + (na - nb) * 2 / 3);
	assert_true(o8_pki_renew_at(nb, na) > fx->now + 4 * DAY);
	assert_true(o8_pki_renew_at(nb, na) < fx->now + 5 * DAY);
	free(pem);
}

static void issue__renewal_without_token(void **state)
{
	struct fx *fx = *state;
	struct o8_err err = O8_ERR_INIT;
	char *csr = make_csr(fx->key, NULL), *pem = NULL, *net = NULL, *gw = NULL;

	assert_int_equal(o8_pki_issue(fx->pki, "lab", "agw-1", csr, strlen(csr), 0, 0, &pem, &err),
			 O8_OK);
	assert_int_equal(o8_pki_verify_peer(path_in(fx->pki, "ca.crt"), path_in(fx->pki, "crl.pem"),
					    pem, strlen(pem), 0, &net, &gw, &err), O8_OK);
	assert_string_equal(gw, "agw-1");
	free(net);
	free(gw);
	free(pem);
	assert_int_equal(o8_pki_issue(fx->pki, "lab", "Bad Name", csr, strlen(csr), 0, 0, &pem,
				      &err), O8_EINVALID);
	free(csr);
}

/* --- operators ---------------------------------------------------------- */

static char *issue_operator(const struct fx *fx, const char *name, unsigned ttl)
{
	struct o8_err err = O8_ERR_INIT;
	char *csr = make_csr(fx->key, name), *pem = NULL;

	if (o8_pki_issue_operator(fx->pki, name, csr, strlen(csr), fx->now, ttl, &pem, &err))
		fail_msg("issue_operator: %s", err.msg);
	free(csr);
	return pem;
}

static struct o8_pki_trust *trust_of(const struct fx *fx)
{
	struct o8_pki_trust *t = NULL;
	struct o8_err err = O8_ERR_INIT;

	if (o8_pki_trust_load(&t, path_in(fx->pki, "ca.crt"), path_in(fx->pki, "crl.pem"), &err))
		fail_msg("trust: %s", err.msg);
	return t;
}

static void dn_entry(gnutls_x509_crt_t crt, const char *oid, char *out, size_t n)
{
	assert_int_equal(gnutls_x509_crt_get_dn_by_oid(crt, oid, 0, 0, out, &n), 0);
}

/*
 * A client certificate the CA signs with any subject (cn, ou may be NULL),
 * as a CA bug or a hand-made certificate could: only the verifiers' own
 * subject checks stand between it and the wrong kind of access.
 */
static char *sign_custom(const struct fx *fx, const char *cn, const char *ou)
{
	gnutls_x509_crt_t ca = load_crt_file(path_in(fx->pki, "ca.crt")), crt;
	gnutls_x509_privkey_t cakey, key;
	gnutls_datum_t d = { NULL, 0 }, pem = { NULL, 0 };
	unsigned char serial[8] = { 0x7f, 1, 2, 3, 4, 5, 6, 7 };
	char *s;

	d.data = (unsigned char *)slurp(path_in(fx->pki, "ca.key"), NULL);
	assert_non_null(d.data);
	d.size = (unsigned)strlen((char *)d.data);
	assert_int_equal(gnutls_x509_privkey_init(&cakey), 0);
	assert_int_equal(gnutls_x509_privkey_import(cakey, &d, GNUTLS_X509_FMT_PEM), 0);
	free(d.data);
	assert_int_equal(gnutls_x509_privkey_init(&key), 0);
	assert_int_equal(gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
			 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0), 0);
	assert_int_equal(gnutls_x509_crt_init(&crt), 0);
	assert_int_equal(gnutls_x509_crt_set_version(crt, 3), 0);
	assert_int_equal(gnutls_x509_crt_set_key(crt, key), 0);
	if (ou)
		assert_int_equal(gnutls_x509_crt_set_dn_by_oid(crt,
				 GNUTLS_OID_X520_ORGANIZATIONAL_UNIT_NAME, 0, ou,
				 (unsigned)strlen(ou)), 0);
	assert_int_equal(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
						       (unsigned)strlen(cn)), 0);
	assert_int_equal(gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)), 0);
	assert_int_equal(gnutls_x509_crt_set_activation_time(crt, fx->now - 60), 0);
	assert_int_equal(gnutls_x509_crt_set_expiration_time(crt, fx->now + DAY), 0);
	assert_int_equal(gnutls_x509_crt_set_basic_constraints(crt, 0, -1), 0);
	assert_int_equal(gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0), 0);
	assert_int_equal(gnutls_x509_crt_sign2(crt, ca, cakey, GNUTLS_DIG_SHA256, 0), 0);
	assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem), 0);
	s = strndup((char *)pem.data, pem.size);
	gnutls_free(pem.data);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_crt_deinit(ca);
	gnutls_x509_privkey_deinit(key);
	gnutls_x509_privkey_deinit(cakey);
	return s;
}

static void operator__issue_verify_list(void **state)
{
	struct fx *fx = *state;
	struct o8_err err = O8_ERR_INIT;
	char *pem = issue_operator(fx, "alice@ops", 0), *name = NULL, buf[256], *issued, *csr;
	gnutls_x509_crt_t ca = load_crt_file(path_in(fx->pki, "ca.crt"));
	gnutls_x509_crt_t crt = load_crt_mem(pem);
	struct o8_pki_trust *t = trust_of(fx);
	struct o8_pki_issued *list = NULL;
	unsigned status = 99, crit = 0;
	size_t n = sizeof(buf);

	/* CN=NAME, OU=orc8r-operator, clientAuth only, not a CA, 90 days, chains to the CA */
	dn_entry(crt, GNUTLS_OID_X520_COMMON_NAME, buf, sizeof(buf));
	assert_string_equal(buf, "alice@ops");
	dn_entry(crt, GNUTLS_OID_X520_ORGANIZATIONAL_UNIT_NAME, buf, sizeof(buf));
	assert_string_equal(buf, "orc8r-operator");
	assert_int_equal(gnutls_x509_crt_get_key_purpose_oid(crt, 0, buf, &n, NULL), 0);
	assert_string_equal(buf, GNUTLS_KP_TLS_WWW_CLIENT);
	n = sizeof(buf);
	assert_int_equal(gnutls_x509_crt_get_key_purpose_oid(crt, 1, buf, &n, NULL),
			 GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
	assert_true(gnutls_x509_crt_get_ca_status(crt, &crit) <= 0);
	assert_int_equal(gnutls_x509_crt_get_activation_time(crt), fx->now - 300);
	assert_int_equal(gnutls_x509_crt_get_expiration_time(crt), fx->now + 90 * DAY);
	assert_int_equal(gnutls_x509_crt_verify(crt, &ca, 1, 0, &status), 0);
	assert_int_equal(status, 0);

	/* the operator verifier names it; not past its expiry */
	assert_int_equal(o8_pki_trust_verify_operator(t, pem, strlen(pem), 0, &name, &err), O8_OK);
	assert_string_equal(name, "alice@ops");
	free(name);
	assert_int_equal(o8_pki_trust_verify_operator(t, pem, strlen(pem), fx->now + 91 * DAY,
						      &name, &err), O8_EINVALID);
	assert_null(name);
	assert_non_null(strstr(err.msg, "expired"));

	/* `issued` and the list know it as operator:NAME */
	issued = slurp(path_in(fx->pki, "issued"), NULL);
	assert_non_null(strstr(issued, " operator:alice@ops "));
	free(issued);
	free(enrol(fx, "lab", "agw-1", fx->key));
	assert_int_equal(o8_pki_list(&list, &n, fx->pki, &err), O8_OK);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].operator_name, "alice@ops");
	assert_string_equal(list[0].network, "");
	assert_string_equal(list[1].operator_name, "");
	assert_string_equal(list[1].gateway, "agw-1");
	free(list);

	/* a custom lifetime; a bad name is refused before anything is signed */
	free(pem);
	pem = issue_operator(fx, "ci", 3600);
	gnutls_x509_crt_deinit(crt);
	crt = load_crt_mem(pem);
	assert_int_equal(gnutls_x509_crt_get_expiration_time(crt), fx->now + 3600);
	csr = make_csr(fx->key, NULL);
	o8_err_clear(&err);
	free(pem);
	pem = NULL;
	assert_int_equal(o8_pki_issue_operator(fx->pki, "lab/agw-1", csr, strlen(csr), 0, 0, &pem,
					       &err), O8_EINVALID);
	assert_null(pem);
	assert_int_equal(o8_pki_issue_operator(fx->pki, "", csr, strlen(csr), 0, 0, &pem, &err),
			 O8_EINVALID);
	free(csr);
	o8_pki_trust_free(t);
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_crt_deinit(ca);
}

static void operator__ou_separates_gateways_and_operators(void **state)
{
	struct fx *fx = *state;
	struct o8_err err = O8_ERR_INIT;
	struct o8_pki_trust *t = trust_of(fx);
	char *op = issue_operator(fx, "alice", 0), *gw = enrol(fx, "lab", "agw-1", fx->key);
	char *srv = slurp(path_in(fx->pki, "server.crt"), NULL);
	char *fake_gw = sign_custom(fx, "lab/agw-2", "orc8r-operator");
	char *fake_op = sign_custom(fx, "bob", NULL);
	char *other_ou = sign_custom(fx, "bob", "sales");
	char *net = NULL, *name = NULL;

	/* each verifier takes its own kind */
	assert_int_equal(o8_pki_trust_verify(t, gw, strlen(gw), 0, NULL, NULL, &err), O8_OK);
	assert_int_equal(o8_pki_trust_verify_operator(t, op, strlen(op), 0, NULL, &err), O8_OK);

	/* and refuses the other's */
	assert_int_equal(o8_pki_trust_verify(t, op, strlen(op), 0, &net, NULL, &err), O8_EINVALID);
	assert_null(net);
	assert_non_null(strstr(err.msg, "operator's"));
	o8_err_clear(&err);
	assert_int_equal(o8_pki_trust_verify_operator(t, gw, strlen(gw), 0, &name, &err),
			 O8_EINVALID);
	assert_null(name);
	assert_non_null(strstr(err.msg, "not an operator's"));

	/* a gateway-shaped CN with the operator OU is no gateway ... */
	o8_err_clear(&err);
	assert_int_equal(o8_pki_trust_verify(t, fake_gw, strlen(fake_gw), 0, &net, NULL, &err),
			 O8_EINVALID);
	assert_non_null(strstr(err.msg, "operator's"));
	/* ... nor an operator (its CN is no operator name) */
	o8_err_clear(&err);
	assert_int_equal(o8_pki_trust_verify_operator(t, fake_gw, strlen(fake_gw), 0, &name, &err),
			 O8_EINVALID);
	assert_non_null(strstr(err.msg, "not an operator name"));
	/* an operator-shaped CN without the OU, or with another, is no operator */
	o8_err_clear(&err);
	assert_int_equal(o8_pki_trust_verify_operator(t, fake_op, strlen(fake_op), 0, &name, &err),
			 O8_EINVALID);
	assert_null(name);
	o8_err_clear(&err);
	assert_int_equal(o8_pki_trust_verify_operator(t, other_ou, strlen(other_ou), 0, &name,
						      &err), O8_EINVALID);
	/* syncd's server certificate is not a client certificate */
	o8_err_clear(&err);
	assert_int_equal(o8_pki_trust_verify_operator(t, srv, strlen(srv), 0, &name, &err),
			 O8_EINVALID);
	assert_non_null(strstr(err.msg, "not an operator client certificate"));
	o8_pki_trust_free(t);
	free(other_ou);
	free(fake_op);
	free(fake_gw);
	free(srv);
	free(gw);
	free(op);
}

static void operator__revoke_reaches_the_verifier_only(void **state)
{
	struct fx *fx = *state;
	struct o8_err err = O8_ERR_INIT;
	struct o8_pki_trust *t = trust_of(fx);
	char *old = issue_operator(fx, "alice", 0), *renewed = issue_operator(fx, "alice", 0);
	char *bob = issue_operator(fx, "bob", 0), *gw = enrol(fx, "lab", "agw-1", fx->key);
	struct o8_pki_issued *list = NULL;
	size_t ncerts = 99, n, i;

	/* revoking a gateway leaves operators alone, and the other way round */
	assert_int_equal(o8_pki_revoke(fx->pki, "lab", "agw-1", &ncerts, NULL, &err), O8_OK);
	assert_int_equal(ncerts, 1);
	assert_int_equal(o8_pki_revoke_operator(fx->pki, "alice", &ncerts, &err), O8_OK);
	assert_int_equal(ncerts, 2);    /* the renewal too */
	assert_int_equal(o8_pki_trust_refresh(t, &err), O8_OK);
	assert_int_equal(o8_pki_trust_verify_operator(t, old, strlen(old), 0, NULL, &err),
			 O8_EINVALID);
	assert_non_null(strstr(err.msg, "revoked"));
	o8_err_clear(&err);
	assert_int_equal(o8_pki_trust_verify_operator(t, renewed, strlen(renewed), 0, NULL, &err),
			 O8_EINVALID);
	o8_err_clear(&err);
	assert_int_equal(o8_pki_trust_verify_operator(t, bob, strlen(bob), 0, NULL, &err), O8_OK);
	assert_int_equal(o8_pki_list(&list, &n, fx->pki, &err), O8_OK);
	assert_int_equal(n, 4);
	for (i = 0; i < n; i++)
		assert_int_equal(list[i].revoked, strcmp(list[i].operator_name, "bob") != 0);
	free(list);

	/* again: nothing new; never issued: nothing to revoke; bad name: refused */
	assert_int_equal(o8_pki_revoke_operator(fx->pki, "alice", &ncerts, &err), O8_OK);
	assert_int_equal(ncerts, 0);
	assert_int_equal(o8_pki_revoke_operator(fx->pki, "carol", &ncerts, &err), O8_ENOTFOUND);
	assert_non_null(strstr(err.msg, "operator 'carol'"));
	o8_err_clear(&err);
	assert_int_equal(o8_pki_revoke_operator(fx->pki, "a b", NULL, &err), O8_EINVALID);
	o8_pki_trust_free(t);
	free(gw);
	free(bob);
	free(renewed);
	free(old);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(init__files_and_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(init__ca_and_server_certificates, setup, teardown),
		cmocka_unit_test_setup_teardown(init__never_replaces_a_ca, setup, teardown),
		cmocka_unit_test_setup_teardown(token__stored_without_secret, setup, teardown),
		cmocka_unit_test_setup_teardown(redeem__once_then_replay_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(redeem__concurrent_replay_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(redeem__expired_token_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(redeem__wrong_or_malformed_token_fails, setup,
						teardown),
		cmocka_unit_test_setup_teardown(redeem__tampered_or_weak_csr_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(redeem__client_certificate, setup, teardown),
		cmocka_unit_test_setup_teardown(revoke__verify_peer_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(verify__refuses_foreign_expired_and_server, setup,
						teardown),
		cmocka_unit_test_setup_teardown(missing_ca__is_an_error_naming_the_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(certtool__agrees, setup, teardown),
		cmocka_unit_test_setup_teardown(csr__key_made_once_0600, setup, teardown),
		cmocka_unit_test_setup_teardown(renew__at_two_thirds, setup, teardown),
		cmocka_unit_test_setup_teardown(issue__renewal_without_token, setup, teardown),
		cmocka_unit_test_setup_teardown(operator__issue_verify_list, setup, teardown),
		cmocka_unit_test_setup_teardown(operator__ou_separates_gateways_and_operators,
						setup, teardown),
		cmocka_unit_test_setup_teardown(operator__revoke_reaches_the_verifier_only, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
