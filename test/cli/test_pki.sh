#!/bin/sh
# test_pki.sh ORC8R - `orc8r pki`: init makes a CA and a server certificate
# that GnuTLS's own certtool accepts (chain, SANs, purpose, CRL), with 0600
# keys, and never replaces a CA; enroll-token prints a one-time token once
# and stores only its hash; revoke and list work on the directory;
# api-token prints an API token once and stores only its SHA-256; usage
# errors exit 64 and failures 1 with the file named.
# Needs certtool (Debian: gnutls-bin, in scripts/deps.sh): fails without it.
set -eu

O8=${1:?usage: test_pki.sh PATH-TO-ORC8R}
command -v certtool >/dev/null || { echo "FAIL: certtool (gnutls-bin) is not installed: run scripts/deps.sh"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_exit CODE CMD...: runs CMD, output in $T/out and $T/err.
expect_exit() {
	want=$1
	shift
	st=0
	"$@" >"$T/out" 2>"$T/err" || st=$?
	[ "$st" -eq "$want" ] || fail "'$*' exited $st, expected $want: $(cat "$T/err")"
}

mode() { stat -c %a "$1"; }

mkdir -p "$T/repo/.orc8r"
P=$T/repo/.orc8r/pki

# 1. init under -C: default directory, modes, files.
expect_exit 0 "$O8" -C "$T/repo" pki init --host syncd.example.org --host 192.0.2.10 --host 2001:db8::1
grep -q "created a CA in $T/repo/.orc8r/pki/" "$T/out" || fail "init did not say where: $(cat "$T/out")"
[ "$(mode "$P")" = 700 ] || fail "PKI dir is $(mode "$P"), expected 700"
for f in ca.key server.key serial issued revoked; do
	[ "$(mode "$P/$f")" = 600 ] || fail "$f is $(mode "$P/$f"), expected 600"
done
[ "$(mode "$P/tokens")" = 700 ] || fail "tokens/ is $(mode "$P/tokens"), expected 700"
for f in ca.crt server.crt crl.pem .gitignore; do [ -s "$P/$f" ] || fail "no $f"; done
[ ! -s "$P/revoked" ] || fail "revoked is not empty after init"
git -C "$T/repo" init -q 2>/dev/null && {
	[ -z "$(git -C "$T/repo" status --porcelain --untracked-files=all .orc8r/pki)" ] ||
		fail "git would pick up the PKI: $(git -C "$T/repo" status --porcelain --untracked-files=all)"
}

# 2. certtool agrees: the CA, the chain, the SANs, serverAuth, the CRL.
certtool --certificate-info --infile "$P/ca.crt" >"$T/ca.txt"
grep -q 'Subject: CN=orc8r CA' "$T/ca.txt" || fail "CA subject: $(grep Subject: "$T/ca.txt")"
grep -q 'Certificate Authority (CA): TRUE' "$T/ca.txt" || fail "CA is not a CA"
grep -q 'Certificate signing' "$T/ca.txt" || fail "CA cannot sign certificates"
grep -q 'CRL signing' "$T/ca.txt" || fail "CA cannot sign CRLs"
grep -q 'SECP256R1' "$T/ca.txt" || fail "CA key is not P-256"
certtool --certificate-info --infile "$P/server.crt" >"$T/srv.txt"
grep -q 'DNSname: syncd.example.org' "$T/srv.txt" || fail "no DNS SAN: $(cat "$T/srv.txt")"
grep -q 'IPAddress: 192.0.2.10' "$T/srv.txt" || fail "no IPv4 SAN"
grep -q 'IPAddress: 2001:db8::1' "$T/srv.txt" || fail "no IPv6 SAN"
grep -q 'TLS WWW Server' "$T/srv.txt" || fail "server certificate lacks serverAuth"
grep -q 'Certificate Authority (CA): FALSE' "$T/srv.txt" || fail "server certificate is a CA"
for h in syncd.example.org 192.0.2.10; do
	certtool --verify --load-ca-certificate "$P/ca.crt" --verify-hostname "$h" \
		--verify-purpose 1.3.6.1.5.5.7.3.1 --infile "$P/server.crt" >"$T/v" 2>&1 ||
		fail "certtool does not verify server.crt for $h: $(cat "$T/v")"
done
if certtool --verify --load-ca-certificate "$P/ca.crt" --verify-hostname evil.example.org \
	--infile "$P/server.crt" >/dev/null 2>&1; then
	fail "server.crt verifies for a host it was not made for"
fi
certtool --verify-crl --load-ca-certificate "$P/ca.crt" --infile "$P/crl.pem" >"$T/v" 2>&1 ||
	fail "certtool does not verify crl.pem: $(cat "$T/v")"

# 3. A second init never replaces the CA, with or without -C.
sum=$(sha256sum "$P/ca.key")
expect_exit 1 "$O8" -C "$T/repo" pki init --host syncd.example.org
grep -q "ca.key' already exists" "$T/err" || fail "refusal does not name ca.key: $(cat "$T/err")"
expect_exit 1 "$O8" pki init "$P" --host syncd.example.org
[ "$(sha256sum "$P/ca.key")" = "$sum" ] || fail "a refused init changed ca.key"

# 4. enroll-token: one line on stdout, the expiry on stderr, only a hash on disk.
expect_exit 0 "$O8" -C "$T/repo" pki enroll-token lab/agw-1 --ttl 2h
[ "$(wc -l <"$T/out")" -eq 1 ] || fail "enroll-token printed more than the token"
tok=$(cat "$T/out")
echo "$tok" | grep -Eq '^o8e1\.[0-9a-f]{16}\.[0-9a-f]{64}$' || fail "token has the wrong shape"
grep -q 'lab/agw-1' "$T/err" && grep -q 'valid for 2h (until 20' "$T/err" ||
	fail "no expiry on stderr: $(cat "$T/err")"
grep -q "$tok" "$T/err" && fail "the token went to stderr"
id=$(echo "$tok" | cut -d. -f2)
secret=$(echo "$tok" | cut -d. -f3)
[ "$(mode "$P/tokens/$id.json")" = 600 ] || fail "token file is not 0600"
grep -q '"gateway": "agw-1"' "$P/tokens/$id.json" || fail "token file lacks the gateway"
if grep -rqi "$secret" "$P"; then fail "the token's secret is stored in clear"; fi
expect_exit 0 "$O8" pki enroll-token lab/agw-2 --dir "$P"
tok2=$(cat "$T/out")
[ "$tok" != "$tok2" ] || fail "two tokens are equal"

# 5. list: nothing issued yet (issuing is syncd's job; see test_pki.c).
expect_exit 0 "$O8" -C "$T/repo" pki list
grep -q 'no certificates issued yet' "$T/out" || fail "list: $(cat "$T/out")"
expect_exit 0 "$O8" -C "$T/repo" pki list -o json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(d["certificates"] != [])' \
	"$T/out" || fail "list -o json: $(cat "$T/out")"

# 6. revoke deletes the gateway's unused token, leaves the other's, re-signs the CRL.
expect_exit 0 "$O8" -C "$T/repo" pki revoke lab/agw-1
grep -q '0 certificates added to .*crl.pem, 1 unused token deleted' "$T/out" ||
	fail "revoke: $(cat "$T/out")"
[ ! -e "$P/tokens/$id.json" ] || fail "revoke left agw-1's token"
[ -e "$P/tokens/$(echo "$tok2" | cut -d. -f2).json" ] || fail "revoke deleted agw-2's token"
certtool --verify-crl --load-ca-certificate "$P/ca.crt" --infile "$P/crl.pem" >/dev/null 2>&1 ||
	fail "re-signed crl.pem does not verify"
expect_exit 1 "$O8" -C "$T/repo" pki revoke lab/agw-1
grep -q 'nothing to revoke' "$T/err" || fail "second revoke: $(cat "$T/err")"

# 7. No CA: a failure naming the file and the fix, never a fallback.
mkdir "$T/empty"
expect_exit 1 "$O8" -C "$T/empty" pki enroll-token lab/agw-1
grep -q "cannot read '$T/empty/.orc8r/pki/ca.crt': no such file or directory; run 'orc8r pki init' first" \
	"$T/err" || fail "missing CA message: $(cat "$T/err")"
[ ! -s "$T/out" ] || fail "a token was printed without a CA"
expect_exit 1 "$O8" -C "$T/empty" pki list

# 8. Usage errors exit 64; --help exits 0 and shows an example.
expect_exit 64 "$O8" pki
expect_exit 64 "$O8" pki frobnicate
expect_exit 64 "$O8" pki init "$T/x"
expect_exit 64 "$O8" pki init "$T/x" --host 'not a host'
expect_exit 64 "$O8" pki init "$T/x" --host h --days 0
[ ! -e "$T/x" ] || fail "a refused init created its directory"
expect_exit 64 "$O8" pki enroll-token
expect_exit 64 "$O8" pki enroll-token lab
expect_exit 64 "$O8" pki enroll-token lab/Agw_1
expect_exit 64 "$O8" pki enroll-token lab/agw-1 --ttl 31d
expect_exit 64 "$O8" pki enroll-token lab/agw-1 --ttl 5x
expect_exit 64 "$O8" pki enroll-token lab/agw-1 lab/agw-2
expect_exit 64 "$O8" pki revoke
expect_exit 64 "$O8" pki list -o yaml
for c in init enroll-token revoke list api-token; do
	expect_exit 0 "$O8" pki "$c" --help
	grep -q "orc8r pki $c" "$T/out" || fail "'pki $c --help' has no example"
done
expect_exit 0 "$O8" pki --help
grep -q 'enroll-token' "$T/out" || fail "'pki --help' does not list enroll-token"

# 9. api-token: the token once on stdout, a note on stderr, a 0600 line
#    "ROLE NAME SHA256" in api-tokens and never the token itself.
expect_exit 0 "$O8" -C "$T/repo" pki api-token ci --role write
[ "$(wc -l <"$T/out")" -eq 1 ] || fail "api-token printed more than the token"
atok=$(cat "$T/out")
echo "$atok" | grep -Eq '^o8a1\.[0-9a-f]{64}$' || fail "api token has the wrong shape"
grep -q 'shown this once' "$T/err" || fail "api-token does not say it is shown once: $(cat "$T/err")"
grep -q "$atok" "$T/err" && fail "the api token went to stderr"
[ "$(mode "$P/api-tokens")" = 600 ] || fail "api-tokens is $(mode "$P/api-tokens"), expected 600"
hash=$(printf %s "$atok" | sha256sum | cut -d' ' -f1)
grep -qx "write ci $hash" "$P/api-tokens" || fail "no 'write ci SHA256' line: $(cat "$P/api-tokens")"
if grep -q "${atok#o8a1.}" "$P/api-tokens"; then fail "the api token is stored in clear"; fi
expect_exit 0 "$O8" pki api-token grafana --dir "$P"
grep -Eqx 'read grafana [0-9a-f]{64}' "$P/api-tokens" || fail "the default role is not read"
[ "$(wc -l <"$P/api-tokens")" -eq 2 ] || fail "api-tokens: $(cat "$P/api-tokens")"
expect_exit 1 "$O8" pki api-token ci --dir "$P"
grep -q "already has a token named 'ci'" "$T/err" || fail "reused name: $(cat "$T/err")"
[ ! -s "$T/out" ] || fail "a refused api-token printed a token"
expect_exit 1 "$O8" -C "$T/empty" pki api-token ci
grep -q "run 'orc8r pki init' first" "$T/err" || fail "api-token without a PKI: $(cat "$T/err")"
expect_exit 64 "$O8" pki api-token
expect_exit 64 "$O8" pki api-token 'a b'
expect_exit 64 "$O8" pki api-token x y
expect_exit 64 "$O8" pki api-token x --role admin

echo "ok: pki"
