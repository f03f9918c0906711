#!/bin/sh
# test_init.sh ORC8R - `orc8r init` writes a complete repository that
# validates, with fresh random keys, and never changes existing files.
set -eu

O8=${1:?usage: test_init.sh PATH-TO-ORC8R}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# A listing of every file with its size, mode and content hash, to prove
# that a refused init touched nothing.
snapshot() {
	(cd "$1" && find . -type f -exec sha256sum {} + | sort &&
	 find . -printf '%p %s %m %T@\n' | sort)
}

files=".orc8r/config.yaml .gitignore README.md
networks/lab/network.yaml networks/lab/tiers.yaml networks/lab/apns.yaml
networks/lab/policies.yaml networks/lab/gateways.yaml networks/lab/enodebs.yaml
networks/lab/subscribers/test-sims.yaml"

# 1. A fresh directory (created by init, with a missing parent).
"$O8" init "$T/a/repo" >"$T/out" 2>"$T/err" || fail "init exited $?: $(cat "$T/err")"
for f in $files; do
	[ -s "$T/a/repo/$f" ] || fail "init did not write $f"
	grep -q "$f" "$T/out" || fail "init did not list $f in its output"
done
grep -q 'git init && orc8r validate' "$T/out" || fail "no next steps printed"
[ "$(find "$T/a/repo" -type f | wc -l)" -eq 10 ] || fail "unexpected extra files"
if grep -rn '@[A-Z0-9]*@' "$T/a/repo"; then fail "a template placeholder was left"; fi
[ "$(stat -c %a "$T/a/repo/README.md")" = 644 ] || fail "files should be 0644 (umask 022)"
n=$(grep -c '^    - imsi: "00101[0-9]\{10\}"$' "$T/a/repo/networks/lab/subscribers/test-sims.yaml")
[ "$n" -eq 10 ] || fail "expected 10 SIMs with 15-digit IMSIs, got $n"
n=$(grep -c '^      ki: "[0-9a-f]\{32\}"$' "$T/a/repo/networks/lab/subscribers/test-sims.yaml")
[ "$n" -eq 10 ] || fail "expected 10 32-hex-digit Ki, got $n"
n=$(grep -c 'hardwareId: [0-9a-f]\{8\}-[0-9a-f]\{4\}-4[0-9a-f]\{3\}-[89ab][0-9a-f]\{3\}-[0-9a-f]\{12\}$' \
	"$T/a/repo/networks/lab/gateways.yaml")
[ "$n" -eq 2 ] || fail "expected 2 random v4 UUID hardwareIds, got $n"

# 2. The scaffold is valid, with the counts the README promises.
"$O8" -C "$T/a/repo" validate >"$T/v" 2>&1 || fail "validate exited $? on the scaffold: $(cat "$T/v")"
"$O8" -C "$T/a/repo" validate -o json >"$T/v.json" || fail "validate -o json exited $?"
python3 - "$T/v.json" <<'PY' || fail "wrong validate counts: $(cat "$T/v.json")"
import json, sys
d = json.load(open(sys.argv[1]))
c = d["counts"]
want = {"Network": 1, "Gateway": 2, "ENodeB": 2, "APN": 2, "Tier": 1,
        "PolicyRule": 1, "SubscriberSet": 1, "subscribers": 10}
bad = {k: c.get(k) for k in want if c.get(k) != want[k]}
sys.exit(1 if bad or d["valid"] is not True or d["errors"] else 0)
PY

# 3. A second init, with or without --force, fails and changes nothing.
snapshot "$T/a/repo" >"$T/before"
if "$O8" init "$T/a/repo" >/dev/null 2>"$T/err"; then fail "init into a non-empty dir succeeded"; fi
grep -q 'not empty' "$T/err" || fail "no 'not empty' message: $(cat "$T/err")"
if "$O8" init --force "$T/a/repo" >/dev/null 2>"$T/err"; then fail "init --force overwrote files"; fi
grep -q "README.md' already exists" "$T/err" || fail "conflict not named: $(cat "$T/err")"
snapshot "$T/a/repo" >"$T/after"
cmp -s "$T/before" "$T/after" || fail "a refused init changed files: $(diff "$T/before" "$T/after")"

# 4. Keys and ids are fresh each time, and -C, --network, --mcc, --mnc apply.
mkdir "$T/b"
echo keep >"$T/b/notes.txt"
"$O8" -C "$T/b" init --force --network berlin --mcc 262 --mnc 001 >/dev/null ||
	fail "init --force into a dir with an unrelated file failed"
[ "$(cat "$T/b/notes.txt")" = keep ] || fail "init --force changed an unrelated file"
s="$T/b/networks/berlin/subscribers/test-sims.yaml"
grep -q '^    - imsi: "262001000000001"$' "$s" || fail "--mcc/--mnc not used in IMSIs"
grep -q 'mnc: "001"' "$T/b/networks/berlin/network.yaml" || fail "--mnc not in network.yaml"
k1=$(grep -m1 'ki:' "$T/a/repo/networks/lab/subscribers/test-sims.yaml")
k2=$(grep -m1 'ki:' "$s")
[ "$k1" != "$k2" ] || fail "two inits wrote the same Ki"
"$O8" -C "$T/b" validate >"$T/v" 2>&1 || fail "validate exited $? on --network berlin: $(cat "$T/v")"

# 5. Bad options are usage errors and write nothing.
st=0
"$O8" init --network Bad_Name "$T/c" 2>/dev/null || st=$?
[ "$st" -eq 64 ] || fail "bad --network exited $st, expected 64"
[ ! -e "$T/c" ] || fail "a refused init created its directory"

echo "ok: init scaffold"
