/*
 * pki.c - the orc8r CA on GnuTLS: keys, certificates, CSRs, CRLs, tokens.
 *
 * Every piece of cryptography, encoding and randomness comes from GnuTLS
 * (X.509, PKCS#8, hex, SHA-256, constant-time compare, gnutls_rnd); this
 * file only decides policy and keeps the directory consistent on disk.
 */
#include "proto/pki.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <jansson.h>

#include "proto/apitoken.h"
#include "util/fileio.h"
#include "repo/schema.h"

_Static_assert(O8_PKI_OPERATOR_MAX == O8_APITOKEN_NAME_MAX + 1,
	       "an operator's name is an API token name");

#define TOKEN_PREFIX "o8e1."
#define TOKEN_ID_BYTES 8
#define TOKEN_SECRET_BYTES 32
#define TOKEN_ID_HEX (2 * TOKEN_ID_BYTES)
#define TOKEN_SECRET_HEX (2 * TOKEN_SECRET_BYTES)
#define TOKEN_LEN (sizeof(TOKEN_PREFIX) - 1 + TOKEN_ID_HEX + 1 + TOKEN_SECRET_HEX)
#define SERIAL_BYTES 16
#define SERIAL_HEX_MAX 40               /* RFC 5280: at most 20 octets */
#define CSR_MAX (16u * 1024u)
#define CERT_MAX (64u * 1024u)
#define KEY_MAX (16u * 1024u)
#define SMALL_FILE_MAX (64u * 1024u)    /* tokens, serial counter */
#define CRL_MAX (64u * 1024u * 1024u)
#define DAY 86400

/* The directory's files, so that a name is spelt once. */
static const char *const pki_files[O8_PKI_FILE__COUNT] = {
	[O8_PKI_CA_KEY] = "ca.key",
	[O8_PKI_CA_CRT] = "ca.crt",
	[O8_PKI_SERVER_KEY] = "server.key",
	[O8_PKI_SERVER_CRT] = "server.crt",
	[O8_PKI_TOKENS] = "tokens",
	[O8_PKI_SERIAL] = "serial",
	[O8_PKI_ISSUED] = "issued",
	[O8_PKI_REVOKED] = "revoked",
	[O8_PKI_CRL] = "crl.pem",
	[O8_PKI_GITIGNORE] = ".gitignore",
	[O8_PKI_API_TOKENS] = "api-tokens",
	[O8_PKI_OPERATORS] = "operators",
	[O8_PKI_AGENT_KEY] = "agw.key",
	[O8_PKI_AGENT_CRT] = "agw.crt",
};

#define INIT_HINT "; run 'orc8r pki init' first"
#define OPERATOR_PREFIX "operator:"     /* an operator's identity in `issued` */

/* --- errors -------------------------------------------------------------- */

static enum o8_rc oom(struct o8_err *err)
{
	return o8_err_set(err, O8_ERR, NULL, 0, 0, "out of memory");
}

static enum o8_rc sys_err(struct o8_err *err, const char *verb, const char *path,
			  int e, const char *hint)
{
	char b[128];

	return o8_err_set(err, e == ENOENT ? O8_ENOTFOUND : O8_ERR, NULL, 0, 0,
			  "cannot %s '%s': %s%s", verb, path, o8_fileio_strerror(e, b, sizeof(b)),
			  hint ? hint : "");
}

static enum o8_rc tls_err(struct o8_err *err, const char *what, int code)
{
	return o8_err_set(err, O8_ERR, NULL, 0, 0, "%s: %s", what, gnutls_strerror(code));
}

static void utc(char out[32], time_t t)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "@%lld", (long long)t);
}

/* --- paths and files ----------------------------------------------------- */

const char *o8_pki_file_name(enum o8_pki_file f)
{
	return (unsigned)f < O8_PKI_FILE__COUNT ? pki_files[f] : "";
}

enum o8_rc o8_pki_path(char *out, size_t n, const char *dir, enum o8_pki_file f,
		       struct o8_err *err)
{
	int r = snprintf(out, n, "%s/%s", dir, o8_pki_file_name(f));

	if (r < 0 || (size_t)r >= n)
		return o8_err_set(err, O8_ELIMIT, NULL, 0, 0, "path too long: '%s/%s'",
				  dir, o8_pki_file_name(f));
	return O8_OK;
}

static char *join(const char *dir, const char *name)
{
	char *p;

	return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

/* Forgets a buffer that held a secret. */
static void free_secret(void *p, size_t n)
{
	if (p) {
		explicit_bzero(p, n);
		free(p);
	}
}

static void datum_free_secret(gnutls_datum_t *d)
{
	if (d->data) {
		explicit_bzero(d->data, d->size);
		gnutls_free(d->data);
	}
	d->data = NULL;
	d->size = 0;
}

/* Reads a whole file (at most max bytes); *mode (may be NULL) gets its
 * permission bits.  Key files are wiped from memory on a failed read. */
static enum o8_rc read_file(const char *path, size_t max, char **out, size_t *len,
			    mode_t *mode, const char *hint, struct o8_err *err)
{
	struct o8_fileio_read_opts o = O8_FILEIO_READ_OPTS_INIT;

	o.max = max;
	o.hint = hint;
	o.secret = true;
	return o8_fileio_read(out, len, mode, path, &o, err);
}

static enum o8_rc write_in(const char *dir, const char *name, const void *data,
			   size_t len, mode_t mode, bool replace, struct o8_err *err)
{
	char *p = join(dir, name);
	enum o8_rc rc;

	if (!p)
		return oom(err);
	rc = o8_fileio_write_atomic(p, data, len, mode, replace, err);
	free(p);
	return rc;
}

/* Appends one line and syncs it: the issued log is never rewritten. */
static enum o8_rc append_line(const char *dir, const char *name, const char *line,
			      struct o8_err *err)
{
	char *p = join(dir, name);
	enum o8_rc rc = O8_OK;
	int fd, e;

	if (!p)
		return oom(err);
	fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = sys_err(err, "open", p, errno, errno == ENOENT ? INIT_HINT : NULL);
	} else if (o8_fileio_write_all(fd, line, strlen(line)) < 0 || fsync(fd) < 0) {
		e = errno;
		close(fd);
		rc = sys_err(err, "write", p, e, NULL);
	} else if (close(fd) < 0) {
		rc = sys_err(err, "write", p, errno, NULL);
	}
	free(p);
	return rc;
}

/*
 * Takes the directory's exclusive lock (flock on the directory itself, so
 * there is no lock file to forget); returns the fd to close, or -1.
 */
static int lock_dir(const char *dir, struct o8_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		sys_err(err, "open", dir, errno, errno == ENOENT ? INIT_HINT : NULL);
		return -1;
	}
	while (flock(fd, LOCK_EX) < 0) {
		if (errno == EINTR)
			continue;
		sys_err(err, "lock", dir, errno, NULL);
		close(fd);
		return -1;
	}
	return fd;
}

static void unlock_dir(int fd)
{
	if (fd >= 0)
		close(fd);      /* releases the flock */
}

static bool is_pem(const void *data, size_t len)
{
	return memmem(data, len, "-----BEGIN ", 11) != NULL;
}

static bool name_ok(const char *s)
{
	return s && strlen(s) < O8_PKI_NAME_MAX && o8_schema_fmt_ok(O8_FMT_NAME, s, strlen(s));
}

static enum o8_rc check_identity(const char *network, const char *gateway,
				 struct o8_err *err)
{
	if (!name_ok(network))
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "network name '%s' is not valid: use %s",
				  network ? network : "", o8_schema_fmt_doc(O8_FMT_NAME));
	if (!name_ok(gateway))
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "gateway name '%s' is not valid: use %s",
				  gateway ? gateway : "", o8_schema_fmt_doc(O8_FMT_NAME));
	return O8_OK;
}

/* --- keys and certificates ----------------------------------------------- */

static enum o8_rc gen_key(gnutls_x509_privkey_t *out, struct o8_err *err)
{
	int r;

	*out = NULL;
	if ((r = gnutls_x509_privkey_init(out)) < 0)
		return tls_err(err, "cannot make a key", r);
	r = gnutls_x509_privkey_generate2(*out, GNUTLS_PK_ECDSA,
					  GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
					  0, NULL, 0);
	if (r < 0) {
		gnutls_x509_privkey_deinit(*out);
		*out = NULL;
		return tls_err(err, "cannot make an ECDSA P-256 key", r);
	}
	return O8_OK;
}

/* Writes a key as unencrypted PKCS#8 PEM, 0600, never replacing a file. */
static enum o8_rc write_key(const char *path, gnutls_x509_privkey_t key, struct o8_err *err)
{
	gnutls_datum_t pem = { NULL, 0 };
	enum o8_rc rc;
	int r;

	r = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL,
					      GNUTLS_PKCS_PLAIN, &pem);
	if (r < 0)
		return tls_err(err, "cannot encode a private key", r);
	rc = o8_fileio_write_atomic(path, pem.data, pem.size, 0600, false, err);
	datum_free_secret(&pem);
	return rc;
}

static enum o8_rc write_key_in(const char *dir, const char *name,
				gnutls_x509_privkey_t key, struct o8_err *err)
{
	char *p = join(dir, name);
	enum o8_rc rc;

	if (!p)
		return oom(err);
	rc = write_key(p, key, err);
	free(p);
	return rc;
}

static enum o8_rc pubkey_of(gnutls_privkey_t pk, gnutls_pubkey_t *out, struct o8_err *err)
{
	int r;

	*out = NULL;
	if ((r = gnutls_pubkey_init(out)) < 0)
		return tls_err(err, "cannot make a public key", r);
	if ((r = gnutls_pubkey_import_privkey(*out, pk, 0, 0)) < 0) {
		gnutls_pubkey_deinit(*out);
		*out = NULL;
		return tls_err(err, "cannot derive a public key", r);
	}
	return O8_OK;
}

/* The signing handle for an X.509 key; the key stays owned by the caller. */
static enum o8_rc signer_of(gnutls_x509_privkey_t key, gnutls_privkey_t *out,
			    struct o8_err *err)
{
	int r;

	*out = NULL;
	if ((r = gnutls_privkey_init(out)) < 0)
		return tls_err(err, "cannot load a key", r);
	if ((r = gnutls_privkey_import_x509(*out, key, 0)) < 0) {
		gnutls_privkey_deinit(*out);
		*out = NULL;
		return tls_err(err, "cannot load a key", r);
	}
	return O8_OK;
}

/* Only ECDSA P-256 keys are accepted anywhere in the PKI. */
static bool pubkey_is_p256(gnutls_pubkey_t pub)
{
	gnutls_datum_t x = { NULL, 0 }, y = { NULL, 0 };
	gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
	bool ok;

	if (gnutls_pubkey_get_pk_algorithm(pub, NULL) != GNUTLS_PK_ECDSA)
		return false;
	ok = gnutls_pubkey_export_ecc_raw2(pub, &curve, &x, &y, 0) >= 0 &&
	     curve == GNUTLS_ECC_CURVE_SECP256R1;
	gnutls_free(x.data);
	gnutls_free(y.data);
	return ok;
}

/*
 * Loads a private key file.  A key readable by group or others is refused,
 * as ssh refuses one: it may already have leaked.
 */
static enum o8_rc load_key(const char *path, gnutls_x509_privkey_t *out,
			   const char *hint, struct o8_err *err)
{
	gnutls_datum_t d;
	char *buf;
	size_t len;
	mode_t mode;
	enum o8_rc rc;
	int r;

	*out = NULL;
	if ((rc = read_file(path, KEY_MAX, &buf, &len, &mode, hint, err)))
		return rc;
	if (mode & 077) {
		free_secret(buf, len);
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "private key '%s' is accessible by others (mode %04o): "
				  "run 'chmod 600 %s'", path, (unsigned)mode, path);
	}
	d.data = (unsigned char *)buf;
	d.size = (unsigned)len;
	if ((r = gnutls_x509_privkey_init(out)) < 0) {
		free_secret(buf, len);
		return tls_err(err, "cannot load a key", r);
	}
	r = gnutls_x509_privkey_import2(*out, &d,
					is_pem(buf, len) ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER,
					NULL, 0);
	free_secret(buf, len);
	if (r < 0) {
		gnutls_x509_privkey_deinit(*out);
		*out = NULL;
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "cannot load private key '%s': %s", path, gnutls_strerror(r));
	}
	if (gnutls_x509_privkey_get_pk_algorithm2(*out, NULL) != GNUTLS_PK_ECDSA) {
		gnutls_x509_privkey_deinit(*out);
		*out = NULL;
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "private key '%s' is not an ECDSA P-256 key", path);
	}
	return O8_OK;
}

static enum o8_rc import_crt(const void *data, size_t len, const char *what,
			     gnutls_x509_crt_t *out, struct o8_err *err)
{
	gnutls_datum_t d = { (unsigned char *)(uintptr_t)data, (unsigned)len };
	int r;

	*out = NULL;
	if (len > CERT_MAX)
		return o8_err_set(err, O8_ELIMIT, NULL, 0, 0,
				  "%s: larger than %u bytes", what, CERT_MAX);
	if ((r = gnutls_x509_crt_init(out)) < 0)
		return tls_err(err, "cannot load a certificate", r);
	r = gnutls_x509_crt_import(*out, &d, is_pem(data, len) ? GNUTLS_X509_FMT_PEM
							       : GNUTLS_X509_FMT_DER);
	if (r < 0) {
		gnutls_x509_crt_deinit(*out);
		*out = NULL;
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "%s is not an X.509 certificate: %s", what, gnutls_strerror(r));
	}
	return O8_OK;
}

static enum o8_rc load_crt(const char *path, gnutls_x509_crt_t *out, const char *hint,
			   struct o8_err *err)
{
	char *buf, *what = NULL;
	size_t len;
	enum o8_rc rc;

	*out = NULL;
	if ((rc = read_file(path, CERT_MAX, &buf, &len, NULL, hint, err)))
		return rc;
	if (asprintf(&what, "'%s'", path) < 0) {
		free(buf);
		return oom(err);
	}
	rc = import_crt(buf, len, what, out, err);
	free(what);
	free(buf);
	return rc;
}

/* The CA: certificate and key, as signing needs them. */
struct ca {
	gnutls_x509_crt_t crt;
	gnutls_x509_privkey_t key;
	gnutls_privkey_t signer;
};

static void ca_done(struct ca *ca)
{
	if (ca->signer)
		gnutls_privkey_deinit(ca->signer);
	if (ca->key)
		gnutls_x509_privkey_deinit(ca->key);
	if (ca->crt)
		gnutls_x509_crt_deinit(ca->crt);
	memset(ca, 0, sizeof(*ca));
}

static enum o8_rc ca_load(struct ca *ca, const char *dir, struct o8_err *err)
{
	char *kp = join(dir, pki_files[O8_PKI_CA_KEY]), *cp = join(dir, pki_files[O8_PKI_CA_CRT]);
	enum o8_rc rc;

	memset(ca, 0, sizeof(*ca));
	if (!kp || !cp)
		rc = oom(err);
	else if (!(rc = load_crt(cp, &ca->crt, INIT_HINT, err)) &&
		 !(rc = load_key(kp, &ca->key, INIT_HINT, err)))
		rc = signer_of(ca->key, &ca->signer, err);
	free(kp);
	free(cp);
	if (rc)
		ca_done(ca);
	return rc;
}

/*
 * A serial: 8 random bytes (so serials are unpredictable, as CAs are asked
 * to make them) then a big-endian counter (so they are unique even if the
 * random part collided).  The first byte is 0x40..0x7f: positive and of a
 * fixed length in DER.
 */
static enum o8_rc make_serial(unsigned char out[SERIAL_BYTES], uint64_t counter,
			      struct o8_err *err)
{
	int r, i;

	if ((r = gnutls_rnd(GNUTLS_RND_NONCE, out, 8)) < 0)
		return tls_err(err, "no random numbers", r);
	out[0] = (unsigned char)((out[0] & 0x3f) | 0x40);
	for (i = 0; i < 8; i++)
		out[8 + i] = (unsigned char)(counter >> (56 - 8 * i));
	return O8_OK;
}

static enum o8_rc hex_of(const void *data, size_t len, char *out, size_t cap,
			 struct o8_err *err)
{
	gnutls_datum_t d = { (unsigned char *)(uintptr_t)data, (unsigned)len };
	size_t n = cap;
	int r;

	if ((r = gnutls_hex_encode(&d, out, &n)) < 0)
		return tls_err(err, "cannot encode hex", r);
	return O8_OK;
}

/* Reads and advances the `serial` counter; the caller holds the lock. */
static enum o8_rc next_counter(const char *dir, uint64_t *out, struct o8_err *err)
{
	char *p = join(dir, pki_files[O8_PKI_SERIAL]), *buf = NULL, *end, line[32];
	unsigned long long v;
	enum o8_rc rc;
	size_t len;

	if (!p)
		return oom(err);
	if ((rc = read_file(p, SMALL_FILE_MAX, &buf, &len, NULL, INIT_HINT, err)))
		goto out;
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno || end == buf || (*end && *end != '\n') || v == 0 || v >= UINT64_MAX) {
		rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				"'%s' does not hold a serial counter", p);
		goto out;
	}
	snprintf(line, sizeof(line), "%llu\n", v + 1);
	if (!(rc = o8_fileio_write_atomic(p, line, strlen(line), 0600, true, err)))
		*out = v;
out:
	free(buf);
	free(p);
	return rc;
}

/* What a certificate says besides its key. */
struct cert_spec {
	const char *cn;
	const char *ou;                         /* or NULL */
	time_t not_before, not_after;
	bool ca;
	unsigned key_usage;
	const char *eku;                        /* OID, or NULL */
	const char *const *hosts;               /* SANs */
	size_t nhosts;
	unsigned char serial[SERIAL_BYTES];
};

static enum o8_rc add_san(gnutls_x509_crt_t crt, const char *host, struct o8_err *err)
{
	unsigned char ip[16];
	int r;

	if (inet_pton(AF_INET, host, ip) == 1)
		r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 4,
							 GNUTLS_FSAN_APPEND);
	else if (inet_pton(AF_INET6, host, ip) == 1)
		r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 16,
							 GNUTLS_FSAN_APPEND);
	else
		r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, host,
							 (unsigned)strlen(host),
							 GNUTLS_FSAN_APPEND);
	if (r < 0)
		return o8_err_set(err, O8_ERR, NULL, 0, 0, "cannot add host '%s': %s", host,
				  gnutls_strerror(r));
	return O8_OK;
}

/*
 * Builds and signs a certificate for pub.  issuer NULL means self-signed
 * (the CA); otherwise the authority key id is the issuer's subject key id.
 */
static enum o8_rc make_cert(gnutls_x509_crt_t *out, const struct cert_spec *s,
			    gnutls_pubkey_t pub, gnutls_x509_crt_t issuer,
			    gnutls_privkey_t signer, struct o8_err *err)
{
	unsigned char kid[64];
	size_t kidlen = sizeof(kid), i;
	unsigned crit;
	gnutls_x509_crt_t crt;
	const char *step;
	int r;

	*out = NULL;
	if ((r = gnutls_x509_crt_init(&crt)) < 0)
		return tls_err(err, "cannot make a certificate", r);
	step = "version";
	if ((r = gnutls_x509_crt_set_version(crt, 3)) < 0)
		goto fail;
	step = "key";
	if ((r = gnutls_x509_crt_set_pubkey(crt, pub)) < 0)
		goto fail;
	step = "subject";
	if ((s->ou && (r = gnutls_x509_crt_set_dn_by_oid(crt,
				GNUTLS_OID_X520_ORGANIZATIONAL_UNIT_NAME, 0, s->ou,
				(unsigned)strlen(s->ou))) < 0) ||
	    (r = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, s->cn,
					       (unsigned)strlen(s->cn))) < 0)
		goto fail;
	step = "serial";
	if ((r = gnutls_x509_crt_set_serial(crt, s->serial, sizeof(s->serial))) < 0)
		goto fail;
	step = "validity";
	if ((r = gnutls_x509_crt_set_activation_time(crt, s->not_before)) < 0 ||
	    (r = gnutls_x509_crt_set_expiration_time(crt, s->not_after)) < 0)
		goto fail;
	step = "basic constraints";
	if ((r = gnutls_x509_crt_set_basic_constraints(crt, s->ca, s->ca ? 0 : -1)) < 0)
		goto fail;
	step = "key usage";
	if ((r = gnutls_x509_crt_set_key_usage(crt, s->key_usage)) < 0)
		goto fail;
	step = "extended key usage";
	if (s->eku && (r = gnutls_x509_crt_set_key_purpose_oid(crt, s->eku, 0)) < 0)
		goto fail;
	step = "subject key id";
	if ((r = gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA1, kid, &kidlen)) < 0 ||
	    (r = gnutls_x509_crt_set_subject_key_id(crt, kid, kidlen)) < 0)
		goto fail;
	step = "authority key id";
	if (issuer) {
		kidlen = sizeof(kid);
		if ((r = gnutls_x509_crt_get_subject_key_id(issuer, kid, &kidlen, &crit)) < 0)
			goto fail;
	}
	if ((r = gnutls_x509_crt_set_authority_key_id(crt, kid, kidlen)) < 0)
		goto fail;
	for (i = 0; i < s->nhosts; i++)
		if (add_san(crt, s->hosts[i], err)) {
			gnutls_x509_crt_deinit(crt);
			return err->rc;
		}
	step = "signature";
	if ((r = gnutls_x509_crt_privkey_sign(crt, issuer ? issuer : crt, signer,
					      GNUTLS_DIG_SHA256, 0)) < 0)
		goto fail;
	*out = crt;
	return O8_OK;
fail:
	gnutls_x509_crt_deinit(crt);
	return o8_err_set(err, O8_ERR, NULL, 0, 0, "cannot make certificate '%s' (%s): %s",
			  s->cn, step, gnutls_strerror(r));
}

static enum o8_rc crt_pem(gnutls_x509_crt_t crt, gnutls_datum_t *out, struct o8_err *err)
{
	int r = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, out);

	return r < 0 ? tls_err(err, "cannot encode a certificate", r) : O8_OK;
}

static enum o8_rc write_crt(const char *dir, const char *name, gnutls_x509_crt_t crt,
			    bool replace, struct o8_err *err)
{
	gnutls_datum_t pem = { NULL, 0 };
	enum o8_rc rc;

	if ((rc = crt_pem(crt, &pem, err)))
		return rc;
	rc = write_in(dir, name, pem.data, pem.size, 0644, replace, err);
	gnutls_free(pem.data);
	return rc;
}

/* --- revocation list ----------------------------------------------------- */

struct revoked_entry {
	char serial[SERIAL_HEX_MAX + 1];
	time_t when, not_after;
};

struct revoked_list {
	struct revoked_entry *v;
	size_t n, cap;
};

static void revoked_done(struct revoked_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static bool revoked_has(const struct revoked_list *l, const char *serial)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].serial, serial))
			return true;
	return false;
}

static enum o8_rc revoked_add(struct revoked_list *l, const char *serial, time_t when,
			      time_t not_after, struct o8_err *err)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct revoked_entry *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return oom(err);
		l->v = v;
		l->cap = cap;
	}
	snprintf(l->v[l->n].serial, sizeof(l->v[l->n].serial), "%s", serial);
	l->v[l->n].when = when;
	l->v[l->n].not_after = not_after;
	l->n++;
	return O8_OK;
}

static bool serial_hex_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 2 && n <= SERIAL_HEX_MAX && n % 2 == 0 &&
	       strspn(s, "0123456789abcdef") == n;
}

/* `revoked`: one "SERIAL REVOKED_AT NOT_AFTER" line per revoked certificate. */
static enum o8_rc revoked_read(struct revoked_list *l, const char *dir, struct o8_err *err)
{
	char *p = join(dir, pki_files[O8_PKI_REVOKED]), *line = NULL;
	enum o8_rc rc = O8_OK;
	size_t cap = 0;
	unsigned lineno = 0;
	FILE *f;

	memset(l, 0, sizeof(*l));
	if (!p)
		return oom(err);
	f = fopen(p, "re");
	if (!f) {
		rc = sys_err(err, "read", p, errno, errno == ENOENT ? INIT_HINT : NULL);
		free(p);
		return rc;
	}
	while (!rc && getline(&line, &cap, f) > 0) {
		char serial[SERIAL_HEX_MAX + 2];
		long long when, na;

		lineno++;
		if (sscanf(line, "%41s %lld %lld", serial, &when, &na) != 3 ||
		    !serial_hex_ok(serial))
			rc = o8_err_set(err, O8_EINVALID, p, lineno, 1,
					"'%s' line %u is not 'SERIAL REVOKED_AT NOT_AFTER'",
					p, lineno);
		else
			rc = revoked_add(l, serial, (time_t)when, (time_t)na, err);
	}
	if (!rc && ferror(f))
		rc = sys_err(err, "read", p, EIO, NULL);
	fclose(f);
	free(line);
	free(p);
	if (rc)
		revoked_done(l);
	return rc;
}

static enum o8_rc revoked_write(const struct revoked_list *l, const char *dir,
				struct o8_err *err)
{
	char *buf = NULL;
	size_t len = 0, i;
	enum o8_rc rc;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return oom(err);
	for (i = 0; i < l->n; i++)
		fprintf(f, "%s %lld %lld\n", l->v[i].serial, (long long)l->v[i].when,
			(long long)l->v[i].not_after);
	if (fclose(f) != 0) {
		free(buf);
		return oom(err);
	}
	rc = write_in(dir, pki_files[O8_PKI_REVOKED], buf, len, 0600, true, err);
	free(buf);
	return rc;
}

/* The CRL number: the previous crl.pem's plus one, 1 for the first. */
static uint64_t crl_next_number(const char *path)
{
	gnutls_x509_crl_t crl;
	unsigned char nr[32];
	size_t nrlen = sizeof(nr), i;
	gnutls_datum_t d;
	uint64_t v = 0;
	char *buf = NULL;
	size_t len;
	struct o8_err ignored = O8_ERR_INIT;

	if (read_file(path, CRL_MAX, &buf, &len, NULL, NULL, &ignored))
		return 1;
	d.data = (unsigned char *)buf;
	d.size = (unsigned)len;
	if (gnutls_x509_crl_init(&crl) >= 0) {
		if (gnutls_x509_crl_import(crl, &d, GNUTLS_X509_FMT_PEM) >= 0 &&
		    gnutls_x509_crl_get_number(crl, nr, &nrlen, NULL) >= 0 && nrlen <= 8)
			for (i = 0; i < nrlen; i++)
				v = v << 8 | nr[i];
		gnutls_x509_crl_deinit(crl);
	}
	free(buf);
	return v + 1;
}

/*
 * Signs crl.pem from the revoked list.  Certificates already expired are
 * left out: an expired certificate is refused anyway.  nextUpdate is the
 * CA's own expiry because the CRL is re-issued on every revocation, not on
 * a schedule; our verifier reads the file, not a distribution point.
 */
static enum o8_rc write_crl(const char *dir, const struct ca *ca,
			    const struct revoked_list *l, time_t now, struct o8_err *err)
{
	char *p = join(dir, pki_files[O8_PKI_CRL]);
	gnutls_x509_crl_t crl = NULL;
	gnutls_datum_t pem = { NULL, 0 };
	unsigned char kid[64], nr[9], serial[SERIAL_HEX_MAX / 2];
	size_t kidlen = sizeof(kid), i, slen;
	unsigned crit;
	uint64_t number;
	enum o8_rc rc = O8_OK;
	int r, k;

	if (!p)
		return oom(err);
	number = crl_next_number(p);
	for (k = 0; k < 8; k++)
		nr[k + 1] = (unsigned char)(number >> (56 - 8 * k));
	nr[0] = 0;      /* a leading zero keeps the INTEGER positive */
	if ((r = gnutls_x509_crl_init(&crl)) < 0 ||
	    (r = gnutls_x509_crl_set_version(crl, 2)) < 0 ||
	    (r = gnutls_x509_crl_set_this_update(crl, now)) < 0 ||
	    (r = gnutls_x509_crl_set_next_update(crl,
			gnutls_x509_crt_get_expiration_time(ca->crt))) < 0 ||
	    (r = gnutls_x509_crl_set_number(crl, nr, sizeof(nr))) < 0 ||
	    (r = gnutls_x509_crt_get_subject_key_id(ca->crt, kid, &kidlen, &crit)) < 0 ||
	    (r = gnutls_x509_crl_set_authority_key_id(crl, kid, kidlen)) < 0)
		goto fail;
	for (i = 0; i < l->n; i++) {
		gnutls_datum_t hex = { (unsigned char *)l->v[i].serial,
				       (unsigned)strlen(l->v[i].serial) };

		if (l->v[i].not_after <= now)
			continue;
		slen = sizeof(serial);
		if ((r = gnutls_hex_decode(&hex, serial, &slen)) < 0 ||
		    (r = gnutls_x509_crl_set_crt_serial(crl, serial, slen, l->v[i].when)) < 0)
			goto fail;
	}
	if ((r = gnutls_x509_crl_privkey_sign(crl, ca->crt, ca->signer,
					      GNUTLS_DIG_SHA256, 0)) < 0 ||
	    (r = gnutls_x509_crl_export2(crl, GNUTLS_X509_FMT_PEM, &pem)) < 0)
		goto fail;
	rc = o8_fileio_write_atomic(p, pem.data, pem.size, 0644, true, err);
	goto out;
fail:
	rc = o8_err_set(err, O8_ERR, NULL, 0, 0, "cannot make '%s': %s", p, gnutls_strerror(r));
out:
	gnutls_free(pem.data);
	if (crl)
		gnutls_x509_crl_deinit(crl);
	free(p);
	return rc;
}

/* --- init ---------------------------------------------------------------- */

/* A DNS name as RFC 1123 allows in a certificate (no wildcards). */
static bool dns_name_ok(const char *s)
{
	size_t n = strlen(s), label = 0, i;

	if (!n || n > 253 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '.') {
			if (!label || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (c == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	return s[n - 1] != '-';
}

bool o8_pki_host_ok(const char *h)
{
	unsigned char ip[16];

	return inet_pton(AF_INET, h, ip) == 1 || inet_pton(AF_INET6, h, ip) == 1 ||
	       dns_name_ok(h);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* mkdir -p for the parents of dir (0777 & ~umask, as mkdir(1) does). */
static enum o8_rc make_parents(const char *dir, struct o8_err *err)
{
	char *p = strdup(dir), *s;

	if (!p)
		return oom(err);
	for (s = p + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		if (mkdir(p, 0777) < 0 && errno != EEXIST) {
			enum o8_rc rc = sys_err(err, "create directory", p, errno, NULL);

			free(p);
			return rc;
		}
		*s = '/';
	}
	free(p);
	return O8_OK;
}

/* dir must be missing, or an empty directory that rename(2) can replace. */
static enum o8_rc init_check_dir(const char *dir, bool *exists, struct o8_err *err)
{
	char *ca = join(dir, pki_files[O8_PKI_CA_KEY]);
	struct dirent *de;
	struct stat st;
	enum o8_rc rc = O8_OK;
	DIR *d;

	*exists = false;
	if (!ca)
		return oom(err);
	if (lstat(ca, &st) == 0) {
		rc = o8_err_set(err, O8_ECONFLICT, NULL, 0, 0,
				"'%s' already exists: 'orc8r pki init' never replaces a CA", ca);
		goto out;
	}
	if (lstat(dir, &st) < 0) {
		if (errno != ENOENT)
			rc = sys_err(err, "inspect", dir, errno, NULL);
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		rc = o8_err_set(err, O8_ECONFLICT, NULL, 0, 0,
				"'%s' exists and is not a directory", dir);
		goto out;
	}
	*exists = true;
	if (!(d = opendir(dir))) {
		rc = sys_err(err, "open", dir, errno, NULL);
		goto out;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			rc = o8_err_set(err, O8_ECONFLICT, NULL, 0, 0,
					"'%s' is not empty: give a new directory", dir);
			break;
		}
	closedir(d);
out:
	free(ca);
	return rc;
}

static enum o8_rc init_write(const char *tmp, const struct o8_pki_opts *o,
			     const char *const *hosts, size_t nhosts, struct o8_err *err)
{
	gnutls_x509_privkey_t cakey = NULL, srvkey = NULL;
	gnutls_privkey_t casigner = NULL, srvsigner = NULL;
	gnutls_pubkey_t capub = NULL, srvpub = NULL;
	gnutls_x509_crt_t srvcrt = NULL;
	struct revoked_list none = { NULL, 0, 0 };
	struct cert_spec s;
	struct ca ca = { NULL, NULL, NULL };
	time_t now = o->now ? o->now : time(NULL);
	unsigned ca_days = o->ca_days ? o->ca_days : O8_PKI_CA_DAYS;
	unsigned srv_days = o->server_days ? o->server_days : O8_PKI_SERVER_DAYS;
	static const char gitignore[] = "# orc8r PKI: private keys; never commit this directory\n*\n";
	char *p = NULL;
	enum o8_rc rc;

	if ((rc = gen_key(&cakey, err)) || (rc = signer_of(cakey, &casigner, err)) ||
	    (rc = pubkey_of(casigner, &capub, err)))
		goto out;
	memset(&s, 0, sizeof(s));
	s.cn = "orc8r CA";
	s.not_before = now - O8_PKI_SKEW;
	s.not_after = now + (time_t)ca_days * DAY;
	s.ca = true;
	s.key_usage = GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN;
	if ((rc = make_serial(s.serial, 1, err)) ||
	    (rc = make_cert(&ca.crt, &s, capub, NULL, casigner, err)))
		goto out;

	if ((rc = gen_key(&srvkey, err)) || (rc = signer_of(srvkey, &srvsigner, err)) ||
	    (rc = pubkey_of(srvsigner, &srvpub, err)))
		goto out;
	memset(&s, 0, sizeof(s));
	s.cn = hosts[0];
	s.not_before = now - O8_PKI_SKEW;
	s.not_after = now + (time_t)srv_days * DAY;
	if (s.not_after > now + (time_t)ca_days * DAY)
		s.not_after = now + (time_t)ca_days * DAY;
	s.key_usage = GNUTLS_KEY_DIGITAL_SIGNATURE;
	s.eku = GNUTLS_KP_TLS_WWW_SERVER;
	s.hosts = hosts;
	s.nhosts = nhosts;
	if ((rc = make_serial(s.serial, 2, err)) ||
	    (rc = make_cert(&srvcrt, &s, srvpub, ca.crt, casigner, err)))
		goto out;

	/* If anything below fails, the caller removes the whole temp dir. */
	ca.signer = casigner;
	if ((rc = write_key_in(tmp, pki_files[O8_PKI_CA_KEY], cakey, err)) ||
	    (rc = write_key_in(tmp, pki_files[O8_PKI_SERVER_KEY], srvkey, err)) ||
	    (rc = write_crt(tmp, pki_files[O8_PKI_CA_CRT], ca.crt, false, err)) ||
	    (rc = write_crt(tmp, pki_files[O8_PKI_SERVER_CRT], srvcrt, false, err)) ||
	    (rc = write_in(tmp, pki_files[O8_PKI_SERIAL], "3\n", 2, 0600, false, err)) ||
	    (rc = write_in(tmp, pki_files[O8_PKI_ISSUED], "", 0, 0600, false, err)) ||
	    (rc = write_in(tmp, pki_files[O8_PKI_REVOKED], "", 0, 0600, false, err)) ||
	    (rc = write_in(tmp, pki_files[O8_PKI_GITIGNORE], gitignore, strlen(gitignore),
			   0644, false, err)) ||
	    (rc = write_crl(tmp, &ca, &none, now, err)))
		goto out;
	if (!(p = join(tmp, pki_files[O8_PKI_TOKENS])))
		rc = oom(err);
	else if (mkdir(p, 0700) < 0)
		rc = sys_err(err, "create directory", p, errno, NULL);
out:
	ca.signer = NULL;
	free(p);
	if (srvcrt)
		gnutls_x509_crt_deinit(srvcrt);
	if (ca.crt)
		gnutls_x509_crt_deinit(ca.crt);
	if (capub)
		gnutls_pubkey_deinit(capub);
	if (srvpub)
		gnutls_pubkey_deinit(srvpub);
	if (casigner)
		gnutls_privkey_deinit(casigner);
	if (srvsigner)
		gnutls_privkey_deinit(srvsigner);
	if (cakey)
		gnutls_x509_privkey_deinit(cakey);
	if (srvkey)
		gnutls_x509_privkey_deinit(srvkey);
	return rc;
}

enum o8_rc o8_pki_init(const char *dir_in, const char *const *hosts, size_t nhosts,
		       const struct o8_pki_opts *o, struct o8_err *err)
{
	struct o8_pki_opts defaults = O8_PKI_OPTS_INIT;
	char *dir = NULL, *tmp = NULL, *parent = NULL;
	size_t i, n;
	bool exists;
	enum o8_rc rc;

	if (!o)
		o = &defaults;
	if (!dir_in || !*dir_in)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0, "no PKI directory given");
	if (!nhosts)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "no host for the server certificate: give syncd's DNS "
				  "name or IP address (--host)");
	for (i = 0; i < nhosts; i++)
		if (!o8_pki_host_ok(hosts[i]))
			return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
					  "host '%s' is neither a DNS name nor an IP address",
					  hosts[i]);
	if (o->ca_days > 100 * 365 || o->server_days > 100 * 365)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "validity of more than 100 years requested");
	/* "pki/" and "pki" are the same directory; the temp name needs no slash. */
	n = strlen(dir_in);
	while (n > 1 && dir_in[n - 1] == '/')
		n--;
	if (!(dir = strndup(dir_in, n)))
		return oom(err);
	if ((rc = init_check_dir(dir, &exists, err)) ||
	    (!exists && (rc = make_parents(dir, err))))
		goto out;
	if (asprintf(&tmp, "%s.tmp-XXXXXX", dir) < 0) {
		tmp = NULL;
		rc = oom(err);
		goto out;
	}
	if (!mkdtemp(tmp)) {   /* mode 0700 */
		rc = sys_err(err, "create a directory next to", dir, errno, NULL);
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if ((rc = init_write(tmp, o, hosts, nhosts, err)) || (rc = o8_fileio_fsync_dir(tmp, err)))
		goto out;
	/* rename(2) replaces an empty directory but never a non-empty one. */
	if (rename(tmp, dir) < 0) {
		rc = errno == ENOTEMPTY || errno == EEXIST
			? o8_err_set(err, O8_ECONFLICT, NULL, 0, 0,
				     "'%s' is not empty: give a new directory", dir)
			: sys_err(err, "create", dir, errno, NULL);
		goto out;
	}
	free(tmp);
	tmp = NULL;
	rc = o8_fileio_fsync_parent(dir, err);
out:
	if (tmp) {
		nftw(tmp, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
		free(tmp);
	}
	free(parent);
	free(dir);
	return rc;
}

/* --- tokens -------------------------------------------------------------- */

static char *token_path(const char *dir, const char *id)
{
	char *p;

	return asprintf(&p, "%s/%s/%s.json", dir, pki_files[O8_PKI_TOKENS], id) < 0 ? NULL : p;
}

static bool ca_present(const char *dir, struct o8_err *err)
{
	char *p = join(dir, pki_files[O8_PKI_CA_CRT]);
	bool ok;

	if (!p) {
		oom(err);
		return false;
	}
	ok = access(p, R_OK) == 0;
	if (!ok)
		sys_err(err, "read", p, errno, errno == ENOENT ? INIT_HINT : NULL);
	free(p);
	return ok;
}

enum o8_rc o8_pki_enroll_token(char **out_token, time_t *out_expires, const char *dir,
			       const char *network, const char *gateway,
			       unsigned ttl, struct o8_err *err)
{
	unsigned char id[TOKEN_ID_BYTES], secret[TOKEN_SECRET_BYTES], digest[32];
	char idhex[TOKEN_ID_HEX + 1], sechex[TOKEN_SECRET_HEX + 1], dighex[65];
	char *p = NULL, *json = NULL, *token = NULL;
	time_t now = time(NULL), expires;
	json_t *o = NULL;
	enum o8_rc rc;
	int r, lock = -1;

	*out_token = NULL;
	if ((rc = check_identity(network, gateway, err)))
		return rc;
	if (!ttl)
		ttl = O8_PKI_TOKEN_TTL;
	if (ttl > O8_PKI_TOKEN_TTL_MAX)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "token lifetime %us is too long: at most %u days",
				  ttl, O8_PKI_TOKEN_TTL_MAX / DAY);
	expires = now + (time_t)ttl;
	if (!ca_present(dir, err))
		return err->rc;
	if ((lock = lock_dir(dir, err)) < 0)
		return err->rc;
	if ((r = gnutls_rnd(GNUTLS_RND_NONCE, id, sizeof(id))) < 0 ||
	    (r = gnutls_rnd(GNUTLS_RND_KEY, secret, sizeof(secret))) < 0 ||
	    (r = gnutls_hash_fast(GNUTLS_DIG_SHA256, secret, sizeof(secret), digest)) < 0) {
		rc = tls_err(err, "cannot make a token", r);
		goto out;
	}
	if ((rc = hex_of(id, sizeof(id), idhex, sizeof(idhex), err)) ||
	    (rc = hex_of(secret, sizeof(secret), sechex, sizeof(sechex), err)) ||
	    (rc = hex_of(digest, sizeof(digest), dighex, sizeof(dighex), err)))
		goto out;
	o = json_pack("{s:s, s:s, s:I, s:I, s:s, s:b}", "network", network, "gateway", gateway,
		      "created", (json_int_t)now, "expires", (json_int_t)expires,
		      "sha256", dighex, "used", 0);
	if (!o || !(json = json_dumps(o, JSON_INDENT(2))) || !(p = token_path(dir, idhex)) ||
	    asprintf(&token, TOKEN_PREFIX "%s.%s", idhex, sechex) < 0) {
		token = NULL;
		rc = oom(err);
		goto out;
	}
	if ((rc = o8_fileio_write_atomic(p, json, strlen(json), 0600, false, err))) {
		if (rc == O8_ENOTFOUND)
			o8_err_prefix(err, "no '%s' directory in '%s'", pki_files[O8_PKI_TOKENS], dir);
		goto out;
	}
	*out_token = token;
	token = NULL;
	if (out_expires)
		*out_expires = expires;
out:
	unlock_dir(lock);
	if (token)
		free_secret(token, strlen(token));
	explicit_bzero(secret, sizeof(secret));
	explicit_bzero(sechex, sizeof(sechex));
	json_decref(o);
	free(json);
	free(p);
	return rc;
}

/* Splits "o8e1.<id>.<secret>" (hex) and decodes the secret. */
static enum o8_rc token_parse(const char *token, char id[TOKEN_ID_HEX + 1],
			      unsigned char secret[TOKEN_SECRET_BYTES], struct o8_err *err)
{
	const char *s = token + sizeof(TOKEN_PREFIX) - 1;
	gnutls_datum_t hex;
	size_t n = TOKEN_SECRET_BYTES;

	if (!token || strlen(token) != TOKEN_LEN || strncmp(token, TOKEN_PREFIX,
							      sizeof(TOKEN_PREFIX) - 1) ||
	    strspn(s, "0123456789abcdef") != TOKEN_ID_HEX || s[TOKEN_ID_HEX] != '.' ||
	    strspn(s + TOKEN_ID_HEX + 1, "0123456789abcdef") != TOKEN_SECRET_HEX)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "malformed enrolment token: expected '" TOKEN_PREFIX
				  "<id>.<secret>' as 'orc8r pki enroll-token' prints it");
	memcpy(id, s, TOKEN_ID_HEX);
	id[TOKEN_ID_HEX] = '\0';
	hex.data = (unsigned char *)(uintptr_t)(s + TOKEN_ID_HEX + 1);
	hex.size = TOKEN_SECRET_HEX;
	if (gnutls_hex_decode(&hex, secret, &n) < 0 || n != TOKEN_SECRET_BYTES)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0, "malformed enrolment token");
	return O8_OK;
}

/*
 * Checks the presented secret against tokens/<id>.json: the hash comparison
 * is constant-time and comes before anything that depends on the token's
 * state, so a caller without the secret learns nothing but "wrong".
 * Returns the parsed token (caller decrefs) on success.
 */
static enum o8_rc token_check(json_t **out, const char *path, const char *id,
			      const unsigned char secret[TOKEN_SECRET_BYTES], time_t now,
			      struct o8_err *err)
{
	unsigned char digest[32], want[32];
	gnutls_datum_t hex;
	size_t wlen = sizeof(want), len;
	const char *sha;
	json_int_t expires = 0;
	json_error_t jerr;
	json_t *o;
	char *buf, when[32];
	int used = 0, r;
	enum o8_rc rc;

	*out = NULL;
	rc = read_file(path, SMALL_FILE_MAX, &buf, &len, NULL, NULL, err);
	if (rc == O8_ENOTFOUND) {
		o8_err_clear(err);
		return o8_err_set(err, O8_ENOTFOUND, NULL, 0, 0,
				  "unknown enrolment token '%s' (revoked, or made for "
				  "another PKI directory)", id);
	}
	if (rc)
		return rc;
	o = json_loadb(buf, len, 0, &jerr);
	free(buf);
	if (!o || json_unpack(o, "{s:s, s:I, s:b}", "sha256", &sha, "expires", &expires,
			      "used", &used) < 0) {
		json_decref(o);
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "'%s' is not a valid token file", path);
	}
	hex.data = (unsigned char *)(uintptr_t)sha;
	hex.size = (unsigned)strlen(sha);
	if (hex.size != 64 || gnutls_hex_decode(&hex, want, &wlen) < 0 || wlen != 32) {
		json_decref(o);
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "'%s' is not a valid token file", path);
	}
	if ((r = gnutls_hash_fast(GNUTLS_DIG_SHA256, secret, TOKEN_SECRET_BYTES, digest)) < 0) {
		json_decref(o);
		return tls_err(err, "cannot hash a token", r);
	}
	if (gnutls_memcmp(digest, want, sizeof(want)) != 0) {
		json_decref(o);
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "enrolment token '%s' rejected: wrong secret", id);
	}
	if (used) {
		json_decref(o);
		return o8_err_set(err, O8_ECONFLICT, NULL, 0, 0,
				  "enrolment token '%s' was already used: make a new "
				  "one with 'orc8r pki enroll-token'", id);
	}
	if (now >= (time_t)expires) {
		utc(when, (time_t)expires);
		json_decref(o);
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "enrolment token '%s' expired at %s: make a new one "
				  "with 'orc8r pki enroll-token'", id, when);
	}
	*out = o;
	return O8_OK;
}

/* --- issuing ------------------------------------------------------------- */

static enum o8_rc import_csr(const void *csr, size_t len, gnutls_x509_crq_t *out,
			     gnutls_pubkey_t *pub, struct o8_err *err)
{
	gnutls_datum_t d = { (unsigned char *)(uintptr_t)csr, (unsigned)len };
	int r;

	*out = NULL;
	*pub = NULL;
	if (!csr || !len)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0, "empty certificate request");
	if (len > CSR_MAX)
		return o8_err_set(err, O8_ELIMIT, NULL, 0, 0,
				  "certificate request larger than %u bytes", CSR_MAX);
	if ((r = gnutls_x509_crq_init(out)) < 0)
		return tls_err(err, "cannot read a certificate request", r);
	r = gnutls_x509_crq_import(*out, &d, is_pem(csr, len) ? GNUTLS_X509_FMT_PEM
							    : GNUTLS_X509_FMT_DER);
	if (r < 0) {
		o8_err_set(err, O8_EINVALID, NULL, 0, 0,
			   "not a certificate request (PKCS#10): %s", gnutls_strerror(r));
		goto fail;
	}
	if ((r = gnutls_x509_crq_verify(*out, 0)) < 0) {
		o8_err_set(err, O8_EINVALID, NULL, 0, 0,
			   "certificate request's signature does not verify: %s",
			   gnutls_strerror(r));
		goto fail;
	}
	if ((r = gnutls_pubkey_init(pub)) < 0 ||
	    (r = gnutls_pubkey_import_x509_crq(*pub, *out, 0)) < 0) {
		o8_err_set(err, O8_EINVALID, NULL, 0, 0,
			   "certificate request has no usable key: %s", gnutls_strerror(r));
		goto fail;
	}
	if (!pubkey_is_p256(*pub)) {
		o8_err_set(err, O8_EINVALID, NULL, 0, 0,
			   "certificate request's key is not ECDSA P-256");
		goto fail;
	}
	return O8_OK;
fail:
	if (*pub)
		gnutls_pubkey_deinit(*pub);
	gnutls_x509_crq_deinit(*out);
	*out = NULL;
	*pub = NULL;
	return err->rc;
}

/* Who a client certificate is for: its subject and its name in `issued`. */
struct holder {
	char cn[2 * O8_PKI_NAME_MAX + 1];       /* "network/gateway" or NAME */
	const char *ou;                         /* NULL or O8_PKI_OPERATOR_OU */
	char ident[2 * O8_PKI_NAME_MAX + 1];    /* "network/gateway" or "operator:NAME" */
};

static void holder_gateway(struct holder *h, const char *network, const char *gateway)
{
	snprintf(h->cn, sizeof(h->cn), "%s/%s", network, gateway);
	snprintf(h->ident, sizeof(h->ident), "%s", h->cn);
	h->ou = NULL;
}

static void holder_operator(struct holder *h, const char *name)
{
	snprintf(h->cn, sizeof(h->cn), "%s", name);
	snprintf(h->ident, sizeof(h->ident), OPERATOR_PREFIX "%s", name);
	h->ou = O8_PKI_OPERATOR_OU;
}

/*
 * Issues a client certificate for pub to h; the caller holds the lock.
 * *out_line is the line to append to `issued` once the caller's own
 * bookkeeping succeeded.
 */
static enum o8_rc issue_locked(const char *dir, const struct holder *h,
			       gnutls_pubkey_t pub, time_t now, unsigned ttl,
			       char **out_pem, char **out_line, char *serial_hex,
			       struct o8_err *err)
{
	struct ca ca;
	struct cert_spec s;
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t pem = { NULL, 0 };
	time_t ca_end;
	uint64_t counter = 0;
	enum o8_rc rc;

	*out_pem = NULL;
	*out_line = NULL;
	if ((rc = ca_load(&ca, dir, err)))
		return rc;
	if ((ca_end = gnutls_x509_crt_get_expiration_time(ca.crt)) <= now) {
		char when[32];

		utc(when, ca_end);
		rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				"the CA in '%s' expired at %s: make a new PKI", dir, when);
		goto out;
	}
	memset(&s, 0, sizeof(s));
	s.cn = h->cn;
	s.ou = h->ou;
	s.not_before = now - O8_PKI_SKEW;
	s.not_after = now + (time_t)ttl;
	if (s.not_after > ca_end)
		s.not_after = ca_end;
	s.key_usage = GNUTLS_KEY_DIGITAL_SIGNATURE;
	s.eku = GNUTLS_KP_TLS_WWW_CLIENT;
	if ((rc = next_counter(dir, &counter, err)) ||
	    (rc = make_serial(s.serial, counter, err)) ||
	    (rc = hex_of(s.serial, sizeof(s.serial), serial_hex, SERIAL_HEX_MAX + 1, err)) ||
	    (rc = make_cert(&crt, &s, pub, ca.crt, ca.signer, err)) ||
	    (rc = crt_pem(crt, &pem, err)))
		goto out;
	if (!(*out_pem = strndup((const char *)pem.data, pem.size)) ||
	    asprintf(out_line, "%s %s %lld %lld\n", serial_hex, h->ident,
		     (long long)s.not_before, (long long)s.not_after) < 0) {
		free(*out_pem);
		*out_pem = NULL;
		*out_line = NULL;
		rc = oom(err);
	}
out:
	gnutls_free(pem.data);
	if (crt)
		gnutls_x509_crt_deinit(crt);
	ca_done(&ca);
	return rc;
}

enum o8_rc o8_pki_redeem(const char *dir, const char *token, const void *csr, size_t len,
			 time_t now, unsigned cert_ttl, char **out_cert_pem,
			 struct o8_err *err)
{
	unsigned char secret[TOKEN_SECRET_BYTES];
	char id[TOKEN_ID_HEX + 1], serial[SERIAL_HEX_MAX + 1];
	char *path = NULL, *json = NULL, *pem = NULL, *line = NULL;
	const char *network, *gateway;
	struct holder h;
	gnutls_x509_crq_t crq = NULL;
	gnutls_pubkey_t pub = NULL;
	json_t *tok = NULL;
	enum o8_rc rc;
	int lock = -1;

	*out_cert_pem = NULL;
	if (!now)
		now = time(NULL);
	if (!cert_ttl)
		cert_ttl = O8_PKI_CERT_TTL;
	if ((rc = token_parse(token, id, secret, err)))
		goto out;
	if ((rc = import_csr(csr, len, &crq, &pub, err)))
		goto out;
	if (!(path = token_path(dir, id))) {
		rc = oom(err);
		goto out;
	}
	if ((lock = lock_dir(dir, err)) < 0) {
		rc = err->rc;
		goto out;
	}
	if ((rc = token_check(&tok, path, id, secret, now, err)))
		goto out;
	if (json_unpack(tok, "{s:s, s:s}", "network", &network, "gateway", &gateway) < 0 ||
	    check_identity(network, gateway, err)) {
		rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				"'%s' is not a valid token file", path);
		goto out;
	}
	holder_gateway(&h, network, gateway);
	if ((rc = issue_locked(dir, &h, pub, now, cert_ttl, &pem, &line, serial, err)))
		goto out;
	/* Used before anything is handed out: a crash now burns the token, never reuses it. */
	if (json_object_set_new(tok, "used", json_true()) ||
	    json_object_set_new(tok, "used_at", json_integer((json_int_t)now)) ||
	    json_object_set_new(tok, "serial", json_string(serial)) ||
	    !(json = json_dumps(tok, JSON_INDENT(2)))) {
		rc = oom(err);
		goto out;
	}
	if ((rc = o8_fileio_write_atomic(path, json, strlen(json), 0600, true, err)) ||
	    (rc = append_line(dir, pki_files[O8_PKI_ISSUED], line, err)))
		goto out;
	*out_cert_pem = pem;
	pem = NULL;
out:
	unlock_dir(lock);
	explicit_bzero(secret, sizeof(secret));
	json_decref(tok);
	if (pub)
		gnutls_pubkey_deinit(pub);
	if (crq)
		gnutls_x509_crq_deinit(crq);
	free(json);
	free(pem);
	free(line);
	free(path);
	return rc;
}

/* Issues to h for the key of csr, without a token (the caller vouches for h). */
static enum o8_rc issue_to(const char *dir, const struct holder *h, const void *csr,
			   size_t len, time_t now, unsigned ttl, char **out_cert_pem,
			   struct o8_err *err)
{
	char serial[SERIAL_HEX_MAX + 1], *pem = NULL, *line = NULL;
	gnutls_x509_crq_t crq = NULL;
	gnutls_pubkey_t pub = NULL;
	enum o8_rc rc;
	int lock = -1;

	if (!now)
		now = time(NULL);
	if ((rc = import_csr(csr, len, &crq, &pub, err)))
		goto out;
	if ((lock = lock_dir(dir, err)) < 0) {
		rc = err->rc;
		goto out;
	}
	if ((rc = issue_locked(dir, h, pub, now, ttl, &pem, &line, serial, err)) ||
	    (rc = append_line(dir, pki_files[O8_PKI_ISSUED], line, err)))
		goto out;
	*out_cert_pem = pem;
	pem = NULL;
out:
	unlock_dir(lock);
	if (pub)
		gnutls_pubkey_deinit(pub);
	if (crq)
		gnutls_x509_crq_deinit(crq);
	free(pem);
	free(line);
	return rc;
}

enum o8_rc o8_pki_issue(const char *dir, const char *network, const char *gateway,
			const void *csr, size_t len, time_t now, unsigned cert_ttl,
			char **out_cert_pem, struct o8_err *err)
{
	struct holder h;
	enum o8_rc rc;

	*out_cert_pem = NULL;
	if ((rc = check_identity(network, gateway, err)))
		return rc;
	holder_gateway(&h, network, gateway);
	return issue_to(dir, &h, csr, len, now, cert_ttl ? cert_ttl : O8_PKI_CERT_TTL,
			out_cert_pem, err);
}

static enum o8_rc check_operator(const char *name, struct o8_err *err)
{
	if (!o8_apitoken_name_ok(name))
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "operator name '%s' is not valid: use 1 to %d of "
				  "A-Z a-z 0-9 . _ @ -", name ? name : "", O8_APITOKEN_NAME_MAX);
	return O8_OK;
}

enum o8_rc o8_pki_issue_operator(const char *dir, const char *name, const void *csr,
				 size_t len, time_t now, unsigned ttl,
				 char **out_cert_pem, struct o8_err *err)
{
	struct holder h;
	enum o8_rc rc;

	*out_cert_pem = NULL;
	if ((rc = check_operator(name, err)))
		return rc;
	holder_operator(&h, name);
	return issue_to(dir, &h, csr, len, now, ttl ? ttl : O8_PKI_OPERATOR_TTL,
			out_cert_pem, err);
}

/* --- issued log, list and revoke ------------------------------------------ */

/* "network/gateway" or "operator:NAME" of `issued` into row; false when malformed. */
static bool row_identity(struct o8_pki_issued *row, char *ident)
{
	const size_t plen = sizeof(OPERATOR_PREFIX) - 1;
	char *slash;

	if (!strncmp(ident, OPERATOR_PREFIX, plen)) {
		if (!o8_apitoken_name_ok(ident + plen))
			return false;
		snprintf(row->operator_name, sizeof(row->operator_name), "%.64s", ident + plen);
		return true;
	}
	if (!(slash = strchr(ident, '/')))
		return false;
	*slash = '\0';
	if (!name_ok(ident) || !name_ok(slash + 1))
		return false;
	/* Lengths were checked above; the precisions only reassure the compiler. */
	snprintf(row->network, sizeof(row->network), "%.63s", ident);
	snprintf(row->gateway, sizeof(row->gateway), "%.63s", slash + 1);
	return true;
}

/* Calls fn for every line of `issued`; fn returns non-zero to stop with an error. */
static enum o8_rc issued_each(const char *dir,
			      enum o8_rc (*fn)(const struct o8_pki_issued *row, void *payload,
					       struct o8_err *err),
			      void *payload, struct o8_err *err)
{
	char *p = join(dir, pki_files[O8_PKI_ISSUED]), *line = NULL;
	enum o8_rc rc = O8_OK;
	unsigned lineno = 0;
	size_t cap = 0;
	FILE *f;

	if (!p)
		return oom(err);
	if (!(f = fopen(p, "re"))) {
		rc = sys_err(err, "read", p, errno, errno == ENOENT ? INIT_HINT : NULL);
		free(p);
		return rc;
	}
	while (!rc && getline(&line, &cap, f) > 0) {
		struct o8_pki_issued row;
		char serial[SERIAL_HEX_MAX + 2], ident[2 * O8_PKI_NAME_MAX + 2];
		long long nb, na;

		lineno++;
		memset(&row, 0, sizeof(row));
		if (sscanf(line, "%41s %129s %lld %lld", serial, ident, &nb, &na) != 4 ||
		    !serial_hex_ok(serial)) {
			rc = o8_err_set(err, O8_EINVALID, p, lineno, 1,
					"'%s' line %u is not 'SERIAL IDENTITY "
					"NOT_BEFORE NOT_AFTER'", p, lineno);
			break;
		}
		if (!row_identity(&row, ident)) {
			rc = o8_err_set(err, O8_EINVALID, p, lineno, 1,
					"'%s' line %u: bad identity", p, lineno);
			break;
		}
		/* The length was checked above; the precision only reassures the compiler. */
		snprintf(row.serial, sizeof(row.serial), "%.40s", serial);
		row.not_before = (time_t)nb;
		row.not_after = (time_t)na;
		rc = fn(&row, payload, err);
	}
	if (!rc && ferror(f))
		rc = sys_err(err, "read", p, EIO, NULL);
	fclose(f);
	free(line);
	free(p);
	return rc;
}

struct list_ctx {
	struct o8_pki_issued *v;
	size_t n, cap;
	const struct revoked_list *revoked;
};

static enum o8_rc list_row(const struct o8_pki_issued *row, void *payload,
			   struct o8_err *err)
{
	struct list_ctx *c = payload;

	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 32;
		struct o8_pki_issued *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return oom(err);
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n] = *row;
	c->v[c->n].revoked = revoked_has(c->revoked, row->serial);
	c->n++;
	return O8_OK;
}

enum o8_rc o8_pki_list(struct o8_pki_issued **out, size_t *n, const char *dir,
		       struct o8_err *err)
{
	struct revoked_list rl;
	struct list_ctx c = { NULL, 0, 0, NULL };
	enum o8_rc rc;

	*out = NULL;
	*n = 0;
	if ((rc = revoked_read(&rl, dir, err)))
		return rc;
	c.revoked = &rl;
	rc = issued_each(dir, list_row, &c, err);
	revoked_done(&rl);
	if (rc) {
		free(c.v);
		return rc;
	}
	*out = c.v;
	*n = c.n;
	return O8_OK;
}

struct revoke_ctx {
	const struct o8_pki_issued *who;        /* its identity fields only */
	struct revoked_list *revoked;
	time_t now;
	size_t matched, added;
};

static enum o8_rc revoke_row(const struct o8_pki_issued *row, void *payload,
			     struct o8_err *err)
{
	struct revoke_ctx *c = payload;

	/* A gateway's row has no operator name and an operator's no network. */
	if (strcmp(row->network, c->who->network) || strcmp(row->gateway, c->who->gateway) ||
	    strcmp(row->operator_name, c->who->operator_name))
		return O8_OK;
	c->matched++;
	if (revoked_has(c->revoked, row->serial))
		return O8_OK;
	c->added++;
	return revoked_add(c->revoked, row->serial, c->now, row->not_after, err);
}

/* Deletes the identity's unused tokens; *n counts them. */
static enum o8_rc drop_tokens(const char *dir, const char *network, const char *gateway,
			      size_t *n, struct o8_err *err)
{
	char *td = join(dir, pki_files[O8_PKI_TOKENS]);
	struct dirent *de;
	enum o8_rc rc = O8_OK;
	DIR *d;

	*n = 0;
	if (!td)
		return oom(err);
	if (!(d = opendir(td))) {
		rc = sys_err(err, "open", td, errno, errno == ENOENT ? INIT_HINT : NULL);
		free(td);
		return rc;
	}
	while (!rc && (de = readdir(d))) {
		size_t len = strlen(de->d_name), flen;
		const char *net = NULL, *gw = NULL;
		char *p, *buf = NULL;
		json_t *o;
		int used = 1;

		if (len != TOKEN_ID_HEX + 5 || strcmp(de->d_name + TOKEN_ID_HEX, ".json") ||
		    strspn(de->d_name, "0123456789abcdef") != TOKEN_ID_HEX)
			continue;
		if (!(p = join(td, de->d_name))) {
			rc = oom(err);
			break;
		}
		if ((rc = read_file(p, SMALL_FILE_MAX, &buf, &flen, NULL, NULL, err))) {
			free(p);
			break;
		}
		o = json_loadb(buf, flen, 0, NULL);
		free(buf);
		if (o && json_unpack(o, "{s:s, s:s, s:b}", "network", &net, "gateway", &gw,
				     "used", &used) == 0 &&
		    !used && !strcmp(net, network) && !strcmp(gw, gateway)) {
			if (unlink(p) < 0)
				rc = sys_err(err, "delete", p, errno, NULL);
			else
				(*n)++;
		}
		json_decref(o);
		free(p);
	}
	closedir(d);
	if (!rc && *n)
		rc = o8_fileio_fsync_dir(td, err);
	free(td);
	return rc;
}

/*
 * Revokes every certificate issued to who (a gateway also loses its
 * unused tokens) and re-signs the CRL; the outputs are set on success.
 */
static enum o8_rc revoke_holder(const char *dir, const struct o8_pki_issued *who,
				size_t *out_ncerts, size_t *out_ntokens, struct o8_err *err)
{
	struct revoked_list rl = { NULL, 0, 0 };
	struct revoke_ctx c;
	struct ca ca = { NULL, NULL, NULL };
	size_t ntokens = 0;
	enum o8_rc rc;
	int lock;

	if ((lock = lock_dir(dir, err)) < 0)
		return err->rc;
	/* The CA first: without it no CRL can be signed, so change nothing. */
	if ((rc = ca_load(&ca, dir, err)) || (rc = revoked_read(&rl, dir, err)))
		goto out;
	memset(&c, 0, sizeof(c));
	c.who = who;
	c.revoked = &rl;
	c.now = time(NULL);
	if ((rc = issued_each(dir, revoke_row, &c, err)) ||
	    (!who->operator_name[0] &&
	     (rc = drop_tokens(dir, who->network, who->gateway, &ntokens, err))))
		goto out;
	if (!c.matched && !ntokens) {
		rc = who->operator_name[0]
			? o8_err_set(err, O8_ENOTFOUND, NULL, 0, 0,
				     "nothing to revoke: no certificate was issued to "
				     "operator '%s' from '%s'", who->operator_name, dir)
			: o8_err_set(err, O8_ENOTFOUND, NULL, 0, 0,
				     "nothing to revoke: no certificate or unused token was "
				     "issued to '%s/%s' from '%s'", who->network, who->gateway,
				     dir);
		goto out;
	}
	if ((c.added && (rc = revoked_write(&rl, dir, err))) ||
	    (rc = write_crl(dir, &ca, &rl, c.now, err)))
		goto out;
	*out_ncerts = c.added;
	*out_ntokens = ntokens;
out:
	unlock_dir(lock);
	ca_done(&ca);
	revoked_done(&rl);
	return rc;
}

enum o8_rc o8_pki_revoke(const char *dir, const char *network, const char *gateway,
			 size_t *out_ncerts, size_t *out_ntokens, struct o8_err *err)
{
	struct o8_pki_issued who;
	size_t ncerts = 0, ntokens = 0;
	enum o8_rc rc;

	if ((rc = check_identity(network, gateway, err)))
		goto out;
	memset(&who, 0, sizeof(who));
	snprintf(who.network, sizeof(who.network), "%s", network);
	snprintf(who.gateway, sizeof(who.gateway), "%s", gateway);
	rc = revoke_holder(dir, &who, &ncerts, &ntokens, err);
out:
	if (out_ncerts)
		*out_ncerts = ncerts;
	if (out_ntokens)
		*out_ntokens = ntokens;
	return rc;
}

enum o8_rc o8_pki_revoke_operator(const char *dir, const char *name, size_t *out_ncerts,
				  struct o8_err *err)
{
	struct o8_pki_issued who;
	size_t ncerts = 0, ntokens = 0;
	enum o8_rc rc;

	if (!(rc = check_operator(name, err))) {
		memset(&who, 0, sizeof(who));
		snprintf(who.operator_name, sizeof(who.operator_name), "%s", name);
		rc = revoke_holder(dir, &who, &ncerts, &ntokens, err);
	}
	if (out_ncerts)
		*out_ncerts = ncerts;
	return rc;
}

/* --- trust (syncd's side of the handshake) -------------------------------- */

struct o8_pki_trust {
	gnutls_x509_crt_t ca;
	char *ca_path, *crl_path;
	struct stat crl_st;             /* what was loaded, for refresh */
	char **serials;                 /* sorted lowercase hex */
	size_t nserials;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void serials_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Reads a CRL, checks that the CA signed it, and collects its serials. */
static enum o8_rc crl_load(const struct o8_pki_trust *t, char ***out, size_t *nout,
			   struct stat *st, struct o8_err *err)
{
	gnutls_x509_crl_t crl = NULL;
	gnutls_x509_crl_iter_t it = NULL;
	unsigned char serial[64];
	size_t slen, n = 0, cap = 0;
	char **v = NULL, *buf = NULL, hex[2 * sizeof(serial) + 1];
	unsigned status = 0;
	gnutls_datum_t d;
	enum o8_rc rc = O8_OK;
	size_t len;
	time_t when;
	int r;

	*out = NULL;
	*nout = 0;
	if (stat(t->crl_path, st) < 0)
		return sys_err(err, "read", t->crl_path, errno, NULL);
	if ((rc = read_file(t->crl_path, CRL_MAX, &buf, &len, NULL, NULL, err)))
		return rc;
	d.data = (unsigned char *)buf;
	d.size = (unsigned)len;
	if ((r = gnutls_x509_crl_init(&crl)) < 0) {
		free(buf);
		return tls_err(err, "cannot load a CRL", r);
	}
	r = gnutls_x509_crl_import(crl, &d, is_pem(buf, len) ? GNUTLS_X509_FMT_PEM
							     : GNUTLS_X509_FMT_DER);
	free(buf);
	if (r < 0) {
		rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0, "'%s' is not a CRL: %s",
				t->crl_path, gnutls_strerror(r));
		goto out;
	}
	if (!gnutls_x509_crl_check_issuer(crl, t->ca) ||
	    gnutls_x509_crl_verify(crl, &t->ca, 1, 0, &status) < 0 || status) {
		rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				"CRL '%s' is not signed by the CA '%s'", t->crl_path, t->ca_path);
		goto out;
	}
	for (;;) {
		slen = sizeof(serial);
		r = gnutls_x509_crl_iter_crt_serial(crl, &it, serial, &slen, &when);
		if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (r < 0) {
			rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0, "cannot read '%s': %s",
					t->crl_path, gnutls_strerror(r));
			goto out;
		}
		if ((rc = hex_of(serial, slen, hex, sizeof(hex), err)))
			goto out;
		if (n == cap) {
			size_t c2 = cap ? 2 * cap : 16;
			char **v2 = realloc(v, c2 * sizeof(*v2));

			if (!v2) {
				rc = oom(err);
				goto out;
			}
			v = v2;
			cap = c2;
		}
		if (!(v[n] = strdup(hex))) {
			rc = oom(err);
			goto out;
		}
		n++;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_str);
out:
	if (it)
		gnutls_x509_crl_iter_deinit(it);
	gnutls_x509_crl_deinit(crl);
	if (rc) {
		serials_free(v, n);
		return rc;
	}
	*out = v;
	*nout = n;
	return O8_OK;
}

void o8_pki_trust_free(struct o8_pki_trust *t)
{
	if (!t)
		return;
	if (t->ca)
		gnutls_x509_crt_deinit(t->ca);
	serials_free(t->serials, t->nserials);
	free(t->ca_path);
	free(t->crl_path);
	free(t);
}

enum o8_rc o8_pki_trust_load(struct o8_pki_trust **out, const char *ca_pem_path,
			     const char *crl_pem_path, struct o8_err *err)
{
	struct o8_pki_trust *t;
	unsigned crit = 0;
	enum o8_rc rc;

	*out = NULL;
	if (!ca_pem_path || !crl_pem_path)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "both the CA certificate and its CRL are needed");
	if (!(t = calloc(1, sizeof(*t))) || !(t->ca_path = strdup(ca_pem_path)) ||
	    !(t->crl_path = strdup(crl_pem_path))) {
		o8_pki_trust_free(t);
		return oom(err);
	}
	if ((rc = load_crt(ca_pem_path, &t->ca, INIT_HINT, err)))
		goto fail;
	if (gnutls_x509_crt_get_ca_status(t->ca, &crit) <= 0) {
		rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				"'%s' is not a CA certificate", ca_pem_path);
		goto fail;
	}
	if ((rc = crl_load(t, &t->serials, &t->nserials, &t->crl_st, err)))
		goto fail;
	*out = t;
	return O8_OK;
fail:
	o8_pki_trust_free(t);
	return rc;
}

enum o8_rc o8_pki_trust_refresh(struct o8_pki_trust *t, struct o8_err *err)
{
	struct stat st;
	char **v;
	size_t n;
	enum o8_rc rc;

	if (stat(t->crl_path, &st) < 0)
		return sys_err(err, "read", t->crl_path, errno, NULL);
	if (st.st_ino == t->crl_st.st_ino && st.st_dev == t->crl_st.st_dev &&
	    st.st_size == t->crl_st.st_size &&
	    st.st_mtim.tv_sec == t->crl_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == t->crl_st.st_mtim.tv_nsec)
		return O8_OK;
	/* On failure the old list stays: forgetting revocations is never safe. */
	if ((rc = crl_load(t, &v, &n, &st, err)))
		return rc;
	serials_free(t->serials, t->nserials);
	t->serials = v;
	t->nserials = n;
	t->crl_st = st;
	return O8_OK;
}

bool o8_pki_is_revoked(const struct o8_pki_trust *t, const void *serial, size_t len)
{
	char hex[2 * 64 + 1];
	const char *key = hex;
	struct o8_err ignored = O8_ERR_INIT;

	if (!t || len > 64 || hex_of(serial, len, hex, sizeof(hex), &ignored))
		return true;    /* cannot tell: refuse */
	return t->nserials &&
	       bsearch(&key, t->serials, t->nserials, sizeof(*t->serials), cmp_str);
}

static bool has_purpose(gnutls_x509_crt_t crt, const char *oid)
{
	char buf[128];
	unsigned i;

	for (i = 0;; i++) {
		size_t n = sizeof(buf);

		if (gnutls_x509_crt_get_key_purpose_oid(crt, i, buf, &n, NULL) < 0)
			return false;
		if (!strcmp(buf, oid))
			return true;
	}
}

/* True when one of crt's subject OUs is ou. */
static bool has_ou(gnutls_x509_crt_t crt, const char *ou)
{
	char buf[256];
	unsigned i;

	for (i = 0;; i++) {
		size_t n = sizeof(buf);
		int r = gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATIONAL_UNIT_NAME,
						      i, 0, buf, &n);

		if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			return false;
		if (r >= 0 && !strcmp(buf, ou))
			return true;
	}
}

/* The one CN of crt into cn[256]. */
static enum o8_rc single_cn(gnutls_x509_crt_t crt, char cn[256], struct o8_err *err)
{
	char other[256];
	size_t n = 256, extra = sizeof(other);
	int r;

	if ((r = gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0,
					       cn, &n)) < 0)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "certificate has no common name: %s", gnutls_strerror(r));
	/* Two CNs would make "which identity?" a matter of parser taste. */
	if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 1, 0, other,
					  &extra) != GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "certificate has more than one common name");
	return O8_OK;
}

/* The single CN of crt split into network and gateway. */
static enum o8_rc crt_identity(gnutls_x509_crt_t crt, char **network, char **gateway,
			       struct o8_err *err)
{
	char cn[256], net[O8_PKI_NAME_MAX] = "", *slash;
	enum o8_rc rc;

	if ((rc = single_cn(crt, cn, err)))
		return rc;
	slash = strchr(cn, '/');
	if (slash && (size_t)(slash - cn) < sizeof(net))
		memcpy(net, cn, (size_t)(slash - cn));
	if (!slash || !name_ok(net) || !name_ok(slash + 1))
		return o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				  "certificate's common name is not 'network/gateway'");
	if (network && !(*network = strdup(net)))
		return oom(err);
	if (gateway && !(*gateway = strdup(slash + 1))) {
		if (network) {
			free(*network);
			*network = NULL;
		}
		return oom(err);
	}
	return O8_OK;
}

/*
 * What every client certificate must pass, a gateway's ("a gateway") or
 * an operator's ("an operator"): signed by the CA, valid at now, clientAuth,
 * not a CA, not revoked.  *out is the parsed certificate, for the caller's
 * checks of its subject.
 */
static enum o8_rc verify_client(const struct o8_pki_trust *t, const void *cert, size_t len,
				time_t now, const char *kind, gnutls_x509_crt_t *out,
				struct o8_err *err)
{
	gnutls_x509_crt_t crt = NULL;
	unsigned char serial[64];
	size_t slen = sizeof(serial);
	unsigned status = 0, crit = 0;
	char when[32];
	time_t nb, na;
	enum o8_rc rc;
	int r;

	*out = NULL;
	if (!now)
		now = time(NULL);
	if ((rc = import_crt(cert, len, "peer certificate", &crt, err)))
		return rc;
	/* Times are checked below against `now`, so that tests can move the clock. */
	if ((r = gnutls_x509_crt_verify(crt, &t->ca, 1, GNUTLS_VERIFY_DISABLE_TIME_CHECKS,
					&status)) < 0 || status) {
		rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				"peer certificate is not signed by the CA '%s'%s", t->ca_path,
				status & GNUTLS_CERT_SIGNATURE_FAILURE ? " (bad signature)" : "");
		goto out;
	}
	nb = gnutls_x509_crt_get_activation_time(crt);
	na = gnutls_x509_crt_get_expiration_time(crt);
	if (nb == (time_t)-1 || na == (time_t)-1 || now < nb) {
		utc(when, nb);
		rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				"peer certificate is not valid before %s", when);
		goto out;
	}
	if (now >= na) {
		utc(when, na);
		rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				"peer certificate expired at %s", when);
		goto out;
	}
	if (gnutls_x509_crt_get_ca_status(crt, &crit) > 0 ||
	    !has_purpose(crt, GNUTLS_KP_TLS_WWW_CLIENT)) {
		rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				"peer certificate is not %s client certificate", kind);
		goto out;
	}
	if ((r = gnutls_x509_crt_get_serial(crt, serial, &slen)) < 0) {
		rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				"peer certificate has no readable serial: %s", gnutls_strerror(r));
		goto out;
	}
	if (o8_pki_is_revoked(t, serial, slen)) {
		char hex[2 * sizeof(serial) + 1] = "";

		hex_of(serial, slen, hex, sizeof(hex), err);
		rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				"peer certificate %s is revoked", hex);
		goto out;
	}
	*out = crt;
	return O8_OK;
out:
	gnutls_x509_crt_deinit(crt);
	return rc;
}

enum o8_rc o8_pki_trust_verify(const struct o8_pki_trust *t, const void *cert, size_t len,
			       time_t now, char **network, char **gateway,
			       struct o8_err *err)
{
	gnutls_x509_crt_t crt;
	enum o8_rc rc;

	if (network)
		*network = NULL;
	if (gateway)
		*gateway = NULL;
	if ((rc = verify_client(t, cert, len, now, "a gateway", &crt, err)))
		return rc;
	if (has_ou(crt, O8_PKI_OPERATOR_OU))
		rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				"peer certificate is an operator's (OU=" O8_PKI_OPERATOR_OU
				"), not a gateway's");
	else
		rc = crt_identity(crt, network, gateway, err);
	gnutls_x509_crt_deinit(crt);
	return rc;
}

enum o8_rc o8_pki_trust_verify_operator(const struct o8_pki_trust *t, const void *cert,
					size_t len, time_t now, char **name,
					struct o8_err *err)
{
	gnutls_x509_crt_t crt;
	char cn[256];
	enum o8_rc rc;

	if (name)
		*name = NULL;
	if ((rc = verify_client(t, cert, len, now, "an operator", &crt, err)))
		return rc;
	if (!has_ou(crt, O8_PKI_OPERATOR_OU))
		rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				"peer certificate is not an operator's (no OU="
				O8_PKI_OPERATOR_OU ")");
	else if (!(rc = single_cn(crt, cn, err)) && !o8_apitoken_name_ok(cn))
		rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				"peer certificate's common name is not an operator name");
	else if (!rc && name && !(*name = strdup(cn)))
		rc = oom(err);
	gnutls_x509_crt_deinit(crt);
	return rc;
}

enum o8_rc o8_pki_verify_peer(const char *ca_pem_path, const char *crl_pem_path,
			      const void *cert, size_t len, time_t now, char **network,
			      char **gateway, struct o8_err *err)
{
	struct o8_pki_trust *t;
	enum o8_rc rc;

	if ((rc = o8_pki_trust_load(&t, ca_pem_path, crl_pem_path, err)))
		return rc;
	rc = o8_pki_trust_verify(t, cert, len, now, network, gateway, err);
	o8_pki_trust_free(t);
	return rc;
}

/* --- gateway side -------------------------------------------------------- */

/* Loads key_path, or makes it (0600, never replacing a file that appeared meanwhile). */
static enum o8_rc key_load_or_make(const char *key_path, gnutls_x509_privkey_t *out,
				   struct o8_err *err)
{
	enum o8_rc rc = load_key(key_path, out, NULL, err);

	if (rc != O8_ENOTFOUND)
		return rc;
	o8_err_clear(err);
	if ((rc = gen_key(out, err)))
		return rc;
	if ((rc = write_key(key_path, *out, err))) {
		gnutls_x509_privkey_deinit(*out);
		*out = NULL;
	}
	return rc;
}

enum o8_rc o8_pki_make_csr(const char *key_path, const char *identity_hint,
			   char **out_csr_pem, struct o8_err *err)
{
	gnutls_x509_privkey_t key = NULL;
	gnutls_privkey_t signer = NULL;
	gnutls_pubkey_t pub = NULL;
	gnutls_x509_crq_t crq = NULL;
	gnutls_datum_t pem = { NULL, 0 };
	const char *cn = identity_hint && *identity_hint ? identity_hint : "orc8r gateway";
	enum o8_rc rc;
	int r;

	*out_csr_pem = NULL;
	if ((rc = key_load_or_make(key_path, &key, err)) ||
	    (rc = signer_of(key, &signer, err)) || (rc = pubkey_of(signer, &pub, err)))
		goto out;
	if (!pubkey_is_p256(pub)) {
		rc = o8_err_set(err, O8_EINVALID, NULL, 0, 0,
				"private key '%s' is not an ECDSA P-256 key", key_path);
		goto out;
	}
	if ((r = gnutls_x509_crq_init(&crq)) < 0 ||
	    (r = gnutls_x509_crq_set_version(crq, 1)) < 0 ||
	    (r = gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
					       (unsigned)strlen(cn))) < 0 ||
	    (r = gnutls_x509_crq_set_pubkey(crq, pub)) < 0 ||
	    (r = gnutls_x509_crq_privkey_sign(crq, signer, GNUTLS_DIG_SHA256, 0)) < 0 ||
	    (r = gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_PEM, &pem)) < 0) {
		rc = tls_err(err, "cannot make a certificate request", r);
		goto out;
	}
	if (!(*out_csr_pem = strndup((const char *)pem.data, pem.size)))
		rc = oom(err);
out:
	gnutls_free(pem.data);
	if (crq)
		gnutls_x509_crq_deinit(crq);
	if (pub)
		gnutls_pubkey_deinit(pub);
	if (signer)
		gnutls_privkey_deinit(signer);
	if (key)
		gnutls_x509_privkey_deinit(key);
	return rc;
}

enum o8_rc o8_pki_cert_identity(const char *cert_pem, size_t len, char **network,
				char **gateway, time_t *not_before, time_t *not_after,
				struct o8_err *err)
{
	gnutls_x509_crt_t crt;
	enum o8_rc rc;

	if (network)
		*network = NULL;
	if (gateway)
		*gateway = NULL;
	if ((rc = import_crt(cert_pem, len, "certificate", &crt, err)))
		return rc;
	if (not_before)
		*not_before = gnutls_x509_crt_get_activation_time(crt);
	if (not_after)
		*not_after = gnutls_x509_crt_get_expiration_time(crt);
	rc = crt_identity(crt, network, gateway, err);
	gnutls_x509_crt_deinit(crt);
	return rc;
}

time_t o8_pki_renew_at(time_t not_before, time_t not_after)
{
	if (not_after <= not_before)
		return not_before;
	return not_before + (not_after - not_before) / 3 * 2 +
	       (not_after - not_before) % 3 * 2 / 3;
}
