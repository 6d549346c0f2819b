#!/usr/bin/env bash
# Installs what the tests need, then runs every test: formatting, lints, unit tests, the
# end-to-end tests over ../shared/corpus, and the generated-capture checks with tshark.
# Usage: bash scripts/test.sh      (as root it installs missing Debian packages itself)
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v tshark >/dev/null 2>&1 || need+=(tshark)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "warning: missing ${need[*]}; run as root to install (tests that need them fail under CI=true)" >&2
  fi
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
