#!/bin/sh
# netmon's CPU and memory while links change: netmon (`node <flags> dist/main.js netmon`) runs alone in a
# private network namespace in which a veth pair is added and removed every 0.5 s for 40 s (nothing on
# the host's own links; run as root after `npm run build`). Prints CPU % of one core (utime+stime+cutime+
# cstime of netmon and its children over the window; ticks of 1/100 s, so ticks per second = % of a core) and VmRSS of netmon + `ip monitor` at the end.
#   bench/netmon-churn.sh "" "--jitless" "--lite-mode"
# shellcheck disable=SC2086 # $flags and $kids are lists of words
set -e
cd "$(dirname "$0")/.."
ns=orch-churn-$$
ip netns add "$ns"
pid=''
d=''
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi; ip netns del "$ns" 2>/dev/null || true; if [ -n "$d" ]; then rm -rf "$d"; fi' EXIT
ip -n "$ns" link set lo up
# A child may exit between the listing and the read: an empty reading counts 0.
ticks() { t=0; for p in "$@"; do v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12+$13+$14+$15}'); t=$((t + ${v:-0})); done; echo $t; }
rss() { t=0; for p in "$@"; do v=$(awk '/^VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null); t=$((t + ${v:-0})); done; echo $t; }
for flags in "$@"; do
  d=$(mktemp -d)
  ip netns exec "$ns" env ORCH_DATA_DIR="$d" ORCH_NETMON_SOCKET="$d/n.sock" node $flags dist/main.js netmon >"$d/log" 2>&1 &
  pid=$!
  sleep 5
  kids=$(pgrep -P "$pid" | tr '\n' ' ')
  t0=$(ticks "$pid" $kids); s0=$(date +%s%N)
  i=0
  while [ $i -lt 80 ]; do ip -n "$ns" link add churn0 type veth peer name churn1; ip -n "$ns" link set churn0 up; sleep 0.25; ip -n "$ns" link del churn0; sleep 0.25; i=$((i + 1)); done
  kids=$(pgrep -P "$pid" | tr '\n' ' ')
  t1=$(ticks "$pid" $kids); s1=$(date +%s%N)
  echo "flags: ${flags:-(none)}  CPU $(echo "scale=2; ($t1 - $t0) / (($s1 - $s0) / 1000000000)" | bc) %  VmRSS $(echo "scale=1; $(rss "$pid" $kids) / 1024" | bc) MiB"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  pid=''
  rm -rf "$d"
  d=''
done
