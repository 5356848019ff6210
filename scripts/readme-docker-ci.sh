#!/usr/bin/env bash
# Runs the README's `docker run` commands of "Quick start with Docker" as
# written, with one change: the image longboat:latest (what `docker compose
# up` builds online) is replaced by $LONGBOAT_IMAGE (default longboat:local,
# the offline build of scripts/build-images.sh). Each command is printed
# before it runs.
#   scripts/readme-docker-ci.sh clients   the three client commands, against
#                                         a running Compose cluster
#   scripts/readme-docker-ci.sh single    the single-broker command: start,
#                                         100 records in, `docker rm -f` and
#                                         the same command again (an image
#                                         upgrade), all 100 read back
# Exit code 0 when every step passed.
set -uo pipefail
cd "$(dirname "$0")/.."
image=${LONGBOAT_IMAGE:-longboat:local}

# readme_commands prints the README's quick-start `docker run` commands, one
# per line (continuation lines joined), in the order they appear.
readme_commands() {
  awk '/^## Quick start with Docker/ {on=1; next} on && /^##/ {exit}
       on && /^    docker run / {cmd=$0; while (cmd ~ /\\$/) {sub(/\\$/, "", cmd); getline nxt; sub(/^ +/, " ", nxt); cmd = cmd nxt} sub(/^ +/, "", cmd); print cmd}' README.md
}

# run_as_written runs one README command with the image replaced.
run_as_written() {
  local cmd=${1//longboat:latest/$image}
  echo "\$ $cmd"
  eval "timeout 300 $cmd"
}

mapfile -t cmds < <(readme_commands)
clients=() single=""
for c in "${cmds[@]}"; do
  case $c in
    "docker run --rm --network host longboat:latest "*) clients+=("$c") ;;
    "docker run -d --name longboat "*) single=$c ;;
  esac
done
if [ ${#clients[@]} != 3 ] || [ -z "$single" ]; then
  echo "README: found ${#clients[@]} client commands (want 3) and ${single:+a}${single:-no} single-broker command in \"Quick start with Docker\""
  exit 1
fi

case ${1:-} in
clients)
  for c in "${clients[@]}"; do
    run_as_written "$c" || { echo "README client command FAILED: $c"; exit 1; }
  done
  echo "README client commands PASSED"
  ;;
single)
  # Never touch someone else's container, volume or ports.
  if docker ps -a --format '{{.Names}}' | grep -qx longboat; then
    echo "README single broker FAILED: a container named longboat exists; remove it first"
    exit 1
  fi
  if docker volume inspect longboat-data >/dev/null 2>&1; then
    echo "README single broker FAILED: the volume longboat-data exists; remove it first"
    exit 1
  fi
  for port in 9092 13092; do
    if timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$port" 2>/dev/null; then
      echo "README single broker FAILED: localhost:$port is in use"
      exit 1
    fi
  done
  cleanup() {
    local rc=$?
    [ "$rc" = 0 ] || docker logs --tail 30 longboat 2>&1 | tail -30
    docker rm -f longboat >/dev/null 2>&1
    docker volume rm longboat-data >/dev/null 2>&1
    echo "== README single broker $([ "$rc" = 0 ] && echo PASSED || echo FAILED)"
    exit "$rc"
  }
  trap cleanup EXIT
  client() { timeout 120 docker run --rm --network host "$image" "$@"; }
  ready() {
    for _ in $(seq 1 120); do
      client healthcheck --http-addr 127.0.0.1:13092 --timeout 1s >/dev/null 2>&1 && return 0
      sleep 1
    done
    echo "broker not ready on 127.0.0.1:13092 within 120s"
    return 1
  }
  run_as_written "$single" && ready || exit 1
  client topics create --topic readme --partitions 1 --replication-factor 1 || exit 1
  client produce --topic readme --records 100 --prefix readme || exit 1
  echo "== recreate the container (as an image upgrade does): docker rm -f longboat, then the same command"
  docker rm -f longboat >/dev/null || exit 1
  run_as_written "$single" && ready || exit 1
  client consume --topic readme --prefix readme --expect 100 --timeout 60s || exit 1
  ;;
*)
  echo "usage: scripts/readme-docker-ci.sh clients|single"
  exit 2
  ;;
esac
