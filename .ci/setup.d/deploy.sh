#!/usr/bin/env bash
# Deployment tests (issue 18): transport-inet, transport-unix and the apps run a
# real HAProxy (PROXY protocol), certificates made by openssl at test time, and
# systemd-socket-activate (socket activation). All from Debian's packages:
# haproxy, openssl, systemd (which ships systemd-socket-activate). Nothing is
# started: the tests start their own haproxy on loopback. Idempotent: apt runs
# only when a command is missing.
set -euo pipefail
missing=()
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v systemd-socket-activate >/dev/null 2>&1 || missing+=(systemd)
if [ ${#missing[@]} -eq 0 ]; then
  echo "deploy: haproxy, openssl and systemd-socket-activate found"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# Installing haproxy or systemd must not start a service on the CI machine:
# a policy-rc.d that refuses (exit 101) is put in place for the install only,
# unless one is already there.
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  added_policy=1
fi
trap '[ "$added_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
/usr/sbin/haproxy -v | head -1
openssl version
systemd-socket-activate --version | head -1
