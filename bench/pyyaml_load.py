#!/usr/bin/env python3
"""The PyYAML baseline of bench/load: yaml.load_all with the C loader
(CSafeLoader, libyaml underneath) over every *.yaml / *.yml file of a
repository, dot-directories skipped as orc8r's loader does.  It builds
Python objects and checks nothing, so it is what a Python tool would pay
just to read the repository.

usage: bench/pyyaml_load.py DIR     prints: files=N docs=N seconds=S
"""

import os
import sys
import time

import yaml


def yaml_files(root):
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if not x.startswith("."))
        for f in sorted(files):
            if f.endswith((".yaml", ".yml")) and not f.startswith("."):
                yield os.path.join(d, f)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: pyyaml_load.py DIR")
    if not hasattr(yaml, "CSafeLoader"):
        sys.exit("pyyaml_load.py: PyYAML was built without libyaml (no CSafeLoader)")
    paths = list(yaml_files(sys.argv[1]))
    t0 = time.perf_counter()
    docs = 0
    last = t0
    tty = sys.stderr.isatty()
    for i, p in enumerate(paths):
        with open(p, "rb") as f:
            for _ in yaml.load_all(f, Loader=yaml.CSafeLoader):
                docs += 1
        now = time.perf_counter()
        if now - last >= (1 if tty else 10):
            # A full-size run takes about a minute: show it is alive.
            last = now
            sys.stderr.write("%spyyaml: %d/%d files, %.0f s%s" % (
                "\r" if tty else "", i + 1, len(paths), now - t0, " " if tty else "\n"))
            sys.stderr.flush()
    if tty:
        sys.stderr.write("\r\033[K")
    print("files=%d docs=%d seconds=%.3f" % (len(paths), docs, time.perf_counter() - t0))


if __name__ == "__main__":
    main()
