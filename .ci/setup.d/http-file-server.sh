#!/usr/bin/env bash
# apps/http-file-server: its end-to-end test drives Debian's chromium through
# playwright-core (which downloads no browser of its own), and its flag tests
# use curl (with its own brotli and gzip decoders). Idempotent: apt is skipped
# when both are already there.
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -eq 0 ]; then
  echo "http-file-server: chromium and curl already installed"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}"
/usr/bin/chromium --version || true
