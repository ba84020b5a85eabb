#!/usr/bin/env bash
# Runs the built workspace's tests on another Node.js line, fetched (once) by
# scripts/node-line.sh: build first (`pnpm build`), then
#   scripts/test-line.sh 26                                   # every test
#   scripts/test-line.sh 22 --project @socketserver/core      # some projects
# Extra arguments go to `vitest run`. The workspace is installed once, with any
# Node line: the packages' only native code is a Node-API addon (transport-unix)
# that loads on every line.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || {
  echo "usage: scripts/test-line.sh <line|version> [vitest args...]" >&2
  exit 2
}
bin="$(scripts/node-line.sh "$1")"
shift
# Child processes that tests start (workers, children, CLIs) run `node` from PATH or process.execPath: both are this line's.
PATH="$bin:$PATH" exec "$bin/node" node_modules/vitest/vitest.mjs run "$@"
