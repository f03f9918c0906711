#!/usr/bin/env python3
"""orc8r status, diff and apply --wait against a fake syncd (fake_syncd.py).

usage: test_syncd_client.py ORC8R CASE
       (CASE: status diff config tls apply-wait)

Each case starts its own fake syncd on 127.0.0.1 (a free port, plain http,
which the client allows only to this machine), runs the built orc8r with a
hermetic environment and checks exit codes, output and the requests the
server saw.  No output may ever hold the token.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_syncd import FakeSyncd, gateway, status  # noqa: E402

ORC8R = None
TOKEN = "o8t-SeCrEt-0123456789abcdef"
WRONG = "o8t-WrOnG-fedcba9876543210"
C_OLD = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
C_NEW = "3f2a9c1b4d5e6f708192a3b4c5d6e7f801234567"
TIMEOUT = 60
failures = 0


def check(cond, what, detail=""):
    global failures
    if cond:
        print("ok   " + what)
    else:
        failures += 1
        print("FAIL " + what + ("\n" + detail if detail else ""))
    return cond


class Run:
    def __init__(self, rc, out, err, secs):
        self.rc, self.out, self.err, self.secs = rc, out, err, secs

    def __str__(self):
        return "exit %d\n--- stdout\n%s--- stderr\n%s" % (self.rc, self.out, self.err)


def orc8r(args, home, env=None, cwd=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("ORC8R_")}
    e.update(HOME=home, XDG_CONFIG_HOME=home, GIT_CONFIG_NOSYSTEM="1", NO_COLOR="1",
             LC_ALL="C")
    e.update(env or {})
    t0 = time.monotonic()
    p = subprocess.run([ORC8R] + args, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, env=e, cwd=cwd or home, timeout=TIMEOUT)
    r = Run(p.returncode, p.stdout, p.stderr, time.monotonic() - t0)
    check(TOKEN not in r.out + r.err and WRONG not in r.out + r.err,
          "no output holds the token (%s)" % " ".join(args[:2]), str(r))
    return r


def put(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mixed_status():
    return status(C_NEW, [
        gateway("lab", "agw01", C_NEW, C_NEW, "in-sync", "2026-11-25T11:59:48Z"),
        gateway("lab", "agw02", C_NEW, C_OLD, "pending", "2026-11-25T11:57:00Z"),
        gateway("prod", "agw01", C_NEW, None, "offline", None, "nack version 5: hook exited 1"),
    ])


def in_sync_status():
    return status(C_NEW, [gateway("lab", "agw01", C_NEW, C_NEW, "in-sync",
                                  "2026-11-25T11:59:48Z")])


# --- status -------------------------------------------------------------------

def case_status(tmp):
    tok = os.path.join(tmp, "token")
    put(tok, TOKEN + "\n", 0o600)
    answers = {"mixed": mixed_status(), "sync": in_sync_status()}
    which = ["mixed"]
    with FakeSyncd(TOKEN, lambda n, _r: (200, answers[which[0]])) as s:
        base = ["status", "--server", s.url, "--token-file", tok]
        r = orc8r(base, tmp)
        check(r.rc == 0, "status: exit 0 whatever the states", str(r))
        check("3 gateways: 1 in-sync, 1 pending, 1 offline\n" in r.out,
              "status: summary line counts only non-zero states", str(r))
        lines = r.out.splitlines()
        check(lines and lines[0].split() == ["NETWORK", "NAME", "DESIRED", "APPLIED",
                                             "STATE", "LAST-SEEN"], "status: table heading", str(r))
        check(any(x.split()[:5] == ["lab", "agw02", C_NEW[:12], C_OLD[:12], "pending"]
                  for x in lines), "status: commits shortened to 12 hex", str(r))
        check(any(x.split() == ["prod", "agw01", C_NEW[:12], "-", "offline", "never"]
                  for x in lines), "status: never seen, nothing applied", str(r))
        check("prod/agw01: nack version 5: hook exited 1" in r.out,
              "status: a gateway's last error is shown", str(r))
        check(s.auth_seen[-1] == "Bearer " + TOKEN, "status: bearer token sent")

        r = orc8r(base + ["--check"], tmp)
        check(r.rc == 5, "status --check: exit 5 when not all in sync", str(r))
        which[0] = "sync"
        r = orc8r(base + ["--check"], tmp)
        check(r.rc == 0, "status --check: exit 0 when all in sync", str(r))
        check("1 gateway: 1 in-sync\n" in r.out, "status: singular summary", str(r))

        r = orc8r(base + ["-o", "json", "--network", "lab 1/x"], tmp)
        check(r.rc == 0 and json.loads(r.out) == answers["sync"],
              "status -o json: syncd's answer as is", str(r))
        check(r.out == json.dumps(answers["sync"], indent=2, sort_keys=True) + "\n",
              "status -o json: pretty, sorted keys", str(r))
        check(s.log[-1] == ("GET", "/v1/status?network=lab%201%2Fx"),
              "status --network: escaped query parameter", repr(s.log[-1]))

        r = orc8r(["status", "--server", s.url], tmp)
        check(r.rc == 1 and "syncd wants a token" in r.err and "--token-file" in r.err,
              "status without a token: says how to give one", str(r))
        r = orc8r(["status", "--server", s.url], tmp, env={"ORC8R_TOKEN": WRONG})
        check(r.rc == 1 and "syncd refused the token (unknown token)" in r.err
              and "ORC8R_TOKEN" in r.err, "status with a wrong token: exit 1, clear message", str(r))
        r = orc8r(["status"], tmp, env={"ORC8R_TOKEN": TOKEN, "ORC8R_SERVER": s.url})
        check(r.rc == 0, "status: server and token from the environment", str(r))
        r = orc8r(["status", "--token-file", tok], tmp,
                  env={"ORC8R_TOKEN": WRONG, "ORC8R_SERVER": s.url})
        check(r.rc == 0, "status: --token-file beats ORC8R_TOKEN", str(r))

    with FakeSyncd(TOKEN, lambda n, _r: (503, {"error": "no commit compiled yet"})) as s:
        r = orc8r(["status", "--server", s.url, "--token-file", tok], tmp)
        check(r.rc == 1 and "syncd is not ready (no commit compiled yet)" in r.err,
              "status: syncd's error text is quoted", str(r))
    with FakeSyncd(TOKEN, lambda n, _r: (200, {"padding": "x" * (65 << 20)})) as s:
        r = orc8r(["status", "--server", s.url, "--token-file", tok], tmp)
        check(r.rc == 1 and "larger than 64 MiB" in r.err, "status: answers are capped", str(r))
    with FakeSyncd(TOKEN, lambda n, _r: (200, {"nonsense": "[" + TOKEN})) as s:
        r = orc8r(["status", "--server", s.url, "--token-file", tok], tmp)
        check(r.rc == 0, "status: an odd answer still renders", str(r))

    url = "http://127.0.0.1:%d" % free_port()
    r = orc8r(["status", "--server", url, "--token-file", tok], tmp)
    check(r.rc == 1 and ("cannot reach syncd at %s:" % url) in r.err,
          "status: connection refused names the server", str(r))
    r = orc8r(["status", "--server", "http://syncd.example:7445", "--token-file", tok], tmp)
    check(r.rc == 1 and "use https" in r.err, "status: plain http only to this machine", str(r))
    r = orc8r(["status", "--token-file", tok], tmp)
    check(r.rc == 1 and "where is syncd?" in r.err, "status: no server anywhere", str(r))


# --- diff ---------------------------------------------------------------------

DIFF_EXACT = {"network": "lab", "name": "agw01", "desired_version": 7, "applied_version": 6,
              "exact": True,
              "upserts": [{"kind": "Subscriber", "key": "001010000000001",
                           "name": "IMSI001010000000001"},
                          {"kind": "APN", "key": "voice"}],
              "deletes": [{"kind": "APN", "key": "old"}],
              "kinds_differing": ["APN", "Subscriber"]}
DIFF_KINDS = {"network": "lab", "name": "agw02", "desired_version": 7, "applied_version": 7,
              "exact": False, "upserts": [], "deletes": [],
              "kinds_differing": ["Subscriber", "APN"]}
DIFF_NONE = {"network": "prod", "name": "agw09", "desired_version": 7, "applied_version": 7,
             "exact": True, "upserts": [], "deletes": [], "kinds_differing": []}

WANT_EXACT = """# gateway lab/agw01: version 6 applied, version 7 desired
  + Subscriber IMSI001010000000001
  + APN voice
  - APN old

Diff: 2 to upsert, 1 to delete.
"""
WANT_KINDS = """# gateway lab/agw02: version 7 applied, version 7 desired
  syncd knows only which kinds differ: Subscriber, APN

Diff: 2 kinds differ.
"""
WANT_NONE = """# gateway prod/agw09: version 7 applied, version 7 desired

No differences: the gateway has its desired configuration.
"""


def case_diff(tmp):
    tok = os.path.join(tmp, "token")
    put(tok, TOKEN, 0o600)
    st = status(C_NEW, [gateway("lab", "agw01", C_NEW, C_OLD, "pending"),
                        gateway("lab", "agw02", C_NEW, C_NEW, "drifted"),
                        gateway("prod", "agw01", C_NEW, C_NEW, "in-sync"),
                        gateway("prod", "agw09", C_NEW, C_NEW, "in-sync")])
    diffs = {("lab", "agw01"): DIFF_EXACT, ("lab", "agw02"): DIFF_KINDS,
             ("prod", "agw09"): DIFF_NONE}
    with FakeSyncd(TOKEN, lambda n, _r: (200, st), diffs) as s:
        base = ["--server", s.url, "--token-file", tok]
        r = orc8r(["diff", "lab/agw01"] + base, tmp)
        check(r.rc == 2 and r.out == WANT_EXACT, "diff: records like the plan, exit 2", str(r))
        check(s.log[-1] == ("GET", "/v1/gateways/lab/agw01/diff"), "diff: the API path",
              repr(s.log))
        r = orc8r(["diff", "agw02"] + base, tmp)
        check(r.rc == 2 and r.out == WANT_KINDS,
              "diff NAME: unique name resolved; inexact diff names the kinds", str(r))
        r = orc8r(["diff", "agw09"] + base, tmp)
        check(r.rc == 0 and r.out == WANT_NONE, "diff: nothing differs, exit 0", str(r))
        r = orc8r(["diff", "lab/agw01", "-o", "json"] + base, tmp)
        check(r.rc == 2 and json.loads(r.out) == DIFF_EXACT, "diff -o json: as is, exit 2", str(r))
        r = orc8r(["diff", "agw01"] + base, tmp)
        check(r.rc == 1 and "2 networks have a gateway 'agw01'" in r.err,
              "diff: an ambiguous name asks for NETWORK/NAME", str(r))
        r = orc8r(["diff", "lab/agw77"] + base, tmp)
        check(r.rc == 1 and "syncd knows no gateway 'lab/agw77'" in r.err,
              "diff: an unknown gateway (404)", str(r))
        r = orc8r(["diff", "agw77"] + base, tmp)
        check(r.rc == 1 and "syncd knows no gateway 'agw77'" in r.err,
              "diff: an unknown name", str(r))
        r = orc8r(["diff"] + base, tmp)
        check(r.rc == 64, "diff without GW: usage error", str(r))
        r = orc8r(["diff", "lab/agw01", "--server", s.url], tmp, env={"ORC8R_TOKEN": WRONG})
        check(r.rc == 1 and "syncd refused the token" in r.err, "diff: wrong token", str(r))


# --- .orc8r/config.yaml -------------------------------------------------------

def case_config(tmp):
    repo = os.path.join(tmp, "repo")
    os.makedirs(os.path.join(repo, "sub"))
    subprocess.run(["git", "init", "-q", repo], check=True)
    put(os.path.join(repo, "secrets", "token"), TOKEN + "\n", 0o600)
    cfg = os.path.join(repo, ".orc8r", "config.yaml")
    with FakeSyncd(TOKEN, lambda n, _r: (200, in_sync_status())) as s:
        put(cfg, "apiVersion: orc8r/v1\nkind: RepoConfig\nserver: %s\n"
                 "token_file: secrets/token\nfuture_setting: 1\n" % s.url)
        r = orc8r(["-C", repo, "status"], tmp)
        check(r.rc == 0 and "1 gateway: 1 in-sync" in r.out,
              "config: server and token_file (relative to the root) from the file", str(r))
        r = orc8r(["status"], tmp, cwd=os.path.join(repo, "sub"))
        check(r.rc == 0, "config: found from a subdirectory of the repository", str(r))
        dead = "http://127.0.0.1:%d" % free_port()
        r = orc8r(["-C", repo, "status"], tmp, env={"ORC8R_SERVER": dead})
        check(r.rc == 1 and dead in r.err, "config: ORC8R_SERVER beats the file", str(r))
        r = orc8r(["-C", repo, "status", "--server", s.url], tmp, env={"ORC8R_SERVER": dead})
        check(r.rc == 0, "config: --server beats ORC8R_SERVER", str(r))

        put(cfg, "server: %s\ntoken_file: nowhere/token\n" % s.url)
        r = orc8r(["-C", repo, "status"], tmp)
        check(r.rc == 1 and ".orc8r/config.yaml:2:13: cannot use the token file" in r.err,
              "config: a missing token file is pointed at", str(r))
        r = orc8r(["-C", repo, "status"], tmp, env={"ORC8R_TOKEN": TOKEN})
        check(r.rc == 0, "config: ORC8R_TOKEN replaces the file's credential", str(r))

    bad = [
        ("server: [a, b]\n", ".orc8r/config.yaml:1:9: 'server' must be a non-empty string"),
        ("server: https://x\ntokenFile: t\n",
         ".orc8r/config.yaml:2:1: unknown key 'tokenFile' (did you mean 'token_file'?)"),
        ("server: https://x\n  bad: [\n", ".orc8r/config.yaml:2:"),
        ("- server\n", ".orc8r/config.yaml:1:1: expected a map of settings"),
        ("server: ftp://x\n", ".orc8r/config.yaml:1:9: bad syncd server"),
        ("server: https://x\ntoken_file: a\ncert: b\n",
         ".orc8r/config.yaml:3:7: give either 'token_file' or 'cert', not both"),
    ]
    for text, want in bad:
        put(cfg, text)
        r = orc8r(["-C", repo, "status"], tmp)
        check(r.rc == 1 and ("orc8r: " + want) in r.err, "config error: %s" % want, str(r))
    r = orc8r(["status", "--server", "https://x", "--token-file", "a", "--cert", "b"], tmp)
    check(r.rc == 1 and "not both" in r.err, "options: a token and a certificate conflict", str(r))


# --- https ---------------------------------------------------------------------

CLIENT_TEMPLATE = """cn = "operator"
tls_www_client
signing_key
expiration_days = 1
"""


def case_tls(tmp):
    """Over https with certificates from `orc8r pki init` (TLS 1.3 only, as
    syncd): the CA file is what makes the server trusted; a client
    certificate from the same CA replaces the token."""
    tok = os.path.join(tmp, "token")
    put(tok, TOKEN, 0o600)
    pki = os.path.join(tmp, "pki")
    r = orc8r(["pki", "init", pki, "--host", "127.0.0.1"], tmp)
    assert r.rc == 0, str(r)
    ca = os.path.join(pki, "ca.crt")
    tls = (os.path.join(pki, "server.crt"), os.path.join(pki, "server.key"), ca)
    with FakeSyncd(TOKEN, lambda n, _r: (200, in_sync_status()), tls=tls) as s:
        r = orc8r(["status", "--server", s.url, "--ca", ca, "--token-file", tok], tmp)
        check(r.rc == 0 and "1 gateway: 1 in-sync" in r.out, "https: trusted through --ca", str(r))
        r = orc8r(["status", "--server", s.url, "--token-file", tok], tmp,
                  env={"SSL_CERT_FILE": "/nonexistent", "CURL_CA_BUNDLE": "/nonexistent"})
        check(r.rc == 1 and ("cannot reach syncd at %s" % s.url) in r.err,
              "https: an unknown CA is refused", str(r))
        r = orc8r(["status", "--server", s.url, "--ca", "/etc/hostname", "--token-file", tok], tmp)
        check(r.rc == 1 and "cannot reach syncd" in r.err, "https: a wrong CA file is refused",
              str(r))
        r = orc8r(["status", "--server", s.url], tmp, env={"ORC8R_CA": ca, "ORC8R_TOKEN": TOKEN})
        check(r.rc == 0, "https: ORC8R_CA", str(r))

        if shutil.which("certtool") is None:
            print("skip client certificate: no certtool")
            return
        key, crt, tpl = (os.path.join(tmp, n) for n in ("client.key", "client.crt", "tpl"))
        put(tpl, CLIENT_TEMPLATE)
        for args in (["--generate-privkey", "--key-type", "ecdsa", "--outfile", key],
                     ["--generate-certificate", "--load-privkey", key,
                      "--load-ca-certificate", ca, "--load-ca-privkey",
                      os.path.join(pki, "ca.key"), "--template", tpl, "--outfile", crt]):
            subprocess.run(["certtool"] + args, check=True, capture_output=True)
        r = orc8r(["status", "--server", s.url, "--ca", ca, "--cert", crt, "--key", key], tmp)
        check(r.rc == 0 and s.auth_seen[-1] is None,
              "https: a client certificate instead of a token", str(r))
        r = orc8r(["status", "--server", s.url, "--ca", ca], tmp)
        check(r.rc == 1 and "syncd wants a token" in r.err, "https: neither token nor cert", str(r))


# --- apply --wait ---------------------------------------------------------------

class Repo:
    """A repository made by orc8r init, pushed to a bare remote."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.remote = os.path.join(tmp, "remote.git")
        self.path = os.path.join(tmp, "repo")
        self.priority = 15
        self.env = dict(os.environ, HOME=tmp, GIT_CONFIG_NOSYSTEM="1")
        self.git("init", "-q", "--bare", "-b", "main", self.remote, cwd=tmp)
        r = orc8r(["init", self.path], tmp)
        assert r.rc == 0, str(r)
        for args in (["init", "-q", "-b", "main"], ["config", "user.name", "Op"],
                     ["config", "user.email", "op@example.org"], ["add", "-A"],
                     ["commit", "-q", "-m", "init"],
                     ["remote", "add", "origin", "file://" + self.remote],
                     ["push", "-q", "-u", "origin", "main"]):
            self.git(*args)

    def git(self, *args, cwd=None):
        p = subprocess.run(["git"] + list(args), cwd=cwd or self.path, env=self.env,
                           capture_output=True, text=True, timeout=TIMEOUT)
        assert p.returncode == 0, "git %s: %s" % (" ".join(args), p.stderr)
        return p.stdout.strip()

    def remote_head(self):
        return self.git("--git-dir", self.remote, "rev-parse", "main", cwd=self.tmp)

    def change(self):
        """Edits an APN so that apply has something to commit."""
        path = os.path.join(self.path, "networks", "lab", "apns.yaml")
        with open(path) as f:
            text = f.read()
        new = self.priority - 1
        text = text.replace("priority: %d\n" % self.priority, "priority: %d\n" % new, 1)
        self.priority = new
        with open(path, "w") as f:
            f.write(text)


def rollout(repo, old, steps, failed=None, rejected=False, fetch=True):
    """A status script: syncd fetches the remote's head once refreshed (or
    on its own), then lab/agw01 and lab/agw02 apply it after `steps` polls
    (None: never); lab2/agw09 is not concerned by the commit."""
    seen = [0]

    def script(n, refreshed):
        tgt = repo.remote_head()
        others = [gateway("lab2", "agw09", old, old, "in-sync")]
        if rejected:
            return 200, status(old, [gateway("lab", "agw01", old, old, "in-sync")] + others,
                               {"commit": tgt, "reason": "1 error: networks/lab/apns.yaml:9:5: boom"})
        if not fetch or n < 2:
            return 200, status(old, [gateway("lab", "agw01", old, old, "in-sync"),
                                     gateway("lab", "agw02", old, old, "in-sync")] + others)
        seen[0] += 1
        done = steps is not None and seen[0] > steps
        g1 = gateway("lab", "agw01", tgt, tgt if done else old, "in-sync" if done else "pending")
        if failed:
            g1 = gateway("lab", "agw01", tgt, old, "failed", error=failed)
        g2 = gateway("lab", "agw02", tgt, tgt if done else old, "in-sync" if done else "offline")
        return 200, status(tgt, [g1, g2] + others)
    return script


def case_apply_wait(tmp):
    tok = os.path.join(tmp, "token")
    put(tok, TOKEN, 0o600)
    repo = Repo(tmp)

    def apply(s, extra=(), env=None, change=True):
        if change:
            repo.change()
        return orc8r(["-C", repo.path, "apply", "--yes", "--wait", "--server", s.url,
                      "--token-file", tok] + list(extra), tmp, env=env)

    old = repo.remote_head()
    with FakeSyncd(TOKEN) as s:
        s.script = rollout(repo, old, 3)
        r = apply(s)
        new = repo.remote_head()
        check(new != old, "apply --wait: pushed", str(r))
        check(r.rc == 0 and ("converged 2/2 on %s" % new[:12]) in r.err,
              "apply --wait: converging gateways, exit 0", str(r))
        check(("POST", "/v1/refresh") in s.log, "apply --wait: asked syncd to fetch")
        check(s.log[0] == ("GET", "/v1/status") and s.log[1] == ("POST", "/v1/refresh"),
              "apply --wait: status checked before the push, refresh after", repr(s.log[:3]))

        s.status_calls, s.refreshed = 0, False
        s.script = rollout(repo, new, 1)
        r = apply(s, change=False)
        check(r.rc == 0 and "Nothing to apply." in r.out and "converged" in r.err,
              "apply --wait, nothing to apply: waits for the upstream's commit", str(r))

    old = repo.remote_head()
    with FakeSyncd(TOKEN, rollout(repo, old, None)) as s:
        r = apply(s, ["--timeout", "2"])
        check(r.rc == 1 and "timed out after 2 s: 2 of 2 gateways did not converge" in r.err
              and "lab/agw01 (pending), lab/agw02 (offline)" in r.err,
              "apply --wait: timeout names the gateways, exit 1", str(r))
        check(r.secs < 15, "apply --wait: the timeout is kept (%.1f s)" % r.secs)

    old = repo.remote_head()
    with FakeSyncd(TOKEN, rollout(repo, old, 1, fetch=False)) as s:
        r = apply(s, ["--timeout", "1"])
        check(r.rc == 1 and "syncd still has commit %s" % old[:12] in r.err,
              "apply --wait: syncd never fetched", str(r))

    old = repo.remote_head()
    with FakeSyncd(TOKEN, rollout(repo, old, 1, rejected=True)) as s:
        r = apply(s)
        check(r.rc == 3 and "syncd rejected commit" in r.err
              and "networks/lab/apns.yaml:9:5: boom" in r.err,
              "apply --wait: rejected commit, exit 3 with the reason", str(r))

    old = repo.remote_head()
    with FakeSyncd(TOKEN, rollout(repo, old, 5, failed="nack version 8: reload hook exited 1")) as s:
        r = apply(s, ["--timeout", "30"])
        check(r.rc == 1 and "lab/agw01: nack version 8: reload hook exited 1" in r.err
              and r.secs < 15, "apply --wait: a failed gateway ends the wait, exit 1", str(r))

    old = repo.remote_head()
    with FakeSyncd(TOKEN, rollout(repo, old, 1),
                   refresh_error=(403, {"error": "the token's role is read"})) as s:
        r = apply(s)
        check(r.rc == 0 and "note:" in r.err and "syncd refused the token" in r.err
              and "converged" in r.err, "apply --wait: a refused refresh, then polling", str(r))

    old = repo.remote_head()
    with FakeSyncd(TOKEN, rollout(repo, old, 1)) as s:
        put(tok, WRONG, 0o600)
        r = apply(s)
        check(r.rc == 1 and "syncd refused the token (unknown token)" in r.err
              and "nothing committed" in r.err, "apply --wait, wrong token: exit 1 before the push",
              str(r))
        check(repo.remote_head() == old, "apply --wait, wrong token: nothing pushed")
        put(tok, TOKEN, 0o600)


CASES = {"status": case_status, "diff": case_diff, "config": case_config,
         "tls": case_tls, "apply-wait": case_apply_wait}


def main():
    global ORC8R
    if len(sys.argv) != 3 or sys.argv[2] not in CASES:
        print("usage: test_syncd_client.py ORC8R %s" % "|".join(CASES), file=sys.stderr)
        return 2
    ORC8R = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="o8-syncd-client-")
    try:
        CASES[sys.argv[2]](tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%s: %s" % (sys.argv[2], "FAILED (%d)" % failures if failures else "passed"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
