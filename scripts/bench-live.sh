#!/usr/bin/env bash
# Live-capture benchmark (root): replays a capture through a veth pair at increasing packet rates
# and reports, for each rate, what `v6watch live -w` (with the whole analysis: flows, events,
# findings, metrics) and `dumpcap -w` kept and dropped, one after the other in the same run;
# then v6watch's CPU time per packet live against `v6watch flows` on the same file.
# Usage: bash scripts/bench-live.sh CAPTURE [RATE_PPS...]
#   e.g. bash scripts/bench-live.sh /tmp/bench.pcap 50000 100000 200000 400000
# Needs tcpreplay and dumpcap (Debian: tcpreplay, wireshark-common), iproute2.
set -euo pipefail
cd "$(dirname "$0")/.."
cap=${1:?usage: bench-live.sh CAPTURE [RATE_PPS...]}
shift
rates=("$@")
[ ${#rates[@]} -gt 0 ] || rates=(50000 100000 200000 400000)
bin=$PWD/target/release/v6watch
[ -x "$bin" ] || cargo build --release
work=$(mktemp -d)
a=v6wbench_a b=v6wbench_b
cleanup() { ip netns del $a 2>/dev/null || true; ip netns del $b 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cleanup
mkdir -p "$work"
ip netns add $a
ip netns add $b
ip link add bva netns $a type veth peer name bvb netns $b
ip -n $a link set bva up
ip -n $b link set bvb up
ip -n $a link set bva mtu 9000
ip -n $b link set bvb mtu 9000
# At most 400,000 packets per rate: long enough to fill any buffer, short enough to run quickly.
pkts=$(capinfos -c -M "$cap" | awk '/Number of packets/ { print $NF }')
limit=$(( pkts < 400000 ? pkts : 400000 ))
printf 'capture %s: %s packets, replaying %s per rate\n' "$cap" "$pkts" "$limit"
printf '%-10s %-10s %-8s %10s %10s %10s\n' RATE ACHIEVED TOOL SENT KEPT DROPPED

measure() { # tool rate
  local tool=$1 rate=$2 pid
  rm -rf "$work/out"; mkdir -p "$work/out"
  case $tool in
    v6watch) ip netns exec $b "$bin" live -i bvb -w "$work/out" --rotate-size 100M --out "$work/out" \
               --sensor bench --every 5s --prometheus "$work/out/m.prom" >/dev/null 2>"$work/err" & ;;
    dumpcap) ip netns exec $b dumpcap -q -i bvb -B 64 -w "$work/out/dumpcap.pcapng" -b filesize:102400 \
               >/dev/null 2>"$work/err" & ;;
  esac
  pid=$!
  for _ in $(seq 100); do grep -q -e capturing -e Capturing "$work/err" 2>/dev/null && break; sleep 0.1; done
  sleep 0.5
  local sent out achieved
  out=$(ip netns exec $a tcpreplay -q -i bva --pps="$rate" --limit="$limit" "$cap" 2>&1)
  sent=$(awk '/Actual:/ { print $2; exit }' <<<"$out")
  achieved=$(awk '/Rated:/ { for (i = 1; i <= NF; i++) if ($(i+1) ~ /^pps/) { printf "%d", $i; exit } }' <<<"$out")
  sleep 1
  kill -TERM $pid
  wait $pid || true
  local kept dropped
  case $tool in
    v6watch)
      kept=$(grep -o '[0-9]* packets captured' "$work/err" | awk '{ print $1 }')
      dropped=$(grep -o '[0-9]* dropped by kernel' "$work/err" | awk '{ print $1 }') ;;
    dumpcap)
      kept=$(grep -o 'Packets captured: [0-9]*' "$work/err" | awk '{ print $3 }')
      dropped=$(grep -o 'received/dropped on interface [^:]*: [0-9]*/[0-9]*' "$work/err" | awk -F/ '{ print $NF }') ;;
  esac
  printf '%-10s %-10s %-8s %10s %10s %10s\n' "$rate" "${achieved:-?}" "$tool" "$sent" "${kept:-?}" "${dropped:-?}"
}

for r in "${rates[@]}"; do
  measure v6watch "$r"
  measure dumpcap "$r"
done

# CPU per packet: the same packets live (at the first rate, user+sys of the whole process)
# against `flows` and `report` reading the file.
n=$limit
head_cap="$work/head.pcap"
editcap -r "$cap" "$head_cap" "1-$n" >/dev/null
t0=$(date +%s.%N)
/usr/bin/time -f '%U %S' -o "$work/flows.time" "$bin" flows --format jsonl "$head_cap" >/dev/null
/usr/bin/time -f '%U %S' -o "$work/report.time" "$bin" report -o "$work/r.html" "$head_cap" 2>/dev/null
rm -rf "$work/out"; mkdir -p "$work/out"
ip netns exec $b /usr/bin/time -f '%U %S' -o "$work/live.time" "$bin" live -i bvb -w "$work/out" \
  --out "$work/out" --sensor bench >/dev/null 2>"$work/err" &
pid=$!
for _ in $(seq 100); do grep -q capturing "$work/err" 2>/dev/null && break; sleep 0.1; done
ip netns exec $a tcpreplay -q -i bva --pps="${rates[0]}" --limit="$n" "$head_cap" >/dev/null 2>&1
sleep 1
kill -TERM "$(pgrep -P $pid)" 2>/dev/null || kill -TERM $pid
wait $pid || true
per() { awk -v n="$n" '{ printf "%.2f us/packet (user %.2f s, sys %.2f s)", ($1 + $2) * 1e6 / n, $1, $2 }' "$1"; }
echo "CPU for $n packets:"
echo "  live -w --out (at ${rates[0]} pps): $(per "$work/live.time")"
echo "  flows on the file:               $(per "$work/flows.time")"
echo "  report on the file:              $(per "$work/report.time")"
