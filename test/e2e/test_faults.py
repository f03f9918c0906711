#!/usr/bin/env python3
"""test_faults.py - what a hostile peer, commit or request does to a live
syncd and agwd, with real processes on 127.0.0.1 (issue 16's "Broke" list,
kept fixed).  One case per ctest test (labels faults and e2e):
test/e2e/test_faults.py CASE.  Cases that draw random numbers print their
seed; O8_FAULTS_SEED=N replays one.
"""
import os
import random
import re
import socket
import ssl
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Failure, World, run, wait_for  # noqa: E402
from test_sync import (AGWS, change_ki, check, closed_by_server, intruder,  # noqa: E402
                       rejected, syncd_log, tls_connect, varint)

SEED = int(os.environ.get('O8_FAULTS_SEED') or random.randrange(1 << 32))
RNG = random.Random(SEED)


# --- protobuf, by hand: what a hostile AGW puts on the wire -----------------

def f_varint(num, v):
    return varint(num << 3) + varint(v)


def f_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return varint(num << 3 | 2) + varint(len(b)) + b


def f_double(num, v):
    return varint(num << 3 | 1) + struct.pack('<d', v)


def frame(msg_field, body):
    env = f_bytes(msg_field, body)
    return len(env).to_bytes(4, 'big') + env


def hello(gateway_id, applied=0):
    return frame(1, f_varint(1, 1) + f_bytes(3, gateway_id)
                 + (f_varint(4, applied) if applied else b''))


def gateway_cert(w, i=0):
    """The certificate, key and gateway id of the i-th simulated AGW."""
    d = sorted(x for x in os.listdir(w.astate) if x.startswith('agw-'))[i]
    crt, key = (os.path.join(w.astate, d, f) for f in ('agw.crt', 'agw.key'))
    subj = run(['openssl', 'x509', '-in', crt, '-noout', '-subject',
                '-nameopt', 'RFC2253']).stdout
    m = re.search(r'CN=([^,\n]+)', subj)
    check(m, f'no CN in {subj!r}')
    return crt, key, m.group(1).replace('\\', '')


def metric(w, name):
    text = w.http('GET', '/metrics', raw=True, token=False)[1].decode()
    m = re.search(r'^' + re.escape(name) + r' (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def rss_kib(pid):
    """(resident, peak resident) of pid, KiB."""
    with open(f'/proc/{pid}/status') as f:
        d = dict(line.split(':', 1) for line in f if ':' in line)
    return int(d['VmRSS'].split()[0]), int(d['VmHWM'].split()[0])


def syncd_pid(w):
    return w.procs['syncd'][0].pid


# --- cases -------------------------------------------------------------------

def case_version(w):
    """A Hello claiming a version syncd never issued (2^64-1, or just above
    the newest) neither moves nor wraps the next version, whoever sends it;
    the fleet converges on the next commit at the next number."""
    st = w.wait_converged()
    v0 = st['version']
    top = (1 << 64) - 1
    # an enrolled certificate for a gateway the repository does not declare
    crt, key = intruder(w, 'mallory')
    s = tls_connect(w, crt, key)
    s.sendall(hello('lab/mallory', top))
    s.settimeout(2.0)
    closed_by_server(s)
    # a declared gateway syncd has a history with, lying
    crt, key, gid = gateway_cert(w)
    for claim in (top, v0 + 1000):
        s = tls_connect(w, crt, key)
        s.sendall(hello(gid, claim))
        check(closed_by_server(s), f'a Hello claiming version {claim} was accepted')
        wait_for(f'the claim of {claim} logged',
                 lambda: f'Hello claims version {claim}, but syncd issued at most {v0}'
                 in syncd_log(w))
    check(w.status()['version'] == v0, 'the version moved')
    commit = change_ki(w, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')
    w.webhook()
    st = w.wait_converged(commit)
    check(st['version'] == v0 + 1, f'version {st["version"]} after {v0}')


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith('case_')}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        sys.exit(f'usage: {sys.argv[0]} {"|".join(CASES)}')
    print(f'seed {SEED} (O8_FAULTS_SEED={SEED} replays it)', flush=True)
    with World(agws=AGWS) as w:
        w.setup()
        CASES[sys.argv[1]](w)
    print(f'ok: {sys.argv[1]}')


if __name__ == '__main__':
    try:
        main()
    except (Failure, subprocess.CalledProcessError) as e:
        print(f'FAIL: {e}', file=sys.stderr)
        sys.exit(1)
