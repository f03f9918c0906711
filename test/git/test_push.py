#!/usr/bin/env python3
"""test_push.py - o8_git_commit_all + o8_git_push (lib/repo/git.h) against a real
remote: a bare repository over file://, or `git daemon --inetd
--enable=receive-pack` behind a port held here on 127.0.0.1, over git://.

usage: test_push.py --transport file|daemon GIT_PUSH_TOOL

Each case builds its remote and clones from scratch in a temporary
directory; "other" is a colleague who pushes with the git CLI meanwhile.
The daemon is stopped at the end, whatever happens.
"""
import argparse
import base64
import ctypes
import http.server
import os
import shutil
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading

TOOL = None
ENV = None
FAILED = []

NETWORK = "apiVersion: orc8r/v1\nkind: Network\nmetadata: {name: lab}\nspec: {}\n"
GATEWAYS = "# gateways\nagw-1: {pci: 1}\nagw-2: {pci: 2}\nagw-3: {pci: 3}\n"
APNS = "# apns\ninternet: {qci: 9}\n"


def run(args, cwd=None, check=True):
    p = subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d): %s%s" % (" ".join(args), p.returncode,
                                                      p.stdout, p.stderr))
    return p


def git(repo, *args):
    return run(["git", "-C", repo] + list(args)).stdout.strip()


def tool(repo, *args):
    return run([TOOL, repo] + list(args), check=False)


def put(repo, rel, text):
    path = os.path.join(repo, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def read(repo, rel):
    with open(os.path.join(repo, rel)) as f:
        return f.read()


def check(cond, what):
    if not cond:
        raise AssertionError(what)


class Remote:
    """A bare repository, reachable at self.url."""

    def __init__(self, tmp):
        self.base = os.path.join(tmp, "srv")
        self.path = os.path.join(self.base, "origin.git")
        self.url = None         # set once the transport is up
        os.makedirs(self.base)
        run(["git", "init", "-q", "--bare", "-b", "main", self.path])
        seed = os.path.join(tmp, "seed")
        run(["git", "init", "-q", "-b", "main", seed])
        put(seed, "networks/lab/network.yaml", NETWORK)
        put(seed, "networks/lab/gateways.yaml", GATEWAYS)
        put(seed, "networks/lab/apns.yaml", APNS)
        git(seed, "add", "-A")
        git(seed, "commit", "-q", "-m", "seed")
        git(seed, "push", "-q", self.path, "main")
        shutil.rmtree(seed)

    def tip(self):
        return git(self.path, "rev-parse", "main")

    def clone(self, tmp, name):
        path = os.path.join(tmp, name)
        run(["git", "clone", "-q", self.url, path])
        return path


def other_pushes(remote, tmp, rel, text, msg):
    """A colleague changes one file and pushes it with the git CLI."""
    path = os.path.join(tmp, "other")
    if not os.path.exists(path):
        run(["git", "clone", "-q", remote.url, path])
    git(path, "pull", "-q", "--rebase")
    put(path, rel, text)
    git(path, "commit", "-q", "-am", msg)
    git(path, "push", "-q")
    return git(path, "rev-parse", "HEAD")


def parse_pushed(out):
    check(out.startswith("pushed "), "unexpected tool output: %r" % out)
    return dict(kv.split("=", 1) for kv in out.split()[1:])


def commit(local, msg):
    p = tool(local, "commit", msg)
    check(p.returncode == 0, "commit failed: %s" % p.stderr)
    return p.stdout.split()[1]


# --- cases -----------------------------------------------------------------

def case_push(tmp, remote):
    """a plain push: the remote gets the commit, nothing else moves"""
    local = remote.clone(tmp, "local")
    before = remote.tip()
    check(tool(local, "upstream").stdout.strip() == "origin/main", "upstream is origin/main")
    put(local, "networks/lab/gateways.yaml", GATEWAYS.replace("pci: 1", "pci: 11"))
    c = commit(local, "lab: agw-1 pci 11")
    p = tool(local, "push")
    check(p.returncode == 0, "push failed: %s" % p.stderr)
    info = parse_pushed(p.stdout.strip())
    check(remote.tip() == c, "the remote's main is the new commit")
    check(info["old"] == before and info["new"] == c, "push info old/new: %r" % info)
    check(info["rebased"] == "0" and info["up_to_date"] == "0", "no rebase: %r" % info)
    check(info["branch"] == "refs/heads/main" and info["remote"] == "origin", "info: %r" % info)
    check(git(local, "rev-parse", "origin/main") == c, "the tracking branch follows")
    check(git(remote.path, "rev-parse", "main~1") == before, "the remote's history is kept")
    # pushing again is a no-op
    p = tool(local, "push")
    check(p.returncode == 0, "second push failed: %s" % p.stderr)
    check(parse_pushed(p.stdout.strip())["up_to_date"] == "1", "second push is up to date")
    check(remote.tip() == c, "nothing changed on the remote")


def case_remote_moved_clean(tmp, remote):
    """the remote moved, another file: rebase, push, linear history"""
    local = remote.clone(tmp, "local")
    put(local, "networks/lab/gateways.yaml", GATEWAYS.replace("pci: 3", "pci: 33"))
    mine = commit(local, "lab: agw-3 pci 33")
    theirs = other_pushes(remote, tmp, "networks/lab/apns.yaml",
                          APNS.replace("qci: 9", "qci: 8"), "lab: internet qci 8")
    p = tool(local, "push")
    check(p.returncode == 0, "push after the remote moved failed: %s" % p.stderr)
    info = parse_pushed(p.stdout.strip())
    check(info["rebased"] == "1", "one commit replayed: %r" % info)
    tip = remote.tip()
    check(tip == info["new"] and tip != mine, "the rebased commit is on the remote")
    check(git(remote.path, "rev-parse", "main~1") == theirs, "on top of the colleague's commit")
    check(git(remote.path, "rev-list", "--merges", "main") == "", "no merge commit: linear")
    check(git(remote.path, "log", "-1", "--format=%s", "main") == "lab: agw-3 pci 33",
          "the message is kept")
    check(git(remote.path, "show", "main:networks/lab/apns.yaml") + "\n" ==
          APNS.replace("qci: 9", "qci: 8"), "their change is there")
    check(git(remote.path, "show", "main:networks/lab/gateways.yaml") + "\n" ==
          GATEWAYS.replace("pci: 3", "pci: 33"), "my change is there")
    # never forced: every commit the remote had is still in its history
    run(["git", "-C", remote.path, "merge-base", "--is-ancestor", theirs, "main"])
    # the local branch and work tree caught up
    check(git(local, "rev-parse", "HEAD") == tip, "local HEAD is the pushed commit")
    check(read(local, "networks/lab/apns.yaml") == APNS.replace("qci: 9", "qci: 8"),
          "the work tree has their change")
    check(git(local, "status", "--porcelain") == "", "the work tree is clean")


def case_remote_moved_conflict(tmp, remote):
    """the remote changed the same lines: stop, change nothing, push nothing"""
    local = remote.clone(tmp, "local")
    put(local, "networks/lab/gateways.yaml", GATEWAYS.replace("pci: 2", "pci: 22"))
    mine = commit(local, "lab: agw-2 pci 22")
    theirs = other_pushes(remote, tmp, "networks/lab/gateways.yaml",
                          GATEWAYS.replace("pci: 2", "pci: 200"), "lab: agw-2 pci 200")
    p = tool(local, "push")
    check(p.returncode == 4, "a conflict exits 4, got %d: %s" % (p.returncode, p.stderr))
    check("the remote changed 'networks/lab/gateways.yaml' too; pull and resolve, then apply again"
          in p.stderr, "the message names the path: %r" % p.stderr)
    check(remote.tip() == theirs, "nothing was pushed")
    check(git(local, "rev-parse", "HEAD") == mine, "the local branch is unchanged")
    check(read(local, "networks/lab/gateways.yaml") == GATEWAYS.replace("pci: 2", "pci: 22"),
          "the work tree is unchanged")
    check(git(local, "status", "--porcelain") == "", "no rebase left behind")
    check(not os.path.exists(os.path.join(local, ".git", "rebase-merge")) and
          not os.path.exists(os.path.join(local, ".git", "rebase-apply")), "no rebase state")


def case_never_forced(tmp, remote):
    """rewritten local history never replaces the remote's commits"""
    local = remote.clone(tmp, "local")
    seed = remote.tip()
    # an amended root commit: replaying it conflicts, so nothing is pushed
    theirs = other_pushes(remote, tmp, "networks/lab/apns.yaml",
                          APNS.replace("qci: 9", "qci: 7"), "lab: internet qci 7")
    put(local, "networks/lab/network.yaml", NETWORK.replace("spec: {}", "spec: {x: 1}"))
    git(local, "commit", "-q", "-a", "--amend", "-m", "rewritten seed")
    p = tool(local, "push")
    check(p.returncode == 4, "rewritten root refused, got %d: %s" % (p.returncode, p.stderr))
    check(remote.tip() == theirs, "nothing pushed")
    # an amended commit that was already pushed: it replays cleanly on top
    # of the remote, and the remote keeps the original underneath
    git(local, "reset", "-q", "--hard", "origin/main")
    put(local, "networks/lab/gateways.yaml", GATEWAYS.replace("pci: 1", "pci: 44"))
    pushed = commit(local, "lab: agw-1 pci 44")
    check(tool(local, "push").returncode == 0, "first push")
    theirs2 = other_pushes(remote, tmp, "networks/lab/apns.yaml",
                           APNS.replace("qci: 9", "qci: 5"), "lab: internet qci 5")
    put(local, "networks/lab/network.yaml", NETWORK.replace("spec: {}", "spec: {y: 2}"))
    git(local, "commit", "-q", "-a", "--amend", "-m", "lab: agw-1 pci 44, network y")
    p = tool(local, "push")
    check(p.returncode == 0, "amended commit replayed: %s" % p.stderr)
    check(parse_pushed(p.stdout.strip())["rebased"] == "1", "one commit replayed")
    for c in (seed, theirs, pushed, theirs2):
        run(["git", "-C", remote.path, "merge-base", "--is-ancestor", c, "main"])
    check(git(remote.path, "rev-list", "--merges", "main") == "", "linear")
    check(git(remote.path, "show", "main:networks/lab/network.yaml") + "\n" ==
          NETWORK.replace("spec: {}", "spec: {y: 2}"), "the amendment is there")


def case_hook_rejects(tmp, remote):
    """a refusal from the remote (pre-receive hook) is an error"""
    hook = os.path.join(remote.path, "hooks", "pre-receive")
    with open(hook, "w") as f:
        f.write("#!/bin/sh\necho 'changes need review' >&2\nexit 1\n")
    os.chmod(hook, 0o755)
    local = remote.clone(tmp, "local")
    before = remote.tip()
    put(local, "networks/lab/apns.yaml", APNS.replace("qci: 9", "qci: 6"))
    commit(local, "lab: internet qci 6")
    p = tool(local, "push")
    check(p.returncode == 1, "a refused push fails, got %d: %s" % (p.returncode, p.stderr))
    check("refused" in p.stderr or "declined" in p.stderr, "says it was refused: %r" % p.stderr)
    check(remote.tip() == before, "nothing pushed")


def case_no_upstream(tmp, remote):
    """a branch without upstream: a clear error"""
    local = remote.clone(tmp, "local")
    git(local, "switch", "-q", "-c", "topic")
    p = tool(local, "push")
    check(p.returncode == 2 and "has no upstream" in p.stderr, "no upstream: %r" % p.stderr)


class AskForAuth(http.server.BaseHTTPRequestHandler):
    """Answers every request with 401 Basic and remembers what it got."""
    seen = []

    def do_GET(self):
        AskForAuth.seen.append((self.path, self.headers.get("Authorization")))
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="orc8r-test"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def case_http_credentials(tmp, remote):
    """https-style auth: the token from the environment, never shown"""
    global ENV
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AskForAuth)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    saved = ENV
    try:
        local = remote.clone(tmp, "local")
        port = srv.server_address[1]
        git(local, "remote", "set-url", "origin",
            "http://who:url-secret@127.0.0.1:%d/origin.git" % port)
        put(local, "networks/lab/apns.yaml", APNS.replace("qci: 9", "qci: 4"))
        commit(local, "lab: internet qci 4")
        # no token: say which variable to set
        ENV = {k: v for k, v in saved.items() if k not in ("ORC8R_GIT_TOKEN", "GIT_TOKEN")}
        p = tool(local, "push")
        check(p.returncode == 1 and "set ORC8R_GIT_TOKEN" in p.stderr,
              "asks for a token: %r" % p.stderr)
        check("url-secret" not in p.stderr + p.stdout, "the URL's password is not shown")
        # a token the server refuses: tried once, then a clear error
        AskForAuth.seen = []
        ENV = dict(ENV, ORC8R_GIT_TOKEN="s3cr3t-token", ORC8R_GIT_USER="deploy-bot")
        p = tool(local, "push")
        check(p.returncode == 1 and "refused the token" in p.stderr,
              "token refused: %r" % p.stderr)
        check("s3cr3t" not in p.stderr + p.stdout and "url-secret" not in p.stderr,
              "no secret in the output: %r" % p.stderr)
        want = "Basic " + base64.b64encode(b"deploy-bot:s3cr3t-token").decode()
        check(any(auth == want for _, auth in AskForAuth.seen),
              "the token was sent as deploy-bot: %r" % AskForAuth.seen)
        check(all("receive-pack" in path for path, _ in AskForAuth.seen), "a push request")
        # GIT_TOKEN, default user
        AskForAuth.seen = []
        ENV = {k: v for k, v in saved.items() if not k.startswith("ORC8R_GIT_")}
        ENV["GIT_TOKEN"] = "other-token"
        p = tool(local, "push")
        want = "Basic " + base64.b64encode(b"who:other-token").decode()
        check(any(auth == want for _, auth in AskForAuth.seen),
              "the URL's user with GIT_TOKEN: %r" % AskForAuth.seen)
    finally:
        ENV = saved
        srv.shutdown()
        srv.server_close()
        th.join()


# --- the transports --------------------------------------------------------

def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def die_with_parent():
    """In the daemon's child: SIGTERM when this test dies, even by SIGKILL."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class GitDaemon(socketserver.ThreadingTCPServer):
    """`git daemon --inetd` per connection, behind a socket this test binds
    to port 0 and keeps open: no other process can take the port between
    its choice and the first connection.  (git daemon cannot be handed a
    listening socket, and --port=0 would not say which port it got; in
    --inetd mode it serves the connection on its stdin and stdout.)"""

    def __init__(self, base, log):
        super().__init__(("127.0.0.1", 0), _GitDaemonConnection)
        self.cmd = ["git", "daemon", "--inetd", "--log-destination=stderr",
                    "--enable=receive-pack", "--export-all", "--base-path=" + base,
                    "--informative-errors", base]
        self.log = log
        self.port = self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        """Stops accepting, then waits for the connections being served."""
        self.shutdown()
        self.server_close()
        self.thread.join()


class _GitDaemonConnection(socketserver.BaseRequestHandler):
    def handle(self):
        proc = subprocess.Popen(self.server.cmd, stdin=self.request, stdout=self.request,
                                stderr=self.server.log, env=ENV,
                                preexec_fn=die_with_parent)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            stop(proc)      # a hung client: the case fails on its own


CASES = [case_push, case_remote_moved_clean, case_remote_moved_conflict,
         case_never_forced, case_hook_rejects, case_no_upstream,
         case_http_credentials]


def main():
    global TOOL, ENV
    ap = argparse.ArgumentParser()
    ap.add_argument("--transport", choices=["file", "daemon"], required=True)
    ap.add_argument("tool")
    a = ap.parse_args()
    TOOL = os.path.abspath(a.tool)
    tmp = tempfile.mkdtemp(prefix="o8-test-push-")
    home = os.path.join(tmp, "home")
    os.makedirs(home)
    with open(os.path.join(home, ".gitconfig"), "w") as f:
        f.write("[user]\n\tname = Test User\n\temail = test@example.com\n"
                "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n")
    ENV = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    ENV.update(HOME=home, XDG_CONFIG_HOME=home, GIT_CONFIG_NOSYSTEM="1",
               GIT_TERMINAL_PROMPT="0")
    daemon = None
    log = open(os.path.join(tmp, "daemon.log"), "w")
    try:
        for i, case in enumerate(CASES, 1):
            # local transport writes objects itself: hooks only run behind a server
            if case is case_hook_rejects and a.transport == "file":
                print("ok %d - %s # skip: no hooks over file://" % (i, case.__doc__))
                continue
            d = os.path.join(tmp, "case%d" % i)
            os.makedirs(d)
            try:
                remote = Remote(d)
                if a.transport == "daemon":
                    daemon = GitDaemon(remote.base, log)
                    remote.url = "git://127.0.0.1:%d/origin.git" % daemon.port
                else:
                    remote.url = "file://" + remote.path
                case(d, remote)
                print("ok %d - %s" % (i, case.__doc__))
            except AssertionError as e:
                FAILED.append(case.__name__)
                print("not ok %d - %s\n# %s" % (i, case.__doc__, e))
            finally:
                if daemon:
                    daemon.close()
                    daemon = None
    finally:
        if daemon:
            daemon.close()
        log.close()
        if FAILED and a.transport == "daemon":
            with open(os.path.join(tmp, "daemon.log")) as f:
                sys.stdout.write("# daemon log:\n" + "".join("# " + l for l in f))
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d/%d passed" % (len(CASES) - len(FAILED), len(CASES)))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
