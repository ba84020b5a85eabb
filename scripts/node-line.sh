#!/usr/bin/env bash
# Installs a pinned Node.js release from the npm registry (the `node-linux-<arch>`
# package, which carries the official binary and headers) into a cache outside
# the repository, and prints the directory of its `node` binary.
#
#   scripts/node-line.sh 24            # the pinned 24.x below
#   scripts/node-line.sh 26.12.1       # an exact version
#   PATH="$(scripts/node-line.sh 26):$PATH" node --version
#   NODE_LINE_ARCH=arm64 scripts/node-line.sh 24   # another architecture's binary
#                                                  # (run it with qemu-aarch64)
#
# The cache is $SOCKETSERVER_NODE_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/socketserver/node;
# a version already there is reused without touching the network. Exits 1 with
# a message on stderr when the registry has no such version.
set -euo pipefail

# The exact release CI runs for each line. Bump here, nowhere else.
pinned() {
  case "$1" in
    20) echo 20.20.2 ;;
    22) echo 22.23.5 ;;
    24) echo 24.22.3 ;;
    26) echo 26.12.1 ;;
    *) return 1 ;;
  esac
}

usage() {
  echo "usage: scripts/node-line.sh <line|version>   (lines: 20 22 24 26, or an exact version like 24.22.3)" >&2
  exit 2
}

[ $# -eq 1 ] || usage
case "$1" in
  -h | --help) usage ;;
  *.*.*) version="$1" ;;
  *) version="$(pinned "$1")" || {
    echo "node-line: no pinned version for line '$1' (pinned lines: 20 22 24 26)" >&2
    exit 1
  } ;;
esac

case "${NODE_LINE_ARCH:-$(uname -m)}" in
  x86_64 | amd64 | x64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *)
    echo "node-line: no node-linux package for ${NODE_LINE_ARCH:-$(uname -m)}" >&2
    exit 1
    ;;
esac
[ "$(uname -s)" = Linux ] || {
  echo "node-line: only Linux is supported (the registry's node-linux-$arch package)" >&2
  exit 1
}

cache="${SOCKETSERVER_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/socketserver/node}"
target="$cache/$version-linux-$arch"
if [ -x "$target/bin/node" ]; then
  echo "$target/bin"
  exit 0
fi

mkdir -p "$cache"
work="$(mktemp -d "$cache/.download.XXXXXX")"
trap 'rm -rf "$work"' EXIT
package="node-linux-$arch@$version"
if ! (cd "$work" && npm pack --loglevel=error "$package" >"$work/pack.out" 2>"$work/pack.err"); then
  reason="$({ grep -m1 -E 'notarget|404' "$work/pack.err" || grep -m1 error "$work/pack.err"; } | sed 's/^npm error //')"
  echo "node-line: could not get $package from the npm registry: ${reason:-no reason given}" >&2
  exit 1
fi
tar -xzf "$work/node-linux-$arch-$version.tgz" -C "$work"
actual="$(grep -m1 -o '"version": *"[^"]*"' "$work/package/package.json" | grep -o '[0-9][^"]*')"
if [ "$actual" != "$version" ]; then
  echo "node-line: $package contains node $actual, not $version" >&2
  exit 1
fi
# Another run may have finished the same install meanwhile: keep the first.
mv -T "$work/package" "$target" 2>/dev/null || [ -x "$target/bin/node" ]
echo "$target/bin"
