#!/usr/bin/env bash
# apps/http-file-server: its end-to-end test drives Debian's chromium through
# playwright-core (which downloads no browser of its own). Idempotent: apt is
# skipped when /usr/bin/chromium is already there.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "http-file-server: chromium already installed"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium
/usr/bin/chromium --version || true
