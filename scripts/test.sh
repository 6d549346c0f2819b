#!/usr/bin/env bash
# Installs what the tests need, then runs every test: formatting, lints, unit tests, the
# end-to-end tests over ../shared/corpus, the generated-capture checks with tshark, and the
# IPv6-health scenarios on real curl/dnsmasq and live capture in network namespaces (root).
# Usage: bash scripts/test.sh      (as root it installs missing Debian packages itself)
set -euo pipefail
cd "$(dirname "$0")/.."

# command:package pairs: make for building jemalloc, tshark for the differential tests,
# iproute2 to curl for the network-namespace test (tests/netns.rs), chromium for the report's
# browser test, GNU time for the peak-memory test (tests/memory.rs); libpcap-dev to build
# (`v6watch live` links libpcap), tshark's capinfos for the live-capture test (tests/live.rs),
# openssl to make the probe test's CA and certificate (tests/netns.rs), a JRE for Spark (the
# fleet job's test in tests/dataset.rs), promtool and node_exporter for the Prometheus rules
# and metrics files (tests/alerts.rs).
need=()
[ -e /usr/include/pcap.h ] || [ -e /usr/include/pcap/pcap.h ] || need+=(libpcap-dev)
for pair in make:make tshark:tshark ip:iproute2 dnsmasq:dnsmasq-base nft:nftables tcpdump:tcpdump curl:curl chromium:chromium /usr/bin/time:time capinfos:tshark openssl:openssl java:default-jre-headless promtool:prometheus prometheus-node-exporter:prometheus-node-exporter; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "warning: missing ${need[*]}; run as root to install (tests that need them fail under CI=true)" >&2
  fi
fi

# The fleet engines the dataset test runs the SQL on (PyPI; pinned so the result is reproducible).
py_engines="pyspark==4.3.0 datafusion==55.0.0 duckdb==2.0.1 pyarrow==26.0.1"
if ! python3 -c "import pyspark, datafusion, duckdb, pyarrow" >/dev/null 2>&1; then
  echo "installing: $py_engines"
  python3 -m pip install -q $py_engines || python3 -m pip install -q --break-system-packages $py_engines \
    || echo "warning: could not install $py_engines (tests/dataset.rs fails under CI=true)" >&2
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The fuzz targets are a crate of their own (cargo-fuzz runs them on nightly): they must keep
# compiling against the engine, checked here on the stable toolchain.
cargo check --manifest-path fuzz/Cargo.toml --bins
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace 2>&1 | tee "$log"
# One closing line for the whole run (cargo prints one per test binary, the last often for doc
# tests with nothing in them).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
# The README's command samples must be what the current binary prints.
python3 scripts/readme-samples.py --check --bin target/debug/v6watch
