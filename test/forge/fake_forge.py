#!/usr/bin/env python3
"""A stand-in for the GitHub and GitLab REST APIs, for the forge tests.

Serves, from an in-memory store, the endpoints cli/forge.c uses:

  GitHub  GET/POST /repos/{owner}/{repo}/issues/{n}/comments
          PATCH    /repos/{owner}/{repo}/issues/comments/{id}
  GitLab  GET/POST /api/v4/projects/{id}/merge_requests/{iid}/notes
          PUT      /api/v4/projects/{id}/merge_requests/{iid}/notes/{note_id}
          GET      /api/v4/projects/{id}/merge_requests/{iid}

with pagination (per_page, page), the forges' body limits, and auth: a
request without the right token gets 401.  Every API request is appended to
the log file as one JSON line {method, path, raw_path, query, headers,
body} before it is answered.  Tests steer the server through /_admin/
(not logged, no auth): seed comments, make every request fail, read the
store.

Listens on 127.0.0.1, port 0; the port is written to --port-file once the
socket is bound (atomically, so a reader never sees half a number).
"""
import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

LIMITS = {"github": 65536, "gitlab": 1000000}


class Store:
    def __init__(self):
        self.lock = threading.Lock()
        self.next_id = 1000
        self.threads = {}       # (kind, repo, pr) -> [comment]
        self.fail = None        # {"status", "message", "methods"?}: API calls fail

    def thread(self, kind, repo, pr):
        return self.threads.setdefault((kind, repo, int(pr)), [])

    def add(self, kind, repo, pr, body, author="someone", system=False):
        self.next_id += 1
        c = {"id": self.next_id, "body": body, "author": author,
             "system": system, "repo": repo, "pr": int(pr)}
        self.thread(kind, repo, pr).append(c)
        return c

    def find(self, kind, cid):
        for (k, _, _), cs in self.threads.items():
            if k != kind:
                continue
            for c in cs:
                if c["id"] == cid:
                    return c
        return None


def github_view(c):
    return {"id": c["id"], "body": c["body"], "user": {"login": c["author"]},
            "html_url": "https://github.example/%s/pull/%d#issuecomment-%d"
                        % (c["repo"], c["pr"], c["id"])}


def gitlab_view(c):
    return {"id": c["id"], "body": c["body"], "system": c["system"],
            "author": {"username": c["author"]}, "noteable_type": "MergeRequest",
            "noteable_iid": c["pr"]}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"       # keep-alive, as the real APIs
    server_version = "fake-forge"

    def log_message(self, fmt, *args):  # quiet: the JSON log is the record
        pass

    # -- plumbing --

    def reply(self, status, obj, headers=()):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if not raw:
            return None, None
        try:
            return raw, json.loads(raw.decode("utf-8"))
        except ValueError:
            return raw, "<not JSON>"

    def handle_any(self, method):
        st = self.server.store
        split = urlsplit(self.path)
        raw_path = split.path
        # split before decoding: GitLab's group%2Fproject is one segment
        segs = [unquote(s) for s in raw_path.split("/")[1:]]
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        raw, body = self.read_body()
        if segs and segs[0] == "_admin":
            return self.admin(segs[1:], query, body)
        entry = {"method": method, "path": "/" + "/".join(segs),
                 "raw_path": raw_path, "query": query,
                 "headers": {k.lower(): v for k, v in self.headers.items()},
                 "body": body}
        with open(self.server.log_path, "a") as f:
            f.write(json.dumps(entry) + "\n")
        with st.lock:
            if st.fail and method in st.fail.get("methods", [method]):
                return self.reply(st.fail["status"], {"message": st.fail["message"]})
            if segs[:1] == ["repos"]:
                return self.github(method, segs, query, body)
            if segs[:2] == ["api", "v4"]:
                return self.gitlab(method, segs[2:], query, body)
        return self.reply(404, {"message": "Not Found"})

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_PUT(self):
        self.handle_any("PUT")

    def page(self, items, query, default_per_page):
        per = min(int(query.get("per_page", default_per_page)), 100)
        page = max(int(query.get("page", 1)), 1)
        return items[(page - 1) * per: page * per], page, per

    def json_write_ok(self, body, kind):
        """None when the write request is acceptable, else (status, message)."""
        ctype = self.headers.get("Content-Type", "")
        if not ctype.startswith("application/json"):
            return 415, "Unsupported Media Type"
        if not isinstance(body, dict) or not isinstance(body.get("body"), str):
            return 400, "body is missing"
        if len(body["body"]) > LIMITS[kind]:
            return 422, "body is too long (maximum is %d characters)" % LIMITS[kind]
        return None

    # -- GitHub --

    def github(self, method, segs, query, body):
        st = self.server.store
        if self.headers.get("Authorization") != "Bearer " + self.server.tokens["github"]:
            return self.reply(401, {"message": "Bad credentials"})
        # /repos/o/r/issues/n/comments  or  /repos/o/r/issues/comments/id
        if len(segs) == 6 and segs[3] == "issues" and segs[5] == "comments" and segs[4].isdigit():
            repo, pr = segs[1] + "/" + segs[2], int(segs[4])
            cs = st.thread("github", repo, pr)
            if method == "GET":
                items, page, per = self.page(cs, query, 30)
                link = []
                if page * per < len(cs):
                    link = [("Link", '<%s?per_page=%d&page=%d>; rel="next"'
                             % (self.path.split("?")[0], per, page + 1))]
                return self.reply(200, [github_view(c) for c in items], link)
            if method == "POST":
                bad = self.json_write_ok(body, "github")
                if bad:
                    return self.reply(bad[0], {"message": bad[1]})
                c = st.add("github", repo, pr, body["body"], author="github-actions[bot]")
                return self.reply(201, github_view(c))
        if len(segs) == 6 and segs[3:5] == ["issues", "comments"] and method == "PATCH":
            c = st.find("github", int(segs[5])) if segs[5].isdigit() else None
            if not c or c["repo"] != segs[1] + "/" + segs[2]:
                return self.reply(404, {"message": "Not Found"})
            bad = self.json_write_ok(body, "github")
            if bad:
                return self.reply(bad[0], {"message": bad[1]})
            c["body"] = body["body"]
            return self.reply(200, github_view(c))
        return self.reply(404, {"message": "Not Found"})

    # -- GitLab --

    def gitlab(self, method, segs, query, body):
        st = self.server.store
        tok = self.server.tokens
        if not (self.headers.get("PRIVATE-TOKEN") == tok["gitlab"] or
                (tok["job"] and self.headers.get("JOB-TOKEN") == tok["job"])):
            return self.reply(401, {"message": "401 Unauthorized"})
        # projects/:id/merge_requests/:iid[/notes[/:note_id]]
        if len(segs) < 4 or segs[0] != "projects" or segs[2] != "merge_requests" \
                or not segs[3].isdigit():
            return self.reply(404, {"message": "404 Not Found"})
        project, iid = segs[1], int(segs[3])
        rest = segs[4:]
        if not rest and method == "GET":
            return self.reply(200, {"iid": iid, "project_id": project,
                                    "web_url": "https://gitlab.example/%s/-/merge_requests/%d"
                                               % (project, iid)})
        cs = st.thread("gitlab", project, iid)
        if rest == ["notes"] and method == "GET":
            ordered = sorted(cs, key=lambda c: c["id"],
                             reverse=query.get("sort", "desc") != "asc")
            items, page, per = self.page(ordered, query, 20)
            hdrs = [("X-Page", str(page)), ("X-Per-Page", str(per))]
            if page * per < len(cs):
                hdrs.append(("X-Next-Page", str(page + 1)))
            return self.reply(200, [gitlab_view(c) for c in items], hdrs)
        if rest == ["notes"] and method == "POST":
            bad = self.json_write_ok(body, "gitlab")
            if bad:
                return self.reply(400 if bad[0] == 422 else bad[0],
                                  {"message": {"note": [bad[1]]}})
            c = st.add("gitlab", project, iid, body["body"], author="orc8r-bot")
            return self.reply(201, gitlab_view(c))
        if len(rest) == 2 and rest[0] == "notes" and rest[1].isdigit() and method == "PUT":
            c = st.find("gitlab", int(rest[1]))
            if not c or c["repo"] != project or c["pr"] != iid:
                return self.reply(404, {"message": "404 Not found"})
            bad = self.json_write_ok(body, "gitlab")
            if bad:
                return self.reply(400, {"message": {"note": [bad[1]]}})
            c["body"] = body["body"]
            return self.reply(200, gitlab_view(c))
        return self.reply(404, {"message": "404 Not Found"})

    # -- test control --

    def admin(self, segs, query, body):
        st = self.server.store
        with st.lock:
            if segs == ["seed"]:
                # {"kind", "repo", "pr", "comments": [{"body", "author"?, "system"?}]}
                made = [st.add(body["kind"], body["repo"], body["pr"], c["body"],
                               c.get("author", "someone"), c.get("system", False))["id"]
                        for c in body["comments"]]
                return self.reply(200, {"ids": made})
            if segs == ["fail"]:
                st.fail = body      # {"status", "message", "methods"?} or {}
                return self.reply(200, {})
            if segs == ["comments"]:
                cs = st.threads.get((query["kind"], query["repo"], int(query["pr"])), [])
                return self.reply(200, cs)
        return self.reply(404, {"message": "unknown admin call"})


class Server(HTTPServer):
    def handle_error(self, request, client_address):
        # a client that hangs up early (forge.c stops reading a response
        # over its cap) is expected; anything else is a bug worth a trace
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--github-token", required=True)
    ap.add_argument("--gitlab-token", required=True)
    ap.add_argument("--job-token", default="", help="accepted as JOB-TOKEN; empty: none is")
    a = ap.parse_args()

    srv = Server(("127.0.0.1", 0), Handler)
    srv.store = Store()
    srv.log_path = a.log
    srv.tokens = {"github": a.github_token, "gitlab": a.gitlab_token, "job": a.job_token}
    open(a.log, "w").close()
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.replace(tmp, a.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
