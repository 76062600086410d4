#!/bin/sh
# Runs "$@" in a network namespace of its own (only lo, up), for one engine pass of `npm test`: two passes
# at once then share no interface, address, route, port, bridge, sysctl or abstract socket (every LAN
# subnet in the suites is fixed). Started as `unshare --net --mount --propagation slave`, so the mounts
# below are seen by this pass only. /sys is not remounted (`ip netns exec` would, and so drop
# /sys/fs/cgroup, which dockerd needs): a sysfs mounted from inside the namespace lends its net views.
set -eu
ip link set lo up
# A default route, as a machine has (agent-image, install and hardware read which interface carries it):
# over a veth whose other end has no address, so what takes it goes nowhere. 198.18.255.0/24: benchmark
# range, outside the test LANs (198.51.100.0/24, 203.0.113.0/24); the engines' pools skip a subnet in use.
ip link add uplink0 type veth peer name uplink0-end
ip link set uplink0-end up
ip link set uplink0 up
ip addr add 198.18.255.2/24 dev uplink0
ip route add default via 198.18.255.1 dev uplink0
# Names resolve on loopback only, where nothing listens: a lookup (dockerd pulling an image it lacks from
# docker.io) is refused at once instead of waiting 20 s for a resolver the namespace cannot reach, and
# nothing leaves the machine. /etc/hosts (localhost) is untouched.
# (No /etc/resolv.conf at all: Go and glibc then ask loopback anyway.)
if [ -e /etc/resolv.conf ]; then
  r=$(mktemp /tmp/orch-pass-resolv-XXXXXX)
  echo 'nameserver 127.0.0.1' > "$r"
  mount --bind "$r" /etc/resolv.conf
  rm -f "$r"
fi
t=$(mktemp -d /tmp/orch-pass-sysfs-XXXXXX)
mount -t sysfs sysfs "$t"
mount --bind "$t/class/net" /sys/class/net
mount --bind "$t/devices/virtual/net" /sys/devices/virtual/net
umount -l "$t"
rmdir "$t"
exec "$@"
