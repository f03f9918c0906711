#!/usr/bin/env bash
# scripts/deps.sh - install the Debian 12 (bookworm) packages that orc8r
# needs to build, test, fuzz and run its demo.  One list, shared by
# .ci/run, test/run and ./demo.
#
# usage: scripts/deps.sh [--list]
# Needs root (or sudo).  When every package is already installed it does
# nothing, except under CI=true or O8_DEPS_FORCE=1, where it always runs
# apt-get update + install so a fresh machine is set up the same way.
set -euo pipefail

packages=(
	build-essential cmake pkg-config    # compiler, CMake + CTest
	libyaml-dev libjansson-dev          # lib/: YAML parsing, JSON output
	libcmocka-dev                       # test/unit
	clang libclang-rt-14-dev llvm       # fuzz/: libFuzzer runtime, llvm-symbolizer
	python3 python3-yaml python3-jsonschema  # bench: PyYAML baseline; test: JSON Schema
	groff-base man-db                   # man/: rendering checks
	time git ca-certificates            # bench (peak RSS), demo, tests
	libprotobuf-c-dev protobuf-c-compiler libgnutls28-dev nettle-dev  # lib/repo/compile.c: records (protobuf-c), SHA-256/HMAC, hex
	libcurl4-gnutls-dev                 # cli/forge.c: plan comment via the GitHub/GitLab API
	libgit2-dev                         # lib/repo/git.c: revisions, commit, push (git: test/git daemon)
	libsqlite3-dev                      # syncd/store_sqlite.c: syncd's store
	libpq-dev postgresql                # syncd/store_pg.c; test/pg: initdb + pg_ctl (PostgreSQL 15) run its tests
	gnutls-bin                          # test: certtool checks the PKI (lib/proto/pki.c) independently
	libuv1-dev libmicrohttpd-dev        # syncd, agwd: event loops; syncd's HTTP API and bootstrap port
)

if [ "${1:-}" = --list ]; then
	printf '%s\n' "${packages[@]}"
	exit 0
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ] && [ "${CI:-}" != true ] && [ "${O8_DEPS_FORCE:-0}" != 1 ]; then
	echo "deps: all ${#packages[@]} packages are installed"
	exit 0
fi

sudo=
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null; then
		sudo=sudo
	else
		echo "deps: missing ${missing[*]}; run as root: apt-get install ${packages[*]}" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
echo "deps: apt-get update"
$sudo apt-get update -q
echo "deps: apt-get install ${packages[*]}"
$sudo apt-get install -y -q --no-install-recommends "${packages[@]}"
