#!/usr/bin/env bash
# Installs orchestrator-agent on an edge box (docs/installation.md):
#   1. enrolls the device once, as the Python agent's newest installer does: an id from the enrollment
#      server, a key and a CSR with CN = id and extendedKeyUsage clientAuth, the certificate it signs,
#      checked to be a client certificate for that key (an enrolled box keeps its identity);
#   2. the shared volume, the netmon sidecar and the agent, with the names, labels, mounts and flags of
#      CONTRACT §1. The agent is never started before the certificate exists.
# Re-running it is safe: it keeps the certificate, pulls a moving tag and re-creates the two containers
# (an upgrade); the old ones are kept, renamed, until the new ones run, and put back if they do not.
# `--uninstall` has netmon undo its proxy-ARP host changes, then removes the containers and the volume;
# the certificate and the runtimes stay unless --purge.
# Docker is reached through DOCKER_HOST (default unix:///var/run/docker.sock); that socket is the one
# mounted into the agent.
set -euo pipefail

readonly AGENT_NAME=orchestrator_agent NETMON_NAME=autonomy_netmon VOLUME=orchestrator-shared
readonly E_USAGE=2 E_ROOT=3 E_DOCKER=4 E_ENROLL=5 E_CERT=6 E_RUN=7

usage() {
  cat <<'EOF'
usage: install.sh [options]            install (enroll if needed, then start the sidecar and the agent)
       install.sh --uninstall [--purge] [--keep-data]

  --server URL           enrollment server (ORCH_ENROLL_URL; default https://api.autonomylogic.com); the agent
                         renews its certificate there (-e ORCH_ENROLL_URL= turns renewal off)
  --cloud-url URL|off    the agent's ORCH_CLOUD_URL (default: the agent's own default); off = air-gapped:
                         no enrollment, no certificate renewal (the enrollment server is never called)
  --ca-file FILE         CA to trust for the enrollment server; also installed as <mtls dir>/ca.crt,
                         which the agent adds to its trust store for the cloud (ORCH_CA_FILE)
  --mtls-dir DIR         where client.crt/client.key live (ORCH_MTLS_DIR; default $HOME/.mtls)
  --agent-image IMAGE    (ORCH_AGENT_IMAGE; default ghcr.io/autonomy-logic/orchestrator-agent:latest)
  --netmon-image IMAGE   (ORCH_NETMON_IMAGE; default ghcr.io/autonomy-logic/orchestrator-netmon:latest)
  --version VERSION      the image tag of both images (e.g. v1.4.0) instead of their own tag
  --pull WHEN            always | missing | never (default: always for a moving tag such as latest,
                         falling back to the local copy if the registry cannot be reached; missing for a
                         version tag (1.2.3, v1.2.3) or a digest pin (IMAGE@sha256:...))
  --network NAME         the agent container's network (ORCH_AGENT_NETWORK; default: the engine's default)
  --runtime-image REPO   the agent's ORCH_RUNTIME_IMAGE
  --wifi-interfaces LIST netmon's ORCH_NETMON_WIFI_INTERFACES (CONTRACT §9.2)
  --serial-globs LIST    netmon's ORCH_NETMON_SERIAL_GLOBS (§9.4)
  --serial-majors LIST   the agent's ORCH_SERIAL_MAJORS (§9.4)
  --ice-servers LIST     the agent's ORCH_WEBRTC_ICE_SERVERS (§9.5; empty = none)
  --container-log SPEC   log driver of the sidecar, the agent and every runtime: DRIVER[:KEY=VALUE,...] or
                         "daemon" for the engine's default (ORCH_CONTAINER_LOG; default
                         json-file:max-size=10m,max-file=3: Docker's json-file grows without bound otherwise)
  -e, --env KEY=VALUE    another variable for the agent (repeatable)
  --netmon-env KEY=VALUE another variable for the sidecar (repeatable)
  --netmon-privileged    run the sidecar --privileged instead of with only the capabilities it needs
                         (the default since issue #22; an escape hatch) (ORCH_NETMON_PRIVILEGED=1)
  --netmon-unprivileged  the default: only the capabilities netmon needs (ORCH_NETMON_PRIVILEGED=0)
  --reenroll             enroll again even if a certificate exists (a NEW identity)
  --uninstall            netmon undoes its proxy-ARP host changes, then the containers and the volume
                         go; runtimes keep running, unmanaged
  --purge                with --uninstall: also remove the runtimes (their data volumes and networks)
                         and client.crt, client.key, ca.crt
  --keep-data            with --uninstall: keep the volume (state.json, the desired state)
  -h, --help

Exit codes: 2 usage, 3 not root, 4 no Docker, 5 enrollment failed or refused, 6 bad certificate,
7 a container did not start.
EOF
}

die() {
  local code=$1
  shift
  printf 'install: error: %s\n' "$*" >&2
  exit "$code"
}
say() { printf 'install: %s\n' "$*"; }

# ---- options --------------------------------------------------------------------------------------
SERVER_URL=${ORCH_ENROLL_URL:-https://api.autonomylogic.com}
CA_FILE=${ORCH_CA_FILE:-}
MTLS_DIR=${ORCH_MTLS_DIR:-${HOME:-/root}/.mtls}
AGENT_IMAGE=${ORCH_AGENT_IMAGE:-ghcr.io/autonomy-logic/orchestrator-agent:latest}
NETMON_IMAGE=${ORCH_NETMON_IMAGE:-ghcr.io/autonomy-logic/orchestrator-netmon:latest}
AGENT_NETWORK=${ORCH_AGENT_NETWORK:-}
NETMON_PRIVILEGED=${ORCH_NETMON_PRIVILEGED:-0}
CONTAINER_LOG=${ORCH_CONTAINER_LOG:-json-file:max-size=10m,max-file=3}
MODE=install PURGE=0 KEEP_DATA=0 REENROLL=0 PULL=${ORCH_PULL:-} VERSION=${ORCH_VERSION:-}
AGENT_ENV=() NETMON_ENV=()
# Variables taken from the installer's environment when set (an empty value is passed on: it means "none").
for v in ORCH_CLOUD_URL ORCH_RUNTIME_IMAGE ORCH_RUNTIME_PORT ORCH_LOG_LEVEL ORCH_CLOUD_TRANSPORTS ORCH_LEGACY_EMITS \
  ORCH_HEARTBEAT_INTERVAL_MS ORCH_RESYNC_INTERVAL_MS ORCH_RUN_COMMAND_TIMEOUT_MS ORCH_MAX_ACK_BYTES \
  ORCH_SERIAL_MAJORS ORCH_WEBRTC_ICE_SERVERS ORCH_WEBRTC_HOST_ADDRESSES; do
  if [ -n "${!v+x}" ]; then AGENT_ENV+=("$v=${!v}"); fi
done
for v in ORCH_LOG_LEVEL ORCH_NETMON_DEBOUNCE_MS ORCH_NETMON_WIFI_INTERFACES ORCH_NETMON_SERIAL_GLOBS ORCH_NETMON_SERIAL_BY_ID_DIR; do
  if [ -n "${!v+x}" ]; then NETMON_ENV+=("$v=${!v}"); fi
done

need_arg() { [ $# -ge 2 ] || die $E_USAGE "$1 needs a value (see --help)"; }
while [ $# -gt 0 ]; do
  case $1 in
    --server) need_arg "$@"; SERVER_URL=$2; shift ;;
    --cloud-url) need_arg "$@"; AGENT_ENV+=("ORCH_CLOUD_URL=$2"); shift ;;
    --ca-file) need_arg "$@"; CA_FILE=$2; shift ;;
    --mtls-dir) need_arg "$@"; MTLS_DIR=$2; shift ;;
    --agent-image) need_arg "$@"; AGENT_IMAGE=$2; shift ;;
    --netmon-image) need_arg "$@"; NETMON_IMAGE=$2; shift ;;
    --version) need_arg "$@"; VERSION=$2; shift ;;
    --pull) need_arg "$@"; PULL=$2; shift ;;
    --network) need_arg "$@"; AGENT_NETWORK=$2; shift ;;
    --runtime-image) need_arg "$@"; AGENT_ENV+=("ORCH_RUNTIME_IMAGE=$2"); shift ;;
    --wifi-interfaces) need_arg "$@"; NETMON_ENV+=("ORCH_NETMON_WIFI_INTERFACES=$2"); shift ;;
    --serial-globs) need_arg "$@"; NETMON_ENV+=("ORCH_NETMON_SERIAL_GLOBS=$2"); shift ;;
    --serial-majors) need_arg "$@"; AGENT_ENV+=("ORCH_SERIAL_MAJORS=$2"); shift ;;
    --ice-servers) need_arg "$@"; AGENT_ENV+=("ORCH_WEBRTC_ICE_SERVERS=$2"); shift ;;
    -e | --env) need_arg "$@"; [[ $2 == ?*=* ]] || die $E_USAGE "$1 wants KEY=VALUE, got '$2'"; AGENT_ENV+=("$2"); shift ;;
    --netmon-env) need_arg "$@"; [[ $2 == ?*=* ]] || die $E_USAGE "$1 wants KEY=VALUE, got '$2'"; NETMON_ENV+=("$2"); shift ;;
    --container-log) need_arg "$@"; CONTAINER_LOG=$2; shift ;;
    --netmon-privileged) NETMON_PRIVILEGED=1 ;;
    --netmon-unprivileged) NETMON_PRIVILEGED=0 ;;
    --reenroll) REENROLL=1 ;;
    --uninstall) MODE=uninstall ;;
    --purge) PURGE=1 ;;
    --keep-data) KEEP_DATA=1 ;;
    -h | --help) usage; exit 0 ;;
    *) die $E_USAGE "unknown option '$1' (see --help)" ;;
  esac
  shift
done
if [ "$MODE" = install ] && { [ "$PURGE" = 1 ] || [ "$KEEP_DATA" = 1 ]; }; then die $E_USAGE "--purge and --keep-data go with --uninstall"; fi
case $PULL in '' | always | missing | never) ;; *) die $E_USAGE "--pull '$PULL': expected always, missing or never" ;; esac

# without_tag IMAGE: the repository of a reference (its :tag and @digest dropped; a registry's :port kept).
without_tag() {
  local r=${1%%@*}
  if [[ ${r##*/} == *:* ]]; then r=${r%:*}; fi
  printf '%s' "$r"
}
if [ -n "$VERSION" ]; then
  [[ $VERSION =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die $E_USAGE "--version '$VERSION': not an image tag"
  AGENT_IMAGE="$(without_tag "$AGENT_IMAGE"):$VERSION" NETMON_IMAGE="$(without_tag "$NETMON_IMAGE"):$VERSION"
fi

# Air-gapped (--cloud-url off, or ORCH_CLOUD_URL=off however given): the last value given wins, as in the agent.
CLOUD_OFF=0
for e in "${AGENT_ENV[@]}"; do
  case $e in ORCH_CLOUD_URL=off) CLOUD_OFF=1 ;; ORCH_CLOUD_URL=*) CLOUD_OFF=0 ;; esac
done

# --container-log → docker run flags (the agent checks the same value again as ORCH_CONTAINER_LOG).
LOG_ARGS=()
if [ "$CONTAINER_LOG" != daemon ]; then
  [[ $CONTAINER_LOG =~ ^[a-z0-9][a-z0-9_.-]*(:[a-z0-9][a-z0-9_.-]*=[^[:space:],]+(,[a-z0-9][a-z0-9_.-]*=[^[:space:],]+)*)?$ ]] ||
    die $E_USAGE "--container-log '$CONTAINER_LOG': expected daemon or DRIVER[:KEY=VALUE,...] (e.g. json-file:max-size=10m,max-file=3)"
  LOG_ARGS=(--log-driver "${CONTAINER_LOG%%:*}")
  if [[ $CONTAINER_LOG == *:* ]]; then
    IFS=, read -r -a log_opts <<<"${CONTAINER_LOG#*:}"
    for o in "${log_opts[@]}"; do LOG_ARGS+=(--log-opt "$o"); done
  fi
  if [ "${CONTAINER_LOG%%:*}" = json-file ] && [[ $CONTAINER_LOG != *max-size=* ]]; then
    die $E_USAGE "--container-log '$CONTAINER_LOG': json-file needs max-size (it grows until the disk is full otherwise)"
  fi
fi
AGENT_ENV+=("ORCH_CONTAINER_LOG=$CONTAINER_LOG")

# ---- preconditions (only shell builtins until Docker is found) -------------------------------------
[ "${EUID:-$(id -u)}" -eq 0 ] || die $E_ROOT "run as root (sudo $0 ...): the installer writes the device key and starts privileged containers"
command -v docker >/dev/null 2>&1 || die $E_DOCKER "the docker CLI is not installed. Install Docker first: on Debian or Ubuntu \`apt-get install docker.io\` (or Docker CE: https://docs.docker.com/engine/install/); then \`systemctl enable --now docker\`"
DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}
export DOCKER_HOST
case $DOCKER_HOST in
  unix://*) DOCKER_SOCKET=${DOCKER_HOST#unix://} ;;
  *) die $E_DOCKER "DOCKER_HOST=$DOCKER_HOST: only a local unix socket can be given to the agent" ;;
esac
docker_err=$(docker version --format '{{.Server.Version}}' 2>&1 >/dev/null) || die $E_DOCKER "cannot reach the Docker engine at $DOCKER_HOST: ${docker_err:-no answer} (is dockerd running?)"

exists() { docker inspect --type "$1" "$2" >/dev/null 2>&1; }

remove_container() {
  if exists container "$1"; then
    docker stop -t 10 "$1" >/dev/null 2>&1 || true
    docker rm -f "$1" >/dev/null
    say "removed container $1"
  fi
}

# ---- uninstall ------------------------------------------------------------------------------------
# netmon_cleanup: what delete_orchestrator's deleting_netmon stage does (src/reconcilers/executor.ts):
# netmon's proxy_arp_cleanup, over its socket, from inside its container: every Wi-Fi client releases its
# lease, every proxy-ARP path goes, the sysctls it set get their earlier values back. Prints netmon's answer.
netmon_cleanup() {
  docker exec "$NETMON_NAME" node -e '
    const s = require("net").connect(process.env.ORCH_NETMON_SOCKET || "/var/orchestrator/netmon.sock");
    const fail = (m) => { console.log(JSON.stringify({ success: false, error: m })); process.exit(1); };
    setTimeout(() => fail("no answer from netmon in 60 s"), 60000).unref();
    let buf = "";
    s.on("error", (e) => fail(e.message));
    s.on("connect", () => s.write(JSON.stringify({ command: "proxy_arp_cleanup", id: "install-uninstall" }) + "\n"));
    s.on("data", (d) => {
      buf += d;
      for (let i; (i = buf.indexOf("\n")) >= 0; buf = buf.slice(i + 1)) {
        let m;
        try { m = JSON.parse(buf.slice(0, i)); } catch { continue; }
        if (m.id !== "install-uninstall") continue;
        console.log(JSON.stringify(m));
        process.exit(m.success === true ? 0 : 1);
      }
    });' 2>&1
}

# recorded_changes: the host changes netmon's ownership file in the volume still lists (one a line), if any.
recorded_changes() {
  local dir
  dir=$(docker volume inspect --format '{{.Mountpoint}}' "$VOLUME" 2>/dev/null) || return 0
  [ -s "$dir/netmon-proxy-arp.json" ] || return 0
  tr -d '\n' <"$dir/netmon-proxy-arp.json" | grep -o '"kind": *"[a-z_]*"[^}]*' | sed 's/  */ /g' || true
}

if [ "$MODE" = uninstall ]; then
  # The agent first: it would build paths again through netmon.
  remove_container "$AGENT_NAME"
  cleaned=0
  if exists container "$NETMON_NAME"; then
    if [ "$(docker inspect --format '{{.State.Running}}' "$NETMON_NAME")" != true ]; then
      docker start "$NETMON_NAME" >/dev/null 2>&1 || true
      for _ in 1 2 3 4 5 6 7 8 9 10; do docker exec "$NETMON_NAME" test -S /var/orchestrator/netmon.sock 2>/dev/null && break; sleep 1; done
    fi
    if answer=$(netmon_cleanup); then
      cleaned=1
      say "netmon undid its proxy-ARP host changes: $answer"
    else
      say "warning: netmon could not undo its proxy-ARP host changes: $answer"
    fi
  fi
  left=$(recorded_changes)
  if [ "$cleaned" = 0 ] && [ -n "$left" ]; then
    # Never delete the only record of what is to be put back on the host.
    say "kept the volume $VOLUME and $NETMON_NAME: netmon-proxy-arp.json in the volume still records these host changes:"
    while IFS= read -r l; do printf '  %s\n' "$l"; done <<<"$left"
    say "to undo them: make $NETMON_NAME run again (docker start $NETMON_NAME, or re-install) and re-run --uninstall;"
    say "or by hand: write each sysctl's \"earlier\" value to its \"path\", and for each proxy_arp_path delete its host route (ip route del IP/32 dev VETH) and veth (ip link del VETH); then docker volume rm $VOLUME"
    exit $E_RUN
  fi
  remove_container "$NETMON_NAME"
  if [ "$KEEP_DATA" = 0 ] && exists volume "$VOLUME"; then
    docker volume rm "$VOLUME" >/dev/null || die $E_RUN "could not remove volume $VOLUME (still in use?)"
    say "removed volume $VOLUME"
  fi
  mapfile -t runtimes < <(docker ps -aq --filter label=edge.autonomy.role=runtime --filter label=edge.autonomy.managed=true)
  if [ "$PURGE" = 1 ]; then
    for c in "${runtimes[@]}"; do docker rm -f -v "$c" >/dev/null && say "removed runtime container $c"; done
    mapfile -t nets < <(docker network ls -q --filter label=edge.autonomy.role=macvlan-network; docker network ls -q --filter label=edge.autonomy.role=internal-network)
    for n in "${nets[@]}"; do docker network rm "$n" >/dev/null 2>&1 && say "removed network $n"; done
    mapfile -t vols < <(docker volume ls -q --filter label=edge.autonomy.role=runtime-data --filter label=edge.autonomy.managed=true)
    for v in "${vols[@]}"; do docker volume rm "$v" >/dev/null 2>&1 && say "removed volume $v"; done
  elif [ "${#runtimes[@]}" -gt 0 ]; then
    say "${#runtimes[@]} runtime container(s) keep running, unmanaged (nothing restarts or updates them; --uninstall --purge removes them, or docker rm -f them)"
  fi
  if [ "$PURGE" = 1 ]; then
    rm -f "$MTLS_DIR/client.crt" "$MTLS_DIR/client.key" "$MTLS_DIR/ca.crt"
    say "removed the device certificate from $MTLS_DIR"
  else
    say "kept the device certificate in $MTLS_DIR (--purge removes it)"
  fi
  exit 0
fi

# ---- enrollment -----------------------------------------------------------------------------------
if [ "$CLOUD_OFF" = 0 ] && ! command -v openssl >/dev/null 2>&1; then die $E_ENROLL "openssl is not installed (apt-get install openssl)"; fi

# json_get KEY < body: the first value of "KEY" in a JSON text (strings unescaped; numbers as written).
json_get() {
  awk -v key="$1" '
    { s = s $0 "\n" }
    END {
      if (!match(s, "\"" key "\"[ \t\r\n]*:[ \t\r\n]*")) exit 1
      s = substr(s, RSTART + RLENGTH)
      if (substr(s, 1, 1) != "\"") { if (match(s, /^[^,}\] \t\r\n]+/)) print substr(s, 1, RLENGTH); exit 0 }
      out = ""
      for (i = 2; i <= length(s); i++) {
        c = substr(s, i, 1)
        if (c == "\"") { printf "%s", out; exit 0 }
        if (c == "\\") {
          i++; c = substr(s, i, 1)
          if (c == "n") c = "\n"; else if (c == "r") c = "\r"; else if (c == "t") c = "\t"
        }
        out = out c
      }
      exit 1
    }'
}

# check_certificate CRT KEY [ID]: a current client certificate for that key (and that CN).
check_certificate() {
  local crt=$1 key=$2 id=${3:-} cn
  openssl x509 -in "$crt" -noout >/dev/null 2>&1 || { echo "$crt is not a PEM certificate"; return 1; }
  openssl x509 -in "$crt" -noout -purpose | grep -q '^SSL client : Yes' || { echo "$crt is not a client certificate (no clientAuth purpose)"; return 1; }
  [ "$(openssl x509 -in "$crt" -noout -pubkey)" = "$(openssl pkey -in "$key" -pubout 2>/dev/null)" ] || { echo "$crt does not belong to the key $key"; return 1; }
  openssl x509 -in "$crt" -noout -checkend 0 >/dev/null || { echo "$crt has expired ($(openssl x509 -in "$crt" -noout -enddate))"; return 1; }
  cn=$(openssl x509 -in "$crt" -noout -subject -nameopt RFC2253 | sed -n 's/^subject=.*CN=\([^,]*\).*$/\1/p')
  [ -n "$cn" ] || { echo "$crt has no CN (the agent id)"; return 1; }
  if [ -n "$id" ] && [ "$cn" != "$id" ]; then echo "$crt is for CN=$cn, not the id $id"; return 1; fi
  echo "$cn"
}

CURL_OPTS=(--silent --show-error --max-time 60 --retry 2)
if [ -n "$CA_FILE" ]; then
  [ -r "$CA_FILE" ] || die $E_USAGE "--ca-file $CA_FILE cannot be read"
  openssl x509 -in "$CA_FILE" -noout >/dev/null 2>&1 || die $E_USAGE "--ca-file $CA_FILE is not a PEM certificate"
  CURL_OPTS+=(--cacert "$CA_FILE")
fi

enroll() {
  command -v curl >/dev/null 2>&1 || die $E_ENROLL "curl is not installed (apt-get install curl)"
  local tmp status body id cert message code
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: tmp is local
  trap "rm -rf '$tmp'" EXIT
  say "enrolling with $SERVER_URL"
  status=$(curl "${CURL_OPTS[@]}" -o "$tmp/id.json" -w '%{http_code}' "$SERVER_URL/orchestrators/id" 2>"$tmp/err") ||
    die $E_ENROLL "cannot reach the enrollment server $SERVER_URL: $(cat "$tmp/err")"
  body=$(cat "$tmp/id.json")
  [ "$status" = 200 ] || die $E_ENROLL "the enrollment server refused to give an id (HTTP $status): $(json_get message <<<"$body" || printf '%.200s' "$body")"
  id=$(json_get id <<<"$body") || die $E_ENROLL "no id in the enrollment server's answer: $(printf '%.200s' "$body")"
  [[ $id =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ ]] || die $E_ENROLL "the enrollment server gave an unusable id '$id'"

  (umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:4096 -out "$tmp/client.key" 2>/dev/null) || die $E_ENROLL "openssl could not make a key"
  # Subject as the Python agent's installer; keyUsage adds digitalSignature, which a TLS client key
  # needs (OpenSSL's own "SSL client" purpose check refuses a keyUsage without it).
  cat >"$tmp/csr.cnf" <<EOF
[req]
prompt = no
distinguished_name = dn
req_extensions = v3_req
[dn]
C = BR
ST = SP
L = SaoPaulo
O = AutonomyLogic
OU = Production
CN = $id
[v3_req]
keyUsage = critical, digitalSignature, keyEncipherment, dataEncipherment
extendedKeyUsage = clientAuth
EOF
  openssl req -new -key "$tmp/client.key" -config "$tmp/csr.cnf" -out "$tmp/client.csr" 2>"$tmp/err" || die $E_ENROLL "openssl could not make the CSR: $(cat "$tmp/err")"

  status=$(curl "${CURL_OPTS[@]}" -o "$tmp/enroll.json" -w '%{http_code}' -F "csr=@$tmp/client.csr" "$SERVER_URL/orchestrators/enroll" 2>"$tmp/err") ||
    die $E_ENROLL "cannot reach the enrollment server $SERVER_URL: $(cat "$tmp/err")"
  body=$(cat "$tmp/enroll.json")
  message=$(json_get message <<<"$body" || true)
  code=$(json_get statusCode <<<"$body" || echo "$status")
  if [ "$status" != 200 ] || [ "$code" != 200 ]; then
    die $E_ENROLL "enrollment refused by $SERVER_URL (HTTP $status, statusCode $code): ${message:-$(printf '%.200s' "$body")}"
  fi
  cert=$(json_get certificate <<<"$body") || die $E_ENROLL "no certificate in the enrollment answer: $(printf '%.200s' "$body")"
  printf '%s\n' "$cert" >"$tmp/client.crt"
  check_certificate "$tmp/client.crt" "$tmp/client.key" "$id" >"$tmp/check" || die $E_CERT "the enrollment server's certificate is refused: $(cat "$tmp/check")"

  mkdir -p "$MTLS_DIR"
  chmod 700 "$MTLS_DIR"
  install -m 0600 "$tmp/client.key" "$MTLS_DIR/client.key.new"
  install -m 0644 "$tmp/client.crt" "$MTLS_DIR/client.crt.new"
  mv -f "$MTLS_DIR/client.key.new" "$MTLS_DIR/client.key"
  mv -f "$MTLS_DIR/client.crt.new" "$MTLS_DIR/client.crt"
  rm -rf "$tmp"
  trap - EXIT
  say "enrolled as $id${message:+ ($message)}; certificate in $MTLS_DIR/client.crt"
}

if [ "$CLOUD_OFF" = 1 ]; then
  # Air-gapped: the agent runs standalone and loads no certificate; nothing may call the enrollment server,
  # the agent's renewal included.
  [ "$REENROLL" = 0 ] || die $E_USAGE "--reenroll needs the enrollment server; it cannot go with --cloud-url off"
  say "cloud off (air-gapped): enrollment skipped; the agent runs standalone"
  mkdir -p "$MTLS_DIR"
  chmod 700 "$MTLS_DIR"
  SERVER_URL=
  ID=standalone
else
  if [ "$REENROLL" = 0 ] && [ -e "$MTLS_DIR/client.crt" ] && [ -e "$MTLS_DIR/client.key" ]; then
    check=$(check_certificate "$MTLS_DIR/client.crt" "$MTLS_DIR/client.key") ||
      die $E_CERT "$check; fix it or enroll again with --reenroll (that makes a NEW identity)"
    say "already enrolled as $check (kept; --reenroll makes a new identity)"
  else
    enroll
  fi
  ID=$(check_certificate "$MTLS_DIR/client.crt" "$MTLS_DIR/client.key") || die $E_CERT "$ID"
fi
if [ -n "$CA_FILE" ]; then install -m 0644 "$CA_FILE" "$MTLS_DIR/ca.crt"; fi

# ---- containers -----------------------------------------------------------------------------------
# pull_policy IMAGE: --pull, else missing for a pin (a digest, or a version tag such as 1.2.3 or v1.2.3),
# else (latest, no tag, any other tag: one that moves) "moving": pull, the local copy if that fails.
pull_policy() {
  if [ -n "$PULL" ]; then printf '%s' "$PULL"; return; fi
  local ref=$1 tag=
  if [[ $ref == *@sha256:* ]]; then printf missing; return; fi
  if [[ ${ref##*/} == *:* ]]; then tag=${ref##*:}; fi
  if [[ $tag =~ ^v?[0-9]+\.[0-9]+\.[0-9]+([-+][A-Za-z0-9._-]+)?$ ]]; then printf missing; else printf moving; fi
}
for image in "$AGENT_IMAGE" "$NETMON_IMAGE"; do
  policy=$(pull_policy "$image")
  case $policy in
    never) exists image "$image" || die $E_RUN "image $image is not on this engine (--pull never)" ;;
    missing)
      if ! exists image "$image"; then
        say "pulling $image"
        docker pull "$image" >/dev/null || die $E_RUN "image $image is not on this engine and cannot be pulled"
      fi
      ;;
    *)
      say "pulling $image"
      if ! pull_err=$(docker pull "$image" 2>&1 >/dev/null); then
        if [ "$policy" != moving ] || ! exists image "$image"; then die $E_RUN "cannot pull $image: $pull_err"; fi
        say "warning: cannot pull $image, using the copy this engine has: $pull_err"
      fi
      ;;
  esac
done
if [ -n "$AGENT_NETWORK" ] && [ "$AGENT_NETWORK" != host ] && ! exists network "$AGENT_NETWORK"; then
  die $E_USAGE "--network $AGENT_NETWORK: no such Docker network (create it first: docker network create $AGENT_NETWORK)"
fi

if ! exists volume "$VOLUME"; then
  docker volume create --label edge.autonomy.managed=true "$VOLUME" >/dev/null
  say "created volume $VOLUME"
fi

# Upgrade with a way back: the running pair is stopped and kept under another name until the new pair
# runs; a new pair that does not start is removed and the old one started again.
OLD_SUFFIX=_previous
# fail MESSAGE: the new containers go; the old ones, if any, come back; exit 7.
fail() {
  local c restored=0
  docker rm -f "$AGENT_NAME" "$NETMON_NAME" >/dev/null 2>&1 || true
  for c in "$NETMON_NAME" "$AGENT_NAME"; do
    if exists container "$c$OLD_SUFFIX"; then
      docker rename "$c$OLD_SUFFIX" "$c" && docker start "$c" >/dev/null && restored=1
    fi
  done
  if [ "$restored" = 1 ]; then die $E_RUN "$*; the previous containers were put back"; fi
  die $E_RUN "$*"
}
for c in "$AGENT_NAME" "$NETMON_NAME"; do
  # Without $c, a $c_previous is what an interrupted run kept: the last good one, kept as the way back.
  if exists container "$c"; then
    remove_container "$c$OLD_SUFFIX"
    docker stop -t 10 "$c" >/dev/null 2>&1 || true
    docker rename "$c" "$c$OLD_SUFFIX" || fail "could not rename $c to $c$OLD_SUFFIX"
  fi
done

netmon_args=(--name "$NETMON_NAME" --restart unless-stopped
  --label edge.autonomy.role=netmon --label edge.autonomy.managed=true
  --network=host --pid=host --security-opt no-new-privileges
  -v /dev:/dev -v "$VOLUME:/var/orchestrator" "${LOG_ARGS[@]}")
if [ "$NETMON_PRIVILEGED" = 0 ]; then
  # The default (issue #22): every netmon suite passes with this set (docs/security.md).
  # What netmon does (CONTRACT §6, §9): netlink and links (NET_ADMIN), DHCP raw sockets (NET_RAW),
  # nsenter into runtimes (SYS_ADMIN, SYS_PTRACE), device nodes (MKNOD, every char device), sysctls
  # such as proxy_arp (a writable /proc/sys), udhcpc's UDP 68 for renewals (NET_BIND_SERVICE); none of
  # Docker's default set (netmon is root and owns what it writes).
  netmon_args+=(--cap-drop ALL --cap-add NET_ADMIN --cap-add NET_RAW --cap-add NET_BIND_SERVICE
    --cap-add SYS_ADMIN --cap-add SYS_PTRACE --cap-add MKNOD
    --device-cgroup-rule 'c *:* rmw' --security-opt seccomp=unconfined --security-opt apparmor=unconfined
    --security-opt systempaths=unconfined)
else
  netmon_args+=(--privileged)
fi
if [ -d /run/udev ]; then netmon_args+=(-v /run/udev:/run/udev:ro); fi
# cgroup v1: a serial device plugged in for a running runtime is granted in its devices.allow; a container
# reaches the host's hierarchy only through a bind (not through /proc/1/root: EACCES).
if [ -d /sys/fs/cgroup/devices ]; then netmon_args+=(-v /sys/fs/cgroup/devices:/run/host-cgroup-devices); fi
for e in "${NETMON_ENV[@]}"; do netmon_args+=(-e "$e"); done
if ! run_err=$(docker run -d "${netmon_args[@]}" "$NETMON_IMAGE" netmon 2>&1 >/dev/null); then
  case $run_err in
    *"apply caps"*) fail "could not start $NETMON_NAME: this engine cannot grant --privileged (its dockerd lacks a capability); without --netmon-privileged the sidecar runs with only the capabilities it needs. Docker said: $run_err" ;;
    *) fail "could not start $NETMON_NAME: $run_err" ;;
  esac
fi
if [ "$NETMON_PRIVILEGED" = 0 ]; then say "started $NETMON_NAME ($NETMON_IMAGE, capabilities instead of --privileged)"; else say "started $NETMON_NAME ($NETMON_IMAGE)"; fi

# The agent needs no capability (issue #22): it is root only to own its files; the engine's socket is its
# power (see docs/security.md), and no-new-privileges keeps a setuid binary in the image from adding any.
agent_args=(--name "$AGENT_NAME" --restart unless-stopped
  --label edge.autonomy.role=orchestrator-agent --label edge.autonomy.managed=true
  --cap-drop ALL --security-opt no-new-privileges
  -v "$DOCKER_SOCKET:/var/run/docker.sock" -v "$VOLUME:/var/orchestrator" -v "$MTLS_DIR:/root/.mtls:ro"
  -e ORCH_MTLS_DIR=/root/.mtls -e ORCH_ENROLL_URL="$SERVER_URL" -e HOST_NAME="$AGENT_NAME" "${LOG_ARGS[@]}")
if [ -n "$AGENT_NETWORK" ]; then agent_args+=(--network "$AGENT_NETWORK"); fi
for e in "${AGENT_ENV[@]}"; do agent_args+=(-e "$e"); done
run_err=$(docker run -d "${agent_args[@]}" "$AGENT_IMAGE" run 2>&1 >/dev/null) || fail "could not start $AGENT_NAME: $run_err"
say "started $AGENT_NAME ($AGENT_IMAGE) as $ID"

# Running, and still running a few seconds later without a restart (a bad setting ends the agent at once;
# --restart would hide that behind "running").
sleep "${ORCH_INSTALL_SETTLE_S:-3}"
for c in "$NETMON_NAME" "$AGENT_NAME"; do
  state=$(docker inspect --format '{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}' "$c")
  case $state in
    "running 0 "*) ;;
    *)
      logs=$(docker logs --tail 5 "$c" 2>&1 | cut -c1-300)
      fail "$c did not stay up (status, restarts, exit code: $state)${logs:+; its last log lines: $logs}"
      ;;
  esac
done
for c in "$AGENT_NAME" "$NETMON_NAME"; do
  if exists container "$c$OLD_SUFFIX"; then docker rm -f "$c$OLD_SUFFIX" >/dev/null && say "removed the previous $c"; fi
done
say "done. Check with: docker exec $AGENT_NAME node dist/main.js doctor"
