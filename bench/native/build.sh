#!/bin/sh
# Compiles the native load generator (native/loadgen.c) into dist/loadgen-native.
# Tries ${CC:-cc}, then gcc, then g++ in C mode. Never fails the build: without a
# C compiler (or on a system without epoll) the binary is simply not there and
# the runner uses the Node generator (dist/loadgen.js), saying so in its report.
cd "$(dirname "$0")/.." || exit 0
out=dist/loadgen-native
rm -f "$out"
mkdir -p dist
for compiler in "${CC:-cc}" gcc "g++ -x c"; do
  first=${compiler%% *}
  command -v "$first" >/dev/null 2>&1 || continue
  # shellcheck disable=SC2086 # $compiler may carry flags (g++ -x c)
  if $compiler -std=c99 -O2 -Wall -Wextra -o "$out.tmp" native/loadgen.c -lm 2>dist/loadgen-native.log; then
    mv "$out.tmp" "$out"
    rm -f dist/loadgen-native.log
    echo "native load generator: $out (built with $compiler)"
    exit 0
  fi
  echo "native load generator: $compiler failed (see dist/loadgen-native.log), trying the next compiler" >&2
done
rm -f "$out.tmp"
echo "native load generator: not built (no working C compiler); the benchmark will use the Node generator" >&2
exit 0
