#!/usr/bin/env bash
# What the demo and the tests need from Debian 12 besides Node.js: installs only what is missing (root),
# says what it installs, and does nothing on a machine that has it all. Used by .ci/run and `npm run demo`.
set -euo pipefail

need=()
command -v dockerd >/dev/null || need+=(docker.io)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v ip >/dev/null || need+=(iproute2)
command -v openssl >/dev/null || need+=(openssl)
command -v nsenter >/dev/null || need+=(util-linux)
command -v curl >/dev/null || need+=(curl)
command -v shellcheck >/dev/null || need+=(shellcheck)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "missing: ${need[*]} — run as root, or: apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "installing from Debian's packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}"
