#!/usr/bin/env python3
"""Golden tests of `orc8r status` text: syncd's JSON in, the table out.

usage: run.py --bin ORC8R [CASE ...]       (no CASE: every case)

A case is a directory here holding:
  input.json    a GET /v1/status answer
  expected.txt  what `orc8r status --input input.json --now NOW` prints
  args          optional: more arguments, one line, split like a shell
                ("--check", "-o json")
  expected.rc   optional: the exit status (default 0)
  now           optional: the time "ago" counts from (default NOW below)
  tty           optional marker: run on a pseudo-terminal, where the state
                words are coloured (line ends are read back as "\\n")

No server is involved: --input and --now are hidden options for this.
stderr must stay empty.  O8_UPDATE_GOLDEN=1 rewrites expected.txt and
expected.rc from what the binary prints.
"""
import argparse
import difflib
import os
import pty
import select
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
NOW = "2026-11-25T12:00:00Z"
TIMEOUT = 30


def read(path, default=None):
    if not os.path.exists(path):
        return default
    with open(path, encoding="utf-8") as f:
        return f.read()


def run_pipe(cmd, env):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=TIMEOUT,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def run_tty(cmd, env):
    """stdout on a pseudo-terminal, stderr on a pipe."""
    master, slave = pty.openpty()
    p = subprocess.Popen(cmd, stdout=slave, stderr=subprocess.PIPE, env=env,
                         stdin=subprocess.DEVNULL)
    os.close(slave)
    out = b""
    while True:
        r, _, _ = select.select([master], [], [], TIMEOUT)
        if not r:
            p.kill()
            raise RuntimeError("no output within %d s" % TIMEOUT)
        try:
            chunk = os.read(master, 65536)
        except OSError:         # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    err = p.stderr.read().decode()
    p.stderr.close()
    rc = p.wait(timeout=TIMEOUT)
    return rc, out.decode().replace("\r\n", "\n"), err


def check_case(binary, case, update):
    d = os.path.join(HERE, case)
    cmd = [binary, "status", "--input", os.path.join(d, "input.json"),
           "--now", (read(os.path.join(d, "now")) or NOW).strip()]
    cmd += shlex.split(read(os.path.join(d, "args"), ""))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORC8R_")}
    env.pop("NO_COLOR", None)
    env["LC_ALL"] = "C"
    tty = os.path.exists(os.path.join(d, "tty"))
    rc, out, err = (run_tty if tty else run_pipe)(cmd, env)
    problems = []
    if err:
        problems.append("stderr is not empty:\n" + err)
    if update:
        with open(os.path.join(d, "expected.txt"), "w", encoding="utf-8") as f:
            f.write(out)
        rc_path = os.path.join(d, "expected.rc")
        if rc:
            with open(rc_path, "w") as f:
                f.write("%d\n" % rc)
        elif os.path.exists(rc_path):
            os.remove(rc_path)
        return problems
    want_rc = int((read(os.path.join(d, "expected.rc")) or "0").strip())
    if rc != want_rc:
        problems.append("exit status %d, want %d" % (rc, want_rc))
    want = read(os.path.join(d, "expected.txt"), "")
    if out != want:
        problems.append("stdout differs from expected.txt:\n" + "".join(difflib.unified_diff(
            want.splitlines(True), out.splitlines(True), "expected.txt", "stdout")))
    return problems


def main():
    ap = argparse.ArgumentParser(description="golden tests of orc8r status")
    ap.add_argument("--bin", required=True)
    ap.add_argument("case", nargs="*")
    a = ap.parse_args()
    binary = os.path.abspath(a.bin)
    update = os.environ.get("O8_UPDATE_GOLDEN") == "1"
    names = a.case or sorted(x for x in os.listdir(HERE)
                             if os.path.isdir(os.path.join(HERE, x)) and not x.startswith("_"))
    failed = 0
    for name in names:
        if not os.path.exists(os.path.join(HERE, name, "input.json")):
            print("FAIL %s\nno such case (no input.json)" % name)
            failed += 1
            continue
        problems = check_case(binary, name, update)
        if problems:
            failed += 1
            print("FAIL %s\n%s" % (name, "\n".join(problems)))
        else:
            print("ok   %s%s" % (name, " (expected files rewritten)" if update else ""))
    if len(names) > 1:
        print("%d/%d cases passed" % (len(names) - failed, len(names)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
