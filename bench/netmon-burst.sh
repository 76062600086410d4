#!/bin/sh
# netmon under a burst of link events: netmon (`node <flags> <main> netmon`, the image's flags) alone in a
# private network namespace in which 60 veth pairs (120 links) are added within a second and removed 10 s
# later, as when many runtimes are created (each adds a bridge and a veth on the host). Prints the peak
# and final VmRSS and RssAnon of netmon, and its CPU ticks (1/100 s) over the whole run. As root, after
# `npm run build`:   bench/netmon-burst.sh [main=dist/main.js ...]
set -e
cd "$(dirname "$0")/.."
for main in "${@:-dist/main.js}"; do
  ns=orch-nmburst-$$
  d=$(mktemp -d)
  ip netns add "$ns"
  trap 'kill "$p" 2>/dev/null || true; ip netns del "$ns" 2>/dev/null || true; rm -rf "$d"' EXIT
  ip -n "$ns" link set lo up
  ip netns exec "$ns" env ORCH_DATA_DIR="$d" ORCH_NETMON_SOCKET="$d/n.sock" MALLOC_ARENA_MAX=2 node --v8-pool-size=1 --no-expose-wasm --jitless "$main" netmon >"$d/log" 2>&1 &
  p=$!
  sleep 5
  peak=0
  sample() { for _ in $(seq 1 40); do r=$(awk '/^VmRSS/{print $2}' "/proc/$p/status"); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.25; done; }
  i=1; while [ $i -le 60 ]; do echo "link add b$i type veth peer name c$i"; i=$((i + 1)); done | ip -n "$ns" -batch -
  sample
  i=1; while [ $i -le 60 ]; do echo "link del b$i"; i=$((i + 1)); done | ip -n "$ns" -batch -
  sample
  echo "$main: peak VmRSS $((peak / 1024)) MiB, end $(awk '/^VmRSS/{print int($2/1024)}' "/proc/$p/status") MiB, RssAnon $(awk '/^RssAnon/{print int($2/1024)}' "/proc/$p/status") MiB, CPU ticks $(awk '{print $14+$15+$16+$17}' "/proc/$p/stat")"
  kill "$p"; wait "$p" 2>/dev/null || true
  ip netns del "$ns"; rm -rf "$d"
  trap - EXIT
done
