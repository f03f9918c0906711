#!/usr/bin/env python3
"""test_sync.py - the sync loop end to end with real processes on 127.0.0.1:
syncd, agwd --simulate, a bare git remote, the PKI.  One case per ctest
test: test/e2e/test_sync.py CASE.  Each starts its own world on free ports
and stops it afterwards.
"""
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, Failure, World, run, wait_for, wait_for_ports  # noqa: E402

AGWS = 6
OLD_KI = '6b0d549b6f03675a1600a35a099950d8'       # subscriber 001010000000005
SIMS = 'networks/lab/subscribers/lab-sims.yaml'


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def change_ki(w, new):
    return w.commit_push(SIMS, lambda t: t.replace(OLD_KI, new, 1),
                         'rotate the ki of 001010000000005')


def bytes_sent(w):
    st = w.status()
    return {(g['network'], g['name']): w.gateway(g['network'], g['name'])['bytes_sent']
            for g in st['gateways']}


def agent_dirs(w):
    return sorted(os.path.join(w.astate, d) for d in os.listdir(w.astate)
                  if d.startswith('agw-'))


# --- cases -------------------------------------------------------------------

def case_converge(w):
    st = w.wait_converged()
    check(st['summary']['failed'] == 0, st)
    for d in agent_dirs(w):
        mc = os.path.join(d, 'current', 'gateway.mconfig')
        check(os.path.exists(mc), f'{mc} missing')
        with open(mc) as f:
            text = f.read()
        check('configsByKey' in text, f'{mc}: not an mconfig')
        check(OLD_KI not in text, f'{mc}: a Ki in the mconfig')
        mode = os.stat(os.path.join(d, 'agw.key')).st_mode & 0o777
        check(mode == 0o600, f'agw.key mode {oct(mode)}')
    g = st['gateways'][0]
    one = w.gateway(g['network'], g['name'])
    wait_for('a state report with KPIs',
             lambda: 'uptime_s' in w.gateway(g['network'], g['name'])['kpis'])
    check(one['applied_commit'] == st['commit'], one)
    ev = w.http('GET', '/v1/events?limit=50')['events']
    check(any(e['action'].startswith('compile version') for e in ev), ev)
    # the CLI reads the same API
    out = w.orc8r('status')
    check(f'{AGWS} gateways: {AGWS} in-sync' in out.stdout, out.stdout)


def case_delta(w):
    st = w.wait_converged()
    before = bytes_sent(w)
    check(all(b > 5000 for b in before.values()), f'first sync too small: {before}')
    commit = change_ki(w, '00112233445566778899aabbccddeeff')
    code, _ = w.webhook()
    check(code == 202, f'webhook: {code}')
    st = w.wait_converged(commit, timeout=30)
    after = bytes_sent(w)
    for gw, b in after.items():
        sent = b - before[gw]
        # one Subscriber record (~170 bytes with its digest) in one frame
        # and one TLS record: far below the first full sync
        check(0 < sent < 600, f'{gw}: {sent} bytes for a one-subscriber change')
    check(st['version'] == 2, st)
    d = w.http('GET', f'/v1/gateways/lab/{st["gateways"][0]["name"]}/diff')
    check(d['exact'] and not d['upserts'] and not d['deletes'], d)


def case_agwd_restart(w):
    w.wait_converged()
    before = bytes_sent(w)
    w.stop('agwd', signal.SIGKILL)
    wait_for('every AGW offline', lambda: w.status()['summary']['offline'] == AGWS)
    w.start_agwd()
    w.wait_converged()
    check(bytes_sent(w) == before, 'a restarted agwd was sent config again')


def case_syncd_restart(w):
    st = w.wait_converged()
    ev_before = w.http('GET', '/v1/events?limit=100')['events']
    w.stop('syncd', signal.SIGKILL)
    w.start_syncd()
    st2 = w.wait_converged(st['commit'])
    check(st2['version'] == st['version'], f'version moved: {st["version"]} -> {st2["version"]}')
    check(all(v == 0 for v in bytes_sent(w).values()), 'config resent after a syncd restart')
    ids = {e['id'] for e in w.http('GET', '/v1/events?limit=1000')['events']}
    check(all(e['id'] in ids for e in ev_before), 'events lost')
    # and a change after the restart still goes out as a delta
    commit = change_ki(w, 'ffeeddccbbaa99887766554433221100')
    w.webhook()
    w.wait_converged(commit)
    check(all(0 < v < 600 for v in bytes_sent(w).values()), bytes_sent(w))


def case_store_lost(w):
    """syncd loses its whole state dir: the AGWs hold newer versions than it
    knows, so it renumbers the commit above theirs and, comparing digests,
    sends nothing but the version."""
    st = w.wait_converged()
    commit = change_ki(w, '00000000000000000000000000000001')
    w.webhook()
    st = w.wait_converged(commit)
    check(st['version'] == 2, st)
    w.stop('syncd', signal.SIGKILL)
    import shutil
    shutil.rmtree(w.sstate)
    w.start_syncd()
    st = w.wait_converged(commit)
    check(st['version'] > 2, f'not renumbered above the AGWs: {st["version"]}')
    # digests matched: only an empty delta (the new number) went out
    check(all(v < 200 for v in bytes_sent(w).values()), bytes_sent(w))


def case_offline_change(w):
    w.wait_converged()
    before = bytes_sent(w)
    w.stop('agwd')
    wait_for('every AGW offline', lambda: w.status()['summary']['offline'] == AGWS)
    commit = change_ki(w, '0123456789abcdef0123456789abcdef')
    w.webhook()
    wait_for('the new commit compiled', lambda: w.status()['commit'] == commit)
    w.start_agwd()
    w.wait_converged(commit)
    for gw, b in bytes_sent(w).items():
        sent = b - before[gw]
        check(0 < sent < 600, f'{gw}: {sent} bytes after an offline change')


def case_far_behind(w):
    """Offline for two commits, so syncd no longer holds the generation the
    AGWs acked: their Hello's per-kind digests name the kind that differs,
    a DigestRequest gets that kind's record digests, and each AGW is sent
    the one record it lacks -- not its whole config."""
    w.wait_converged()
    before = bytes_sent(w)
    w.stop('agwd')
    wait_for('every AGW offline', lambda: w.status()['summary']['offline'] == AGWS)
    kis = [OLD_KI, '0123456789abcdef0123456789abcdef', 'fedcba9876543210fedcba9876543210']
    for old, new in zip(kis, kis[1:]):
        commit = w.commit_push(SIMS, lambda t: t.replace(old, new, 1), 'rotate a ki')
        w.webhook()
        wait_for('the new commit compiled', lambda: w.status()['commit'] == commit)
    w.start_agwd()
    w.wait_converged(commit)
    for gw, b in bytes_sent(w).items():
        sent = b - before[gw]
        check(0 < sent < 600, f'{gw}: {sent} bytes after two offline changes')
    wait_for('the digest path logged',
             lambda: syncd_log(w).count('digests of') == AGWS)
    check(all('1 to send, 0 to delete' in l for l in syncd_log(w).splitlines()
              if 'digests of' in l), 'more than the changed record sent')


def case_webhook(w):
    w.wait_converged()
    code, _ = w.webhook(secret='not-the-secret')
    check(code == 401, f'webhook with a wrong signature: {code}')
    code, _ = w.http('POST', '/v1/webhook', body=b'{}', raw=True, token=False)
    check(code == 401, f'webhook without a signature: {code}')
    code, _ = w.http('GET', '/v1/status', raw=True, token=False)
    check(code == 401, f'status without a token: {code}')
    commit = change_ki(w, 'abcdefabcdefabcdefabcdefabcdef01')
    code, _ = w.webhook()
    check(code == 202, code)
    w.wait_converged(commit, timeout=20)
    ev = w.http('GET', '/v1/events?limit=20')['events']
    check(any(e['actor'] == 'webhook' and e['commit'] == commit for e in ev), ev)
    text = w.http('GET', '/metrics', raw=True, token=False)[1].decode()
    check(re.search(r'^orc8r_syncd_agws_in_sync %d$' % AGWS, text, re.M), text)


def case_config(w):
    """syncd -n, SIGHUP with a broken and then a good file, SIGTERM."""
    w.wait_converged()
    cfg = os.path.join(w.root, 'syncd.yaml')
    with open(cfg, 'w') as f:
        f.write('repo:\n  poll: 0\nlog_level: info\n')
    syncd = w.syncd_cmd()
    p = run(syncd + ['-c', cfg, '-n'], check=False)
    check(p.returncode == 0 and 'config OK' in p.stdout, p.stdout + p.stderr)
    bad = run([a for a in syncd if a != w.pki] + ['-n'], check=False)
    check(bad.returncode != 0, 'syncd -n accepted a config without its PKI')
    p = run(syncd[:1] + ['-n', '--repo-url', w.remote, '--pki', w.root + '/nope'],
            check=False)
    check(p.returncode == 3 and 'nope/ca.crt' in p.stderr, p.stderr)
    # restart syncd on the file, then reload it broken and fixed
    w.stop('syncd')
    w.syncd_args = ['-c', cfg]
    w.start_syncd()
    w.wait_converged()
    with open(cfg, 'w') as f:
        f.write('repo:\n  poll: [not a number\n')
    w.procs['syncd'][0].send_signal(signal.SIGHUP)
    wait_for('the broken reload refused', lambda: 'reload refused' in syncd_log(w))
    check(w.status()['summary']['in_sync'] == AGWS, 'syncd stopped serving after a bad reload')
    check('api: GET /v1/status 200' not in syncd_log(w), 'info level logs every request')
    with open(cfg, 'w') as f:
        f.write('repo:\n  poll: 0\nlog_level: debug\n')
    w.procs['syncd'][0].send_signal(signal.SIGHUP)
    wait_for('the good reload applied', lambda: 'config reloaded' in syncd_log(w))
    w.status()      # debug logs every API request: the new level is live
    wait_for('a request logged at debug level',
             lambda: 'api: GET /v1/status 200' in syncd_log(w))
    code = w.stop('syncd')
    check(code == 0, f'syncd exited {code} on SIGTERM')
    check('stopping' in syncd_log(w), 'no stop logged')


def case_reload_hook(w):
    """agwd runs --reload-hook after each applied version, with the version
    and the config directory in its environment."""
    log = os.path.join(w.root, 'hook.log')
    st = w.wait_converged()

    def lines():
        with open(log) as f:
            return f.read().splitlines()
    wait_for('a hook run per AGW', lambda: len(lines()) == AGWS)
    check(all(l.startswith('1 ') and l.endswith('/current') for l in lines()), lines())
    commit = change_ki(w, '99999999999999999999999999999999')
    w.webhook()
    w.wait_converged(commit)
    wait_for('a second hook run per AGW', lambda: len(lines()) == 2 * AGWS)
    check(sum(l.startswith('2 ') for l in lines()) == AGWS, lines())
    mc = lines()[-1].split(' ', 1)[1] + '/gateway.mconfig'
    check(os.path.exists(mc), mc)
    del st


def case_renewal(w):
    """Every AGW renews its certificate over the bootstrap port (client
    auth with the current one), then reconnects with the new one."""
    w.wait_converged()
    certs = {d: open(os.path.join(d, 'agw.crt')).read() for d in agent_dirs(w)}
    w.stop('agwd')
    w.agwd_args = ['--renew-in', '1']
    w.start_agwd()

    def renewed():
        return all(open(os.path.join(d, 'agw.crt')).read() != pem
                   for d, pem in certs.items())
    wait_for('every certificate renewed', renewed)
    for d in certs:
        mode = os.stat(os.path.join(d, 'agw.crt')).st_mode & 0o777
        check(mode == 0o600, f'{d}/agw.crt mode {oct(mode)}')
    ev = w.http('GET', '/v1/events?limit=100')['events']
    check(sum(e['action'].startswith('renew') and e['result'] == 'ok' for e in ev) == AGWS, ev)
    w.stop('agwd')
    w.agwd_args = []
    w.start_agwd()
    w.wait_converged()
    out = w.orc8r('pki', 'list', '--dir', w.pki).stdout
    check(len(re.findall(r'agw-berlin-1', out)) == 2, out)


# --- a hand-made client: what a broken or hostile AGW could send ---------------

def varint(n):
    out = b''
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def hello(gateway_id):
    gid = gateway_id.encode()
    inner = b'\x08\x01' + b'\x1a' + varint(len(gid)) + gid
    env = b'\x0a' + varint(len(inner)) + inner
    return len(env).to_bytes(4, 'big') + env


def intruder(w, name):
    """A certificate for lab/NAME (not a declared gateway), enrolled like an AGW."""
    d = os.path.join(w.root, name)
    os.makedirs(d)
    key, req, tmpl = (os.path.join(d, f) for f in ('k.pem', 'req.pem', 't.cfg'))
    with open(tmpl, 'w') as f:
        f.write(f'cn = "lab/{name}"\n')
    run(['certtool', '--generate-privkey', '--key-type', 'ecdsa', '--curve', 'secp256r1',
         '--outfile', key])
    run(['certtool', '--generate-request', '--load-privkey', key, '--template', tmpl,
         '--outfile', req])
    tok = w.orc8r('pki', 'enroll-token', f'lab/{name}', '--dir', w.pki).stdout
    tok = [t for t in tok.split() if t.startswith('o8e1.')][0]
    with open(req) as f:
        body = ('{"token": "%s", "csr": %s}' % (tok, __import__('json').dumps(f.read()))).encode()
    ctx = ssl.create_default_context(cafile=os.path.join(w.pki, 'ca.crt'))
    r = urllib.request.Request(f'https://127.0.0.1:{w.ports["bootstrap"]}/v1/enroll',
                               data=body, method='POST',
                               headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(r, context=ctx, timeout=10) as resp:
        cert = __import__('json').loads(resp.read())['certificate']
    crt = os.path.join(d, 'c.pem')
    with open(crt, 'w') as f:
        f.write(cert)
    return crt, key


def tls_connect(w, crt, key):
    ctx = ssl.create_default_context(cafile=os.path.join(w.pki, 'ca.crt'))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(crt, key)
    raw = socket.create_connection(('127.0.0.1', w.ports['listen']), timeout=10)
    return ctx.wrap_socket(raw, server_hostname='127.0.0.1')


def closed_by_server(s):
    """True when the server ends the connection (EOF) within the timeout."""
    try:
        while True:
            if not s.recv(65536):
                return True
    except (ssl.SSLError, ConnectionResetError, ssl.SSLEOFError):
        return True
    except socket.timeout:
        return False


def syncd_log(w):
    with open(os.path.join(w.root, 'syncd.log'), errors='replace') as f:
        return f.read()


def rejected(w):
    text = w.http('GET', '/metrics', raw=True, token=False)[1].decode()
    m = re.search(r'^orc8r_syncd_frames_rejected_total (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def case_bad_frame(w):
    w.wait_converged()
    crt, key = intruder(w, 'fuzzer')
    s = tls_connect(w, crt, key)
    s.sendall(b'\xff\xff\xff\xff')      # 4 GiB announced: over the limit
    check(closed_by_server(s), 'a 4 GiB frame did not close the connection')
    s = tls_connect(w, crt, key)
    s.sendall(b'\x00\x00\x00\x03\xff\xff\xff')   # undecodable
    check(closed_by_server(s), 'an undecodable frame did not close the connection')
    s = tls_connect(w, crt, key)
    s.sendall(b'\x00\x00\x00\x02\x1a\x00')       # an Ack before Hello
    check(closed_by_server(s), 'a message out of order did not close the connection')
    wait_for('three rejections counted', lambda: rejected(w) >= 3)
    st = w.converged()
    check(st and st['summary']['in_sync'] == AGWS, 'other AGWs were disturbed')
    wait_for('the bad frame logged with its reason', lambda: 'bad frame' in syncd_log(w))


def case_isolation(w):
    st = w.wait_converged()
    victim = st['gateways'][0]['name']
    crt, key = intruder(w, 'mallory')
    s = tls_connect(w, crt, key)
    s.sendall(hello(f'lab/{victim}'))
    check(closed_by_server(s), 'a Hello for another gateway was accepted')
    wait_for('the impersonation logged with its reason',
             lambda: 'certificate says lab/mallory' in syncd_log(w))
    g = w.gateway('lab', victim)
    check(g['connected'] and g['state'] == 'in-sync', f'the victim was disturbed: {g}')
    # its own identity: accepted, and it is sent nothing (it is not declared)
    s = tls_connect(w, crt, key)
    s.sendall(hello('lab/mallory'))
    s.settimeout(1.0)
    data = s.recv(65536)
    check(data and len(data) < 200, f'an undeclared gateway got {len(data)} bytes')
    s.close()
    # revoked: refused at the handshake's end
    w.orc8r('pki', 'revoke', 'lab/mallory', '--dir', w.pki)
    s = tls_connect(w, crt, key)
    s.sendall(hello('lab/mallory'))
    check(closed_by_server(s), 'a revoked certificate was accepted')


def case_api_cert(w):
    """An operator's client certificate instead of a token: `orc8r pki
    api-cert` makes it, the CLI (options or .orc8r/config.yaml) and any TLS
    client reach the API with it, its role holds, and revoking it shuts it
    out at the next request."""
    w.wait_converged()
    out_dir = os.path.join(w.root, 'alice')
    p = w.orc8r('pki', 'api-cert', 'alice', '--dir', w.pki, '--out', out_dir)
    crt, key = (os.path.join(out_dir, 'alice.' + ext) for ext in ('crt', 'key'))
    check(f'cert: {crt}\n' in p.stdout and f'key: {key}\n' in p.stdout, p.stdout)
    check(os.stat(key).st_mode & 0o777 == 0o600, 'alice.key is not 0600')
    env = {k: v for k, v in os.environ.items() if k != 'ORC8R_TOKEN'}
    in_sync = f'{AGWS} gateways: {AGWS} in-sync'
    out = w.orc8r('status', '--cert', crt, '--key', key, env=env)
    check(in_sync in out.stdout, out.stdout)
    cfg = os.path.join(w.work, '.orc8r', 'config.yaml')
    with open(cfg) as f:
        text = f.read()
    with open(cfg, 'w') as f:
        f.write(text.replace('token_file: ../api.token\n', f'cert: {crt}\nkey: {key}\n'))
    out = w.orc8r('status', env=env)
    check(in_sync in out.stdout, out.stdout)

    ctx = ssl.create_default_context(cafile=os.path.join(w.pki, 'ca.crt'))
    ctx.load_cert_chain(crt, key)

    def call(method, path):
        req = urllib.request.Request(w.api + path, method=method,
                                     data=b'{}' if method == 'POST' else None)
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
    code, body = call('GET', '/v1/status')
    check(code == 200, f'GET /v1/status with the certificate: {code} {body[:200]!r}')
    st = __import__('json').loads(body)
    check(st['summary']['in_sync'] == AGWS, st['summary'])
    code, body = call('POST', '/v1/refresh')
    check(code == 403 and b"certificate 'alice' has role read" in body,
          f'POST /v1/refresh with a read certificate: {code} {body[:200]!r}')

    w.orc8r('pki', 'revoke', '--operator', 'alice', '--dir', w.pki)
    code, body = call('GET', '/v1/status')
    check(code == 401, f'a revoked certificate: {code} {body[:200]!r}')
    out = w.orc8r('status', env=env, check=False)
    check(out.returncode == 1, f'orc8r status with a revoked certificate: exit '
          f'{out.returncode}\n{out.stdout}{out.stderr}')
    wait_for('the refusal logged with its reason',
             lambda: 'operator certificate refused' in syncd_log(w)
             and 'revoked' in syncd_log(w))
    check(w.status()['summary']['in_sync'] == AGWS, 'the token stopped working')


def case_ports(w):
    """Two more syncd started at once, every listener on port 0: both come
    up on ports of their own, and each one's --ports-file names the ports it
    really serves on."""
    w.wait_converged()
    started = []
    for i in (1, 2):
        d = os.path.join(w.root, f'syncd{i}')
        os.makedirs(d, mode=0o700)
        pf = os.path.join(d, 'ports.json')
        cmd = [os.path.join(BIN, 'syncd'), '--pki', w.pki, '--state-dir', d,
               '--repo-url', w.remote, '--repo-poll', '0',
               '--webhook-secret-file', w.secret_file, '--ports-file', pf,
               '--listen', '127.0.0.1:0', '--bootstrap', '127.0.0.1:0',
               '--api', '127.0.0.1:0']
        started.append((w.start(f'syncd{i}', cmd, os.path.join(d, 'syncd.log')), pf))
    seen = set(w.ports.values())
    for p, pf in started:
        ports = wait_for_ports(pf, p)
        check(sorted(ports) == ['api', 'bootstrap', 'listen'], ports)
        for name, addr in ports.items():
            host, port = addr.rsplit(':', 1)
            check(host == '127.0.0.1' and 0 < int(port) < 65536, f'{name}: {addr}')
            check(int(port) not in seen, f'{name}: port {port} named twice')
            seen.add(int(port))
        for name in ('listen', 'bootstrap'):
            socket.create_connection(ports[name].rsplit(':', 1), timeout=10).close()

        def ready(api=ports['api']):
            req = urllib.request.Request(f'https://{api}/readyz')
            with urllib.request.urlopen(req, context=w.ctx, timeout=10) as r:
                return r.status == 200
        wait_for(f'syncd on {ports["api"]} /readyz', ready)
    for i in (1, 2):
        code = w.stop(f'syncd{i}')
        check(code == 0, f'syncd{i} exited {code} on SIGTERM')


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith('case_')}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        sys.exit(f'usage: {sys.argv[0]} {"|".join(CASES)}')
    with World(agws=AGWS) as w:
        w.verbose_syncd = sys.argv[1] == 'far_behind'
        if sys.argv[1] == 'reload_hook':
            w.hook = 'echo "$ORC8R_VERSION $ORC8R_CONFIG_DIR" >> %s/hook.log' % w.root
        w.setup()
        CASES[sys.argv[1]](w)
    print(f'ok: {sys.argv[1]}')


if __name__ == '__main__':
    try:
        main()
    except (Failure, subprocess.CalledProcessError) as e:
        print(f'FAIL: {e}', file=sys.stderr)
        sys.exit(1)
