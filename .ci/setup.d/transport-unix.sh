#!/usr/bin/env bash
# packages/transport-unix ships prebuilt binaries of its Node-API addon for
# linux-x64 and linux-arm64. Its build cross-compiles the arm64 one when
# aarch64-linux-gnu-gcc is there, and .ci/run runs the packed tarball's Unix
# datagram echo on an arm64 Node under qemu-user. Idempotent.
set -euo pipefail
if command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 && command -v qemu-aarch64 >/dev/null 2>&1; then
  echo "transport-unix: arm64 cross compiler and qemu-user already installed"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq gcc-aarch64-linux-gnu qemu-user >/dev/null
echo "transport-unix: installed gcc-aarch64-linux-gnu and qemu-user"
