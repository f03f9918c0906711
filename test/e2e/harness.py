"""harness.py - a real orc8r deployment on 127.0.0.1 for end-to-end tests,
the demo and bench/sync: an operator repository behind a bare git remote,
a PKI, syncd, and agwd --simulate N, each a real process on free ports.

Nothing here sleeps to synchronise: wait_for() polls a condition until a
deadline and fails with what it last saw.
"""
import hashlib
import hmac
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

import yaml

SRC = os.environ.get('O8_SOURCE_DIR') or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get('O8_BIN_DIR') or os.path.join(SRC, 'build', 'bin')


class Failure(Exception):
    pass


def run(cmd, cwd=None, check=True, env=None, input=None):
    p = subprocess.run(cmd, cwd=cwd, env=env, input=input, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and p.returncode != 0:
        raise Failure(f'{" ".join(cmd)}: exit {p.returncode}\n{p.stdout}{p.stderr}')
    return p


def wait_for(what, cond, timeout=30.0, interval=0.05):
    """Polls cond() until it returns a true value; returns that value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = cond()
        except (OSError, urllib.error.URLError, Failure, ValueError) as e:
            last = e
        else:
            if last:
                return last
        time.sleep(interval)
    raise Failure(f'timed out after {timeout:.0f} s waiting for {what}; last: {last!r}'[:2000])


def wait_for_ports(path, proc, timeout=30.0):
    """syncd's --ports-file once it is written ({"listen": "HOST:PORT",
    "bootstrap": ..., "api": ...}); fails at once if proc exits first."""
    def ready():
        if proc.poll() is not None:
            return {'exited': proc.returncode}
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)
    ports = wait_for(f'{proc.args[0]} to write {path}', ready, timeout)
    if 'exited' in ports:
        raise Failure(f'{proc.args[0]} exited {ports["exited"]} before listening')
    return ports


class World:
    """One deployment.  Use as a context manager: everything it started is
    stopped and (unless keep) its directory removed on exit."""

    def __init__(self, agws=3, keep=False, root=None, quiet=True, checkin=5,
                 verbose_syncd=False, hook=None, syncd_args=()):
        self.root = root or tempfile.mkdtemp(prefix='o8e2e.')
        os.makedirs(self.root, exist_ok=True)
        self.keep = keep
        self.nagws = agws
        self.quiet = quiet
        self.checkin = checkin
        self.verbose_syncd = verbose_syncd
        self.hook = hook
        self.syncd_args = list(syncd_args)
        self.agwd_args = []
        self.procs = {}
        self.bad_exits = []     # daemons that did not exit 0 on SIGTERM
        self.work = os.path.join(self.root, 'work')
        self.remote = os.path.join(self.root, 'remote.git')
        self.pki = os.path.join(self.root, 'pki')
        self.sstate = os.path.join(self.root, 'syncd')
        self.astate = os.path.join(self.root, 'agents')
        self.secret_file = os.path.join(self.root, 'webhook.secret')
        # 0: syncd binds free ports and names them in ports_file; a restart
        # asks for the same ones again (the AGWs know them)
        self.ports = {k: 0 for k in ('listen', 'bootstrap', 'api')}
        self.ports_file = os.path.join(self.root, 'syncd.ports')
        self.api = None
        self.ctx = ssl.create_default_context(cafile=None)

    # --- set-up ----------------------------------------------------------

    def orc8r(self, *args, check=True, cwd=None, env=None):
        return run([os.path.join(BIN, 'orc8r'), *args], cwd=cwd or self.work,
                   check=check, env=env)

    def git(self, *args, cwd=None):
        return run(['git', *args], cwd=cwd or self.work)

    def make_repo(self):
        shutil.copytree(os.path.join(SRC, 'examples', 'networks'), self.work)
        run([sys.executable, os.path.join(SRC, 'scripts', 'fleet'), self.work,
             '--total', str(self.nagws)])
        self.write_cli_config()
        run(['git', 'init', '-q', '-b', 'main', self.work])
        self.git('config', 'user.email', 'e2e@orc8r.test')
        self.git('config', 'user.name', 'e2e')
        self.git('add', '-A')
        self.git('commit', '-q', '-m', 'the lab network')
        # the server line changes once syncd has its port: not for commits
        self.git('update-index', '--skip-worktree', '.orc8r/config.yaml')
        run(['git', 'clone', '-q', '--bare', self.work, self.remote])
        self.git('remote', 'add', 'origin', self.remote)
        self.git('fetch', '-q', 'origin')
        self.git('branch', '-q', '-u', 'origin/main')

    def write_cli_config(self):
        os.makedirs(os.path.join(self.work, '.orc8r'), exist_ok=True)
        with open(os.path.join(self.work, '.orc8r', 'config.yaml'), 'w') as f:
            f.write('apiVersion: orc8r/v1\nkind: RepoConfig\n'
                    + (f'server: {self.api}\n' if self.api else '')
                    + 'ca: ../pki/ca.crt\ntoken_file: ../api.token\n')

    def make_pki(self):
        self.orc8r('pki', 'init', self.pki, '--host', '127.0.0.1', '--host', 'localhost')
        tok = self.orc8r('pki', 'api-token', 'e2e', '--role', 'write', '--dir', self.pki)
        self.token = tok.stdout.strip().split()[-1]
        with open(os.path.join(self.root, 'api.token'), 'w') as f:
            f.write(self.token + '\n')
        os.chmod(os.path.join(self.root, 'api.token'), 0o600)
        self.secret = os.urandom(16).hex()
        with open(self.secret_file, 'w') as f:
            f.write(self.secret + '\n')
        os.chmod(self.secret_file, 0o600)
        self.ctx = ssl.create_default_context(cafile=os.path.join(self.pki, 'ca.crt'))

    def gateways(self):
        """(network, name) of every declared gateway, from the YAML."""
        names = []
        for root, _, files in os.walk(os.path.join(self.work, 'networks')):
            for fn in files:
                with open(os.path.join(root, fn)) as fh:
                    for doc in yaml.safe_load_all(fh):
                        if doc and doc.get('kind') == 'Gateway':
                            md = doc['metadata']
                            names.append((md['network'], md['name']))
        return sorted(names)

    def enroll_tokens(self, path=None):
        path = path or os.path.join(self.root, 'tokens.txt')
        lines = []
        for net, name in self.gateways():
            out = self.orc8r('pki', 'enroll-token', f'{net}/{name}', '--dir', self.pki)
            tok = [w for w in out.stdout.split() if w.startswith('o8e1.')]
            if not tok:
                raise Failure(f'no token in: {out.stdout}')
            lines.append(tok[0])
        with open(path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        os.chmod(path, 0o600)
        return path

    # --- processes --------------------------------------------------------

    def start(self, name, cmd, log):
        fh = open(log, 'ab')
        p = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.procs[name] = (p, fh)
        return p

    def stop(self, name, sig=signal.SIGTERM, timeout=20):
        p, fh = self.procs.pop(name)
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        fh.close()
        if sig == signal.SIGTERM and p.returncode != 0:
            # a crash, a hang, or (under ASan) a leak or memory error
            self.bad_exits.append(f'{name} exited {p.returncode} on SIGTERM')
        return p.returncode

    def syncd_cmd(self):
        cmd = [os.path.join(BIN, 'syncd'), '--pki', self.pki,
               '--state-dir', self.sstate,
               '--repo-url', self.remote, '--repo-poll', '0',
               '--listen', f'127.0.0.1:{self.ports["listen"]}',
               '--bootstrap', f'127.0.0.1:{self.ports["bootstrap"]}',
               '--api', f'127.0.0.1:{self.ports["api"]}',
               '--ports-file', self.ports_file,
               '--webhook-secret-file', self.secret_file]
        if self.verbose_syncd:
            cmd.append('-v')
        return cmd + self.syncd_args

    def start_syncd(self):
        # private, or syncd refuses it: it holds every Ki/OPc
        os.makedirs(self.sstate, mode=0o700, exist_ok=True)
        if os.path.exists(self.ports_file):
            os.unlink(self.ports_file)
        p = self.start('syncd', self.syncd_cmd(), os.path.join(self.root, 'syncd.log'))
        ports = wait_for_ports(self.ports_file, p)
        self.ports = {k: int(v.rsplit(':', 1)[1]) for k, v in ports.items()}
        if not self.api:
            self.api = f'https://{ports["api"]}'
            self.write_cli_config()
        wait_for('syncd /readyz', lambda: self.http('GET', '/readyz', raw=True)[0] == 200)

    def agwd_cmd(self, n, tokens):
        cmd = [os.path.join(BIN, 'agwd'), '--simulate', str(n),
               '--server', f'127.0.0.1:{self.ports["listen"]}',
               '--bootstrap', f'https://127.0.0.1:{self.ports["bootstrap"]}',
               '--ca', os.path.join(self.pki, 'ca.crt'), '--state-dir', self.astate,
               '--checkin', str(self.checkin), '--sim-kpis']
        if tokens:
            cmd += ['--enroll-file', tokens]
        if self.hook:
            cmd += ['--reload-hook', self.hook]
        cmd += self.agwd_args
        if self.quiet:
            cmd.append('--quiet')
        return cmd

    def start_agwd(self, tokens=None):
        os.makedirs(self.astate, exist_ok=True)
        self.start('agwd', self.agwd_cmd(self.nagws, tokens),
                   os.path.join(self.root, 'agwd.log'))

    def setup(self):
        self.make_repo()
        self.make_pki()
        self.start_syncd()
        self.start_agwd(self.enroll_tokens())
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for name in list(self.procs):
            self.stop(name)
        if exc[0] is None and self.bad_exits:
            try:
                raise Failure('; '.join(self.bad_exits))
            finally:
                self.keep = True        # the logs say why
        if exc[0] is not None:
            for log in ('syncd.log', 'agwd.log'):
                path = os.path.join(self.root, log)
                if os.path.exists(path):
                    with open(path, errors='replace') as f:
                        tail = f.read()[-4000:]
                    sys.stderr.write(f'--- {log} (tail) ---\n{tail}\n')
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)
        return False

    # --- the API ------------------------------------------------------------

    def http(self, method, path, body=None, headers=None, raw=False, token=True):
        h = dict(headers or {})
        if token and getattr(self, 'token', None):
            h.setdefault('Authorization', f'Bearer {self.token}')
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        req = urllib.request.Request(self.api + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
                status, text = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, text = e.code, e.read()
        if raw:
            return status, text
        if status >= 300:
            raise Failure(f'{method} {path}: HTTP {status}: {text[:300]!r}')
        return json.loads(text)

    def status(self):
        return self.http('GET', '/v1/status')

    def gateway(self, net, name):
        return self.http('GET', f'/v1/gateways/{net}/{name}')

    def webhook(self, body=b'{"ref":"refs/heads/main"}', secret=None, delivery=None):
        """As GitHub sends one: signed, with a delivery id (a fresh one
        unless given)."""
        sig = hmac.new((secret or self.secret).encode(), body, hashlib.sha256).hexdigest()
        return self.http('POST', '/v1/webhook', body=body, raw=True, token=False,
                         headers={'X-Hub-Signature-256': f'sha256={sig}',
                                  'X-GitHub-Delivery': delivery or str(uuid.uuid4()),
                                  'Content-Type': 'application/json'})

    def converged(self, commit=None):
        """The status when every declared gateway is in sync (at commit)."""
        st = self.status()
        if commit and st.get('commit') != commit:
            return None
        s = st['summary']
        if s['total'] == self.nagws and s['in_sync'] == s['total']:
            return st
        return None

    def wait_converged(self, commit=None, timeout=60):
        return wait_for(f'all {self.nagws} AGWs in sync' + (f' at {commit[:12]}' if commit else ''),
                        lambda: self.converged(commit), timeout)

    # --- changes ------------------------------------------------------------

    def commit_push(self, path, edit, message):
        full = os.path.join(self.work, path)
        with open(full) as f:
            text = f.read()
        new = edit(text)
        if new == text:
            raise Failure(f'{path}: the edit changed nothing')
        with open(full, 'w') as f:
            f.write(new)
        self.git('commit', '-q', '-am', message)
        self.git('push', '-q', 'origin', 'main')
        return self.git('rev-parse', 'HEAD').stdout.strip()

    def head(self):
        return self.git('rev-parse', 'HEAD').stdout.strip()
