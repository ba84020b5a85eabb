#!/usr/bin/env bash
# bench/: its native load generator (bench/native/loadgen.c) is compiled by the
# bench build, and bench's tests run both generators. Debian images with g++
# (needed by node-gyp for unix-dgram) already have a C compiler; install gcc
# only when none is there. Idempotent.
set -euo pipefail
for compiler in cc gcc g++; do
  if command -v "$compiler" >/dev/null 2>&1; then
    echo "bench: C compiler found ($compiler)"
    exit 0
  fi
done
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq gcc
