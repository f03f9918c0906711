"""A stand-in for syncd's HTTP API (/tmp/brief/api.md), for the CLI tests.

FakeSyncd serves, on 127.0.0.1 and a free port, over plain http:

  GET  /v1/status[?network=N]       the next answer of a script (see below)
  GET  /v1/gateways/{net}/{gw}/diff  from self.diffs, else 404
  POST /v1/refresh                   202 {"fetch": "queued"}, or self.refresh_error

Every /v1 request must carry "Authorization: Bearer <token>", else 401
{"error": ...}, as syncd answers.  With tls=(cert, key, ca) it serves https
instead, and a client certificate signed by ca also authenticates.  Requests are recorded in self.log as
(method, path-with-query) so tests can check what the CLI asked.

The status script is a function (n, refreshed) -> (http status, JSON
object): n counts the /v1/status calls from 0, refreshed tells whether a
refresh came; it lets a test advance gateways over successive polls.  It
runs in the server thread, one request at a time.
"""
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


def gateway(network, name, desired, applied, state, last_seen=None, error=None,
            version=7):
    """One gateway object of a status."""
    return {"network": network, "name": name,
            "desired_version": version, "desired_commit": desired,
            "applied_version": version if applied == desired else
            (version - 1 if applied else None),
            "applied_commit": applied, "state": state,
            "connected": state != "offline", "last_seen": last_seen,
            "last_error": error}


def status(commit, gateways, rejected=None, version=7):
    """A /v1/status answer with its summary counted from the gateways."""
    summary = {"total": len(gateways), "in_sync": 0, "pending": 0,
               "drifted": 0, "offline": 0, "failed": 0}
    for g in gateways:
        key = g["state"].replace("-", "_")
        summary[key] = summary.get(key, 0) + 1
    return {"version": version, "commit": commit,
            "fetched_at": "2026-11-25T12:00:00Z", "rejected": rejected,
            "summary": summary, "gateways": gateways}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-syncd"

    def log_message(self, fmt, *args):  # quiet: self.server.fake.log records
        pass

    def answer(self, code, obj):
        body = (json.dumps(obj) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def authorised(self):
        fake = self.server.fake
        if self.headers.get("Authorization") == "Bearer " + fake.token:
            return True
        if fake.tls and self.connection.getpeercert():
            return True         # verified against the CA by the handshake
        # as syncd: say what is wrong, never echo what was sent
        self.answer(401, {"error": "missing token" if "Authorization" not in self.headers
                          else "unknown token"})
        return False

    def do_GET(self):
        fake = self.server.fake
        fake.record("GET", self.path, self.headers)
        if not self.authorised():
            return
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/")]
        if url.path == "/v1/status":
            with fake.lock:
                n = fake.status_calls
                fake.status_calls += 1
                code, obj = fake.script(n, fake.refreshed)
            self.answer(code, obj)
        elif len(parts) == 6 and parts[1:3] == ["v1", "gateways"] and parts[5] == "diff":
            d = fake.diffs.get((parts[3], parts[4]))
            if d is None:
                self.answer(404, {"error": "no gateway %s/%s" % (parts[3], parts[4])})
            else:
                self.answer(200, d)
        else:
            self.answer(404, {"error": "not found"})

    def do_POST(self):
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        fake.record("POST", self.path, self.headers)
        if not self.authorised():
            return
        if self.path != "/v1/refresh":
            self.answer(404, {"error": "not found"})
        elif fake.refresh_error:
            self.answer(*fake.refresh_error)
        else:
            with fake.lock:
                fake.refreshed = True
            self.answer(202, {"fetch": "queued"})


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass    # a client that hangs up early (a capped answer) is no news


class FakeSyncd:
    """Context manager: the server runs in a thread between enter and exit."""

    def __init__(self, token, script=None, diffs=None, refresh_error=None, tls=None):
        self.token = token
        self.tls = tls
        self.script = script or (lambda n, refreshed: (200, status(None, [])))
        self.diffs = diffs or {}
        self.refresh_error = refresh_error      # (code, {"error": ...}) or None
        self.refreshed = False
        self.status_calls = 0
        self.log = []
        self.auth_seen = []
        self.lock = threading.Lock()
        self.httpd = None

    def record(self, method, path, headers):
        with self.lock:
            self.log.append((method, path))
            self.auth_seen.append(headers.get("Authorization"))

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http",
                                      self.httpd.server_address[1])

    def __enter__(self):
        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.fake = self
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3     # as syncd
            ctx.load_cert_chain(self.tls[0], self.tls[1])
            ctx.load_verify_locations(self.tls[2])
            ctx.verify_mode = ssl.CERT_OPTIONAL
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        return False
