#!/usr/bin/env bash
# The main job on a fresh machine: installs the one system library the build needs (Debian's
# libpcap-dev, for `v6watch live`) when it is missing, then builds and runs `v6watch demo`.
# Usage: bash scripts/demo.sh [demo options, e.g. -o DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! [ -e /usr/include/pcap.h ] && ! [ -e /usr/include/pcap/pcap.h ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "installing libpcap-dev (needed to build v6watch)" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libpcap-dev >/dev/null
fi
exec cargo run --release -- demo "$@"
