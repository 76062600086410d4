#!/bin/sh
# Runs "$@" in a network namespace of its own (only lo, up), for one engine pass of `npm test`: two passes
# at once then share no interface, address, route, port, bridge, sysctl or abstract socket (every LAN
# subnet in the suites is fixed). Started as `unshare --net --mount --propagation slave`, so the mounts
# below are seen by this pass only. /sys is not remounted (`ip netns exec` would, and so drop
# /sys/fs/cgroup, which dockerd needs): a sysfs mounted from inside the namespace lends its net views.
set -eu
ip link set lo up
t=$(mktemp -d /tmp/orch-pass-sysfs-XXXXXX)
mount -t sysfs sysfs "$t"
mount --bind "$t/class/net" /sys/class/net
mount --bind "$t/devices/virtual/net" /sys/devices/virtual/net
umount -l "$t"
rmdir "$t"
exec "$@"
