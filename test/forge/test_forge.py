#!/usr/bin/env python3
"""The plan comment against a fake GitHub / GitLab (fake_forge.py).

usage: test_forge.py FORGE_TOOL CASE   (CASE: github gitlab errors truncate)

Each case starts its own server on 127.0.0.1 (port 0, read from the port
file it writes), runs forge_tool with a hermetic environment, and checks
the requests the server recorded: method, path, query, auth header, JSON
body.  The server is stopped at the end, also when a check fails.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
MARKER = "<!-- orc8r:plan -->"
NOTE = "plan truncated; run `orc8r plan` locally for the rest"
GH_TOKEN = "ghs_SeCrEt0123456789gh"
GL_TOKEN = "glpat-SeCrEt0123456789gl"
JOB_TOKEN = "glcbt-SeCrEt0123456789job"
TOKENS = (GH_TOKEN, GL_TOKEN, JOB_TOKEN)

failures = 0


def check(cond, what):
    global failures
    if cond:
        print("ok   " + what)
    else:
        failures += 1
        print("FAIL " + what)
    return cond


class Server:
    """fake_forge.py as a context manager: started on enter, always stopped."""

    def __init__(self, tmp, job_token=JOB_TOKEN):
        self.tmp = tmp
        self.port_file = os.path.join(tmp, "port")
        self.log = os.path.join(tmp, "requests.log")
        self.job_token = job_token
        self.seen = 0

    def __enter__(self):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "fake_forge.py"),
             "--port-file", self.port_file, "--log", self.log,
             "--github-token", GH_TOKEN, "--gitlab-token", GL_TOKEN,
             "--job-token", self.job_token])
        deadline = time.monotonic() + 20
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None:
                raise RuntimeError("fake_forge.py exited with %d" % self.proc.returncode)
            if time.monotonic() > deadline:
                raise RuntimeError("fake_forge.py did not write its port file in 20 s")
            time.sleep(0.02)
        with open(self.port_file) as f:
            self.port = int(f.read())
        self.url = "http://127.0.0.1:%d" % self.port
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return False

    def admin(self, what, body=None, query=""):
        req = urllib.request.Request(
            self.url + "/_admin/" + what + query,
            data=None if body is None else json.dumps(body).encode(),
            method="GET" if body is None else "POST",
            headers={"Content-Type": "application/json"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=10) as r:
            return json.loads(r.read())

    def seed(self, kind, repo, pr, comments):
        return self.admin("seed", {"kind": kind, "repo": repo, "pr": pr,
                                   "comments": comments})["ids"]

    def comments(self, kind, repo, pr):
        from urllib.parse import urlencode
        return self.admin("comments", query="?" + urlencode(
            {"kind": kind, "repo": repo, "pr": pr}))

    def fail(self, status=None, message="", methods=None):
        """API requests (all, or those with one of methods) fail with status
        from now on; fail() stops it."""
        body = {"status": status, "message": message} if status else {}
        if methods:
            body["methods"] = methods
        self.admin("fail", body)

    def new_requests(self):
        """Requests logged since the last call."""
        with open(self.log) as f:
            lines = f.read().splitlines()
        out = [json.loads(l) for l in lines[self.seen:]]
        self.seen = len(lines)
        return out


def base_env():
    """The caller's environment without anything a forge or proxy would
    read: the tests must behave the same inside a real CI job."""
    drop = ("GITHUB_", "GITLAB_", "CI_")
    proxies = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
    return {k: v for k, v in os.environ.items()
            if not k.startswith(drop) and k.lower() not in proxies and k != "CI"}


def run(tool, env, md, args=(), tmp=None):
    path = os.path.join(tmp, "plan.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write(md)
    p = subprocess.run([tool, *args, path], env=env, capture_output=True,
                       text=True, timeout=120)
    return p


def no_token_in(p, what):
    out = p.stdout + p.stderr
    check(not any(t in out for t in TOKENS), what + ": no token in the output")


def summary(reqs):
    return [(r["method"], r["path"]) for r in reqs]


def others(n, prefix="comment"):
    """n ordinary comments, among them near misses of the marker."""
    cs = []
    for i in range(n):
        body = "%s %d: looks good" % (prefix, i)
        if i == 3:
            body = "quoting the bot: " + MARKER + "\nnot a plan"
        if i == 4:
            body = MARKER + "x not the marker line"
        if i == 5:
            body = " " + MARKER + "\nindented"
        cs.append({"body": body})
    return cs


# ---- cases ----

def case_github(tool, tmp):
    with Server(tmp) as s:
        repo = "acme/lte-config"
        s.seed("github", repo, 7, others(150))
        s.seed("github", repo, 8, [{"body": MARKER + "\nplan of another PR"}])
        event = os.path.join(tmp, "event.json")
        with open(event, "w") as f:
            json.dump({"action": "synchronize", "number": 7,
                       "pull_request": {"number": 7, "title": "add APN"}}, f)
        env = dict(base_env(), GITHUB_ACTIONS="true", GITHUB_TOKEN=GH_TOKEN,
                   GITHUB_REPOSITORY=repo, GITHUB_EVENT_PATH=event,
                   GITHUB_API_URL=s.url)
        list_path = "/repos/%s/issues/7/comments" % repo

        md1 = "## orc8r plan\n\nPlan: 1 to add, 0 to change, 0 to destroy.\n"
        p = run(tool, env, md1, tmp=tmp)
        check(p.returncode == 0, "github: first run succeeds (%s)" % p.stderr.strip())
        reqs = s.new_requests()
        check(summary(reqs) == [("GET", list_path), ("GET", list_path), ("POST", list_path)],
              "github: two pages listed, then one POST: %s" % summary(reqs))
        check([r["query"] for r in reqs[:2]] == [{"per_page": "100", "page": "1"},
                                                 {"per_page": "100", "page": "2"}],
              "github: per_page=100, pages 1 and 2")
        for r in reqs:
            h = r["headers"]
            check(h.get("authorization") == "Bearer " + GH_TOKEN and
                  h.get("accept") == "application/vnd.github+json" and
                  h.get("x-github-api-version") == "2022-11-28" and
                  h.get("user-agent", "").startswith("orc8r/"),
                  "github: %s %s carries auth, Accept, API version, User-Agent"
                  % (r["method"], r["path"]))
        post = reqs[-1]
        check(post["headers"].get("content-type") == "application/json",
              "github: POST is application/json")
        check(post["body"] == {"body": MARKER + "\n" + md1},
              "github: POST body is the marker line + the markdown")
        posted = [c for c in s.comments("github", repo, 7) if c["body"].startswith(MARKER + "\n")]
        check(len(posted) == 1, "github: one plan comment on #7")
        cid = posted[0]["id"]
        check(p.stdout.strip() == "github #7: https://github.example/%s/pull/7#issuecomment-%d"
              % (repo, cid), "github: prints the comment's html_url: " + p.stdout.strip())

        md2 = "## orc8r plan\n\nPlan: 2 to add, 1 to change, 0 to destroy.\n"
        p = run(tool, env, md2, tmp=tmp)
        check(p.returncode == 0, "github: second run succeeds (%s)" % p.stderr.strip())
        reqs = s.new_requests()
        check(summary(reqs) == [("GET", list_path), ("GET", list_path),
                                ("PATCH", "/repos/%s/issues/comments/%d" % (repo, cid))],
              "github: second run PATCHes the same comment, no POST: %s" % summary(reqs))
        check(reqs[-1]["body"] == {"body": MARKER + "\n" + md2}, "github: PATCH body")
        cs = s.comments("github", repo, 7)
        check(len(cs) == 151 and [c["id"] for c in cs if c["body"].startswith(MARKER + "\n")] == [cid],
              "github: still 151 comments, one plan comment (never duplicated)")
        check(s.comments("github", repo, 8)[0]["body"] == MARKER + "\nplan of another PR",
              "github: the plan comment of another PR is untouched")

        # a second marker comment (someone copied it): the oldest is updated
        newer = s.seed("github", repo, 7, [{"body": MARKER + "\nnewer copy"}])[0]
        md3 = MARKER + "\n## orc8r plan\n\nNo changes.\n"
        p = run(tool, env, md3, tmp=tmp)
        reqs = s.new_requests()
        check(p.returncode == 0 and reqs[-1]["method"] == "PATCH" and
              reqs[-1]["path"].endswith("/%d" % cid),
              "github: with two marker comments the oldest is updated")
        check(reqs[-1]["body"] == {"body": md3},
              "github: a markdown that starts with the marker is not given a second one")
        cs = {c["id"]: c for c in s.comments("github", repo, 7)}
        check(cs[newer]["body"] == MARKER + "\nnewer copy", "github: the newer copy is left alone")

        # the comment vanished between the listing and the edit: post anew
        s.fail(404, "Not Found", ["PATCH"])
        p = run(tool, env, md1, tmp=tmp)
        s.fail()
        reqs = s.new_requests()
        check(p.returncode == 0 and [r["method"] for r in reqs] == ["GET", "GET", "PATCH", "POST"],
              "github: a 404 on PATCH falls back to one POST: %s %s" % (summary(reqs), p.stderr.strip()))

        # .number alone (no pull_request object), explicit --kind, trailing slash
        with open(event, "w") as f:
            json.dump({"number": 9}, f)
        env9 = dict(env, GITHUB_API_URL=s.url + "/")
        del env9["GITHUB_ACTIONS"]
        p = run(tool, env9, md1, ["--kind", "github"], tmp=tmp)
        reqs = s.new_requests()
        check(p.returncode == 0 and summary(reqs) ==
              [("GET", "/repos/%s/issues/9/comments" % repo), ("POST", "/repos/%s/issues/9/comments" % repo)],
              "github: PR number from the event's .number, --kind github: %s %s"
              % (summary(reqs), p.stderr.strip()))

        # exactly one full page: the empty second page ends the listing
        s.seed("github", repo, 12, others(100))
        p = run(tool, env, md1, ["--pr", "12"], tmp=tmp)
        reqs = s.new_requests()
        path12 = "/repos/%s/issues/12/comments" % repo
        check(p.returncode == 0 and summary(reqs) == [("GET", path12)] * 2 + [("POST", path12)] and
              reqs[1]["query"]["page"] == "2",
              "github: 100 comments: pages 1 and 2 (empty), then POST: %s" % summary(reqs))

        # --pr wins over the event
        p = run(tool, env, md1, ["--pr", "11"], tmp=tmp)
        reqs = s.new_requests()
        check(p.returncode == 0 and reqs[-1]["method"] == "POST" and
              reqs[-1]["path"] == "/repos/%s/issues/11/comments" % repo,
              "github: --pr 11 overrides the event")


def case_gitlab(tool, tmp):
    with Server(tmp) as s:
        api = s.url + "/api/v4"
        notes = others(150, "note")
        for i in (10, 20, 30):
            notes[i] = {"body": "%s\nsystem note" % MARKER, "system": True}
        s.seed("gitlab", "42", 3, notes)
        env = dict(base_env(), GITLAB_CI="true", CI_API_V4_URL=api, CI_PROJECT_ID="42",
                   CI_MERGE_REQUEST_IID="3", GITLAB_TOKEN=GL_TOKEN, CI_JOB_TOKEN=JOB_TOKEN)
        notes_path = "/api/v4/projects/42/merge_requests/3/notes"

        md1 = "## orc8r plan\n\nPlan: 0 to add, 1 to change, 0 to destroy.\n"
        p = run(tool, env, md1, tmp=tmp)
        check(p.returncode == 0, "gitlab: first run succeeds (%s)" % p.stderr.strip())
        reqs = s.new_requests()
        check(summary(reqs) == [("GET", notes_path), ("GET", notes_path), ("POST", notes_path),
                                ("GET", "/api/v4/projects/42/merge_requests/3")],
              "gitlab: two pages, one POST, then the MR for its URL: %s" % summary(reqs))
        check([r["query"].get("page") for r in reqs[:2]] == ["1", "2"] and
              all(r["query"].get("per_page") == "100" for r in reqs[:2]),
              "gitlab: per_page=100, pages 1 and 2")
        for r in reqs:
            h = r["headers"]
            check(h.get("private-token") == GL_TOKEN and "job-token" not in h and
                  "authorization" not in h and h.get("user-agent", "").startswith("orc8r/"),
                  "gitlab: %s %s carries PRIVATE-TOKEN (GITLAB_TOKEN wins over CI_JOB_TOKEN)"
                  % (r["method"], r["path"]))
        check(reqs[2]["headers"].get("content-type") == "application/json" and
              reqs[2]["body"] == {"body": MARKER + "\n" + md1},
              "gitlab: POST body is JSON: marker line + markdown")
        mine = [c for c in s.comments("gitlab", "42", 3)
                if c["body"].startswith(MARKER + "\n") and not c["system"]]
        check(len(mine) == 1, "gitlab: one plan note (system notes ignored)")
        nid = mine[0]["id"]
        check(p.stdout.strip() == "gitlab #3: https://gitlab.example/42/-/merge_requests/3#note_%d" % nid,
              "gitlab: prints the note's URL: " + p.stdout.strip())

        md2 = "## orc8r plan\n\nNo changes.\n"
        p = run(tool, env, md2, tmp=tmp)
        reqs = s.new_requests()
        check(p.returncode == 0 and summary(reqs)[:3] ==
              [("GET", notes_path), ("GET", notes_path), ("PUT", "%s/%d" % (notes_path, nid))],
              "gitlab: second run PUTs the same note, no POST: %s" % summary(reqs))
        check(reqs[2]["body"] == {"body": MARKER + "\n" + md2}, "gitlab: PUT body")
        check(len(s.comments("gitlab", "42", 3)) == 151, "gitlab: still 151 notes")

        # CI_JOB_TOKEN alone, project given as a path
        envj = dict(env, CI_PROJECT_ID="lte/sites-config", CI_MERGE_REQUEST_IID="5")
        del envj["GITLAB_TOKEN"]
        for n, (md, method) in enumerate([(md1, "POST"), (md2, "PUT")]):
            p = run(tool, envj, md, tmp=tmp)
            reqs = s.new_requests()
            check(p.returncode == 0, "gitlab job token: run %d succeeds (%s)" % (n + 1, p.stderr.strip()))
            check(all(r["headers"].get("job-token") == JOB_TOKEN and
                      "private-token" not in r["headers"] for r in reqs),
                  "gitlab job token: run %d sends JOB-TOKEN only" % (n + 1))
            check(all(r["raw_path"].startswith("/api/v4/projects/lte%2Fsites-config/merge_requests/5")
                      for r in reqs),
                  "gitlab job token: the project path is one escaped segment")
            check([r["method"] for r in reqs if r["method"] != "GET"] == [method],
                  "gitlab job token: run %d does one %s" % (n + 1, method))
        check(len(s.comments("gitlab", "lte/sites-config", 5)) == 1,
              "gitlab job token: one note on !5")


def expect_error(tool, s, env, what, must_say, md="plan\n", args=(), tmp=None, requests=None):
    p = run(tool, env, md, args, tmp=tmp)
    reqs = s.new_requests()
    ok = check(p.returncode == 1, "%s: exit 1 (got %d)" % (what, p.returncode))
    for m in must_say:
        ok &= check(m in p.stderr, "%s: says %r" % (what, m))
    if not ok:
        print("     stderr: " + p.stderr.strip())
    if requests is not None:
        check(len(reqs) == requests, "%s: %d requests sent (got %d)" % (what, requests, len(reqs)))
    no_token_in(p, what)
    return reqs


def case_errors(tool, tmp):
    with Server(tmp, job_token="") as s:
        repo = "acme/lte-config"
        event = os.path.join(tmp, "event.json")
        with open(event, "w") as f:
            json.dump({"pull_request": {"number": 7}}, f)
        gh = dict(base_env(), GITHUB_ACTIONS="true", GITHUB_TOKEN=GH_TOKEN,
                  GITHUB_REPOSITORY=repo, GITHUB_EVENT_PATH=event, GITHUB_API_URL=s.url)
        gl = dict(base_env(), GITLAB_CI="true", CI_API_V4_URL=s.url + "/api/v4",
                  CI_PROJECT_ID="42", CI_MERGE_REQUEST_IID="3", GITLAB_TOKEN=GL_TOKEN)

        def without(env, *names):
            return {k: v for k, v in env.items() if k not in names}

        # resolved before any request
        expect_error(tool, s, without(gh, "GITHUB_TOKEN"), "github without token",
                     ["GITHUB_TOKEN is not set", "pull-requests: write"], tmp=tmp, requests=0)
        expect_error(tool, s, dict(gh, GITHUB_TOKEN=""), "github with an empty token",
                     ["GITHUB_TOKEN is not set"], tmp=tmp, requests=0)
        expect_error(tool, s, without(gl, "GITLAB_TOKEN"), "gitlab without token",
                     ["GITLAB_TOKEN is not set"], tmp=tmp, requests=0)
        expect_error(tool, s, without(gh, "GITHUB_ACTIONS"), "no forge detected",
                     ["GITHUB_ACTIONS", "GITLAB_CI"], tmp=tmp, requests=0)
        expect_error(tool, s, gh, "unknown forge", ["unknown forge 'gitea'"],
                     args=["--kind", "gitea"], tmp=tmp, requests=0)
        expect_error(tool, s, without(gh, "GITHUB_REPOSITORY"), "github without repository",
                     ["GITHUB_REPOSITORY is not set"], tmp=tmp, requests=0)
        expect_error(tool, s, dict(gh, GITHUB_REPOSITORY="acme"), "malformed repository",
                     ["GITHUB_REPOSITORY 'acme' is not owner/name"], tmp=tmp, requests=0)
        expect_error(tool, s, without(gh, "GITHUB_EVENT_PATH"), "github without event",
                     ["GITHUB_EVENT_PATH is not set"], tmp=tmp, requests=0)
        push = os.path.join(tmp, "push.json")
        with open(push, "w") as f:
            json.dump({"ref": "refs/heads/main"}, f)
        expect_error(tool, s, dict(gh, GITHUB_EVENT_PATH=push), "event without a PR",
                     ["has no pull request number"], tmp=tmp, requests=0)
        expect_error(tool, s, without(gl, "CI_MERGE_REQUEST_IID"), "gitlab without MR",
                     ["CI_MERGE_REQUEST_IID is not set"], tmp=tmp, requests=0)
        expect_error(tool, s, without(gl, "CI_API_V4_URL"), "gitlab without API URL",
                     ["CI_API_V4_URL is not set"], tmp=tmp, requests=0)
        expect_error(tool, s, dict(gh, GITHUB_API_URL="http://api.example.com"),
                     "plain http to another host", ["must use https"], tmp=tmp, requests=0)
        expect_error(tool, s, dict(gh, GITHUB_API_URL="https://user:" + GH_TOKEN + "@h.example"),
                     "credentials in the API URL", ["must not hold a user name"], tmp=tmp, requests=0)
        expect_error(tool, s, dict(gh, GITHUB_TOKEN=GH_TOKEN + "\n"), "token with a newline",
                     ["control character"], tmp=tmp, requests=0)

        # the server says no
        s.fail(500, "Internal boom")
        reqs = expect_error(tool, s, gh, "github HTTP 500", ["HTTP 500", "Internal boom", "GET /repos/"],
                            tmp=tmp, requests=1)
        s.fail(403, "Resource not accessible by integration")
        expect_error(tool, s, gh, "github HTTP 403",
                     ["HTTP 403", "Resource not accessible by integration", "pull-requests: write"],
                     tmp=tmp, requests=1)
        s.fail(500, "we logged your token " + GH_TOKEN)
        expect_error(tool, s, gh, "API message quoting the token", ["HTTP 500", "withheld"],
                     tmp=tmp, requests=1)
        s.fail(500, "boom on GitLab")
        expect_error(tool, s, gl, "gitlab HTTP 500", ["HTTP 500", "boom on GitLab"], tmp=tmp, requests=1)
        s.fail()
        expect_error(tool, s, dict(gh, GITHUB_TOKEN="ghs_wrong"), "wrong github token",
                     ["HTTP 401", "Bad credentials"], tmp=tmp, requests=1)
        expect_error(tool, s, dict(without(gl, "GITLAB_TOKEN"), CI_JOB_TOKEN=JOB_TOKEN),
                     "gitlab refuses the job token", ["HTTP 401", "set GITLAB_TOKEN"],
                     tmp=tmp, requests=1)

        # a page over the 1 MiB cap is refused, and nothing is posted
        s.seed("github", repo, 7, [{"body": "x" * (1 << 20)}])
        expect_error(tool, s, gh, "huge comment list", ["larger than 1 MiB"], tmp=tmp, requests=1)

        # nobody listening
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
        sock.close()
        expect_error(tool, s, dict(gh, GITHUB_API_URL="http://127.0.0.1:%d" % closed),
                     "connection refused", ["127.0.0.1:%d" % closed], tmp=tmp, requests=0)


def case_truncate(tool, tmp):
    with Server(tmp) as s:
        repo = "acme/lte-config"
        lines = ["## orc8r plan", "", "<details><summary>network lab</summary>", "",
                 "| | kind | name |", "| --- | --- | --- |"]
        lines += ["| + | Subscriber | IMSI00101%010d → apns internet |" % i for i in range(100000)]
        lines += ["", "</details>", ""]
        md = "\n".join(lines)
        check(len(md.splitlines()) >= 100000 and len(md) > 1000000, "truncate: a 100,000-line plan")
        event = os.path.join(tmp, "event.json")
        with open(event, "w") as f:
            json.dump({"pull_request": {"number": 7}}, f)
        envs = {
            "github": (dict(base_env(), GITHUB_ACTIONS="true", GITHUB_TOKEN=GH_TOKEN,
                            GITHUB_REPOSITORY=repo, GITHUB_EVENT_PATH=event,
                            GITHUB_API_URL=s.url), 65536),
            "gitlab": (dict(base_env(), GITLAB_CI="true", CI_API_V4_URL=s.url + "/api/v4",
                            CI_PROJECT_ID="42", CI_MERGE_REQUEST_IID="3",
                            GITLAB_TOKEN=GL_TOKEN), 262144),
        }
        for kind, (env, limit) in envs.items():
            p = run(tool, env, md, tmp=tmp)
            check(p.returncode == 0, "truncate %s: posted (%s)" % (kind, p.stderr.strip()))
            post = [r for r in s.new_requests() if r["method"] == "POST"]
            if not check(len(post) == 1, "truncate %s: one POST" % kind):
                continue
            body = post[0]["body"]["body"]
            check(len(body.encode("utf-8")) <= limit,
                  "truncate %s: %d bytes <= %d" % (kind, len(body.encode("utf-8")), limit))
            check(len(body.encode("utf-8")) > limit - 2048,
                  "truncate %s: and uses the room it has" % kind)
            check(body.startswith(MARKER + "\n"), "truncate %s: starts with the marker" % kind)
            check(body.rstrip().endswith(NOTE + "."), "truncate %s: ends with the note" % kind)
            kept = body[len(MARKER) + 1:body.index("</details>\n\n**Note:**")]
            check(md.startswith(kept) and kept.endswith("\n"),
                  "truncate %s: cut at a line boundary of the original" % kind)
            check(body.count("<details>") == body.count("</details>") == 1,
                  "truncate %s: the open <details> is closed" % kind)


CASES = {"github": case_github, "gitlab": case_gitlab, "errors": case_errors,
         "truncate": case_truncate}


def main():
    tool, case = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory(prefix="o8-forge-") as tmp:
        CASES[case](tool, tmp)
    print("%s: %s" % (case, "FAILED (%d)" % failures if failures else "passed"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
