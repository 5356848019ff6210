#!/usr/bin/env bash
# CI stage for the Compose appliance, offline: builds longboat:local (and
# longboat-prometheus:local when prometheus is installed) from this host,
# checks that on the online path (docker-compose.yml alone) the smoke test
# picks the image Compose ran, brings the stack up with compose/offline.yml,
# measures the time from `up` to all brokers ready, runs
# scripts/smoke-test.sh, the README's client commands as written and
# scripts/scale-demo.sh (broker 4 joins from compose/five-brokers.yml,
# partitions move onto it, and broker 1, a __meta voter, is removed under
# load), and always tears the
# stack down with its volumes, broker 4's included. Exit code: 0 when the smoke test, the README's
# commands and the scale demo passed (or
# when there is no Docker engine: the stage is then reported SKIPPED).
set -uo pipefail
cd "$(dirname "$0")/.."

if ! docker info >/dev/null 2>&1; then
  echo "Docker stage SKIPPED: no Docker engine answers (docker info failed)"
  exit 0
fi
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
else
  echo "Docker stage SKIPPED: neither 'docker compose' nor 'docker-compose' is installed"
  exit 0
fi
project=${COMPOSE_PROJECT_NAME:-longboat-ci}
dc=("${compose[@]}" -p "$project" -f docker-compose.yml -f compose/offline.yml)
# `down` also names brokers 4 and 5, so that their containers and volumes go.
dc_down=("${dc[@]}" -f compose/five-brokers.yml)
t0=$SECONDS
echo "== Docker stage: $("${compose[@]}" version 2>/dev/null | head -1), engine $(docker version -f '{{.Server.Version}}' 2>/dev/null)"

# Refuse to run over someone else's stack or ports; never remove it.
busy=$(docker ps -a --format '{{.Names}}' | grep -E '^longboat-(broker[1-5]|prometheus|grafana)$' || true)
if [ -n "$busy" ]; then
  echo "Docker stage FAILED: containers already exist: $busy (another stack is running; stop it first)"
  exit 1
fi
for port in 9092 9093 9094 9095 13092 13093 13094 13095 9090; do
  if timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$port" 2>/dev/null; then
    echo "Docker stage FAILED: localhost:$port is already in use"
    exit 1
  fi
done

if ! timeout 900 scripts/build-images.sh; then
  echo "Docker stage FAILED: image build"
  exit 1
fi

# The online path (`docker compose up` with docker-compose.yml alone) runs
# the longboat:latest that Compose builds. Without a registry it cannot
# build here, so a stand-in takes that name: the offline build with one more
# label, hence an image id of its own, different from longboat:local's.
# Compose creates broker1 from it (not started), and the smoke test, asked
# only for its choice, must pick that image, not longboat:local.
echo "== online path: the smoke test's client image"
if docker image inspect longboat:latest >/dev/null 2>&1; then
  echo "online path check SKIPPED: an image longboat:latest exists here, not this stage's to replace"
else
  version=$(sed -n 's/^const Version = "\(.*\)"$/\1/p' internal/version/version.go)
  online=("${compose[@]}" -p "$project-online" -f docker-compose.yml)
  online_ok=0
  if docker build -q --target local --build-arg VERSION="$version" --label org.longboat.ci.online-stand-in=1 -t longboat:latest . >/dev/null &&
    env -u LONGBOAT_IMAGE timeout 120 "${online[@]}" up --no-start --no-build broker1 >/dev/null 2>&1; then
    built=$(docker image inspect -f '{{.Id}}' longboat:latest)
    picked=$(env -u LONGBOAT_IMAGE -u LONGBOAT_BIN SMOKE_PRINT_CLIENT_IMAGE=1 scripts/smoke-test.sh | cut -f1)
    if [ "$picked" = "$built" ] && [ "$built" != "$(docker image inspect -f '{{.Id}}' longboat:local)" ]; then
      echo "== online path: the smoke test picks the image Compose ran, longboat:latest ($built)"
      online_ok=1
    else
      echo "online path: the smoke test picked '$picked'; Compose created broker1 from longboat:latest ($built)"
    fi
  else
    echo "online path: could not build the stand-in longboat:latest or create broker1 from it"
  fi
  env -u LONGBOAT_IMAGE timeout 120 "${online[@]}" down -v --remove-orphans >/dev/null 2>&1
  docker rmi longboat:latest >/dev/null 2>&1
  if [ "$online_ok" != 1 ]; then
    echo "Docker stage FAILED: online path's client image"
    exit 1
  fi
fi

profiles=()
if docker image inspect longboat-prometheus:local >/dev/null 2>&1; then
  profiles=(--profile prometheus)
fi

cleanup() {
  local rc=$?
  if [ "$rc" != 0 ]; then
    echo "== logs (last 40 lines per service)"
    LONGBOAT_IMAGE=longboat:local "${dc_down[@]}" "${profiles[@]}" logs --no-color --tail 40 2>&1 | tail -240
  fi
  echo "== down -v"
  LONGBOAT_IMAGE=longboat:local timeout 180 "${dc_down[@]}" "${profiles[@]}" down -v --remove-orphans 2>&1 | tail -3
  echo "== Docker stage $([ "$rc" = 0 ] && echo PASSED || echo FAILED) in $((SECONDS - t0))s"
  exit "$rc"
}
trap cleanup EXIT

# Readiness is timed by a poller started with `up`: `up` itself waits for
# the brokers' Docker health checks before it starts Prometheus.
ready_file=$(mktemp)
(
  start=$(date +%s%N)
  deadline=$((SECONDS + 180))
  while [ $SECONDS -lt $deadline ]; do
    ok=0
    for p in 13092 13093 13094; do
      dist/longboat healthcheck --http-addr "127.0.0.1:$p" --timeout 1s >/dev/null 2>&1 && ok=$((ok + 1))
    done
    if [ $ok = 3 ]; then
      echo "$(( ($(date +%s%N) - start) / 1000000 ))" > "$ready_file"
      exit 0
    fi
    sleep 0.2
  done
) &
poller=$!
echo "== up -d ${profiles[*]}"
if ! timeout 300 "${dc[@]}" "${profiles[@]}" up -d --no-build; then
  echo "compose up failed"
  exit 1
fi
wait "$poller"
ready_ms=$(cat "$ready_file")
rm -f "$ready_file"
if [ -z "$ready_ms" ]; then
  echo "brokers not ready within 180s of up"
  exit 1
fi
echo "== all three brokers ready $((ready_ms / 1000)).$(printf '%03d' $((ready_ms % 1000)))s after up"
echo "== images"
docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E '^longboat(-prometheus)?:local'

# The smoke test picks its client image itself, as after a plain `docker
# compose up`: it must name and use the image the brokers run, here the
# offline longboat:local.
smoke_log=$(mktemp)
timeout 900 env -u LONGBOAT_IMAGE -u LONGBOAT_BIN scripts/smoke-test.sh | tee "$smoke_log"
smoke_rc=${PIPESTATUS[0]}
ran_name=$(docker inspect -f '{{.Config.Image}}' longboat-broker1)
ran_id=$(docker inspect -f '{{.Image}}' longboat-broker1)
used=$(sed -n 's/^== client image: //p' "$smoke_log")
rm -f "$smoke_log"
if [ "$ran_name" != longboat:local ]; then
  echo "Compose ran $ran_name for broker1, not the offline longboat:local"
  exit 1
fi
case $used in
  "$ran_id "*) echo "== smoke test clients ran the brokers' image: $used" ;;
  *)
    echo "smoke test client image: '${used:-not reported}'; the brokers run $ran_id ($ran_name)"
    exit 1
    ;;
esac
[ "$smoke_rc" = 0 ] || exit "$smoke_rc"
echo "== the README's client commands, as written (image longboat:local)"
LONGBOAT_IMAGE=longboat:local scripts/readme-docker-ci.sh clients || exit
echo "== scale demo: broker 4 joins, partitions move onto it, broker 1 (a __meta voter) is removed, under load"
timeout 420 env -u LONGBOAT_BIN LONGBOAT_IMAGE=longboat:local SCALE_KEEP_BROKER4=1 scripts/scale-demo.sh
