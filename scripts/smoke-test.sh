#!/usr/bin/env bash
# Smoke test of a running Longboat appliance (docker-compose.yml), from the
# host, with only Docker (and bash) required:
#   1. every broker's /readyz answers 200;
#   2. a topic with 6 partitions and RF=3 is created;
#   3. records are produced and consumed through EACH external port;
#   4. all brokers report the same partition leaders;
#   5. Prometheus has three broker targets up, Grafana answers /api/health
#      and serves the Longboat dashboard (SKIPPED when the service is absent);
#   6. one broker container is stopped, records are produced (acks=all)
#      through the others, the broker is started again, and every
#      acknowledged record is read back exactly once.
# Prints a summary; exits 1 when any check failed.
#
# The Kafka clients are the `longboat` produce/consume/topics subcommands
# (kafka-go): $LONGBOAT_BIN when set, else `docker run --network host` of
# $LONGBOAT_IMAGE, else of the image the first broker container runs (the
# one Compose built or was given: longboat:latest online, longboat:local
# offline), so the clients are the same build as the brokers. The summary
# names the image.
#
# Environment (defaults match docker-compose.yml):
#   LONGBOAT_BIN        host binary to use instead of the image
#   LONGBOAT_IMAGE      client image (default: the first container's image)
#   KAFKA_PORTS         "9092 9093 9094"   (EXTERNAL listeners on localhost)
#   HTTP_PORTS          "13092 13093 13094"
#   CONTAINERS          "longboat-broker1 longboat-broker2 longboat-broker3"
#   PROMETHEUS_PORT     9090
#   GRAFANA_PORT        3000
#   SMOKE_RECORDS       records per produce step (1000)
#   SMOKE_STOP_BROKER   which broker (1..3) to stop (1)
#   SMOKE_STOP_MODE     stop (docker stop: SIGTERM, graceful) or kill (docker kill: SIGKILL)
#   READY_TIMEOUT       seconds to wait for readiness (120)
#   SMOKE_PRINT_CLIENT_IMAGE  when set: print the client image and where it came from, then exit
#   SMOKE_COMMAND_CONFIG  absolute path of Kafka client properties (TLS, SASL) that every
#                       client command gets as --command-config; in the client container
#                       its directory is mounted at the same path, so keep the files it
#                       names there (scripts/secure-smoke.sh does)
#   SMOKE_HTTP_CA       CA file (PEM) of brokers whose HTTP ports serve HTTPS (--http-tls):
#                       readiness is then asked over TLS with openssl s_client
set -uo pipefail

read -r -a kafka_ports <<< "${KAFKA_PORTS:-9092 9093 9094}"
read -r -a http_ports <<< "${HTTP_PORTS:-13092 13093 13094}"
read -r -a containers <<< "${CONTAINERS:-longboat-broker1 longboat-broker2 longboat-broker3}"

# client_image prints "IMAGE<TAB>where it came from": $LONGBOAT_IMAGE, else
# the image id the first broker container runs (the exact build, even if
# its tag has moved since), else Compose's default name.
client_image() {
  local id name
  if [ -n "${LONGBOAT_IMAGE:-}" ]; then
    printf '%s\tLONGBOAT_IMAGE\n' "$LONGBOAT_IMAGE"
  elif id=$(docker inspect -f '{{.Image}}' "${containers[0]}" 2>/dev/null) && [ -n "$id" ]; then
    name=$(docker inspect -f '{{.Config.Image}}' "${containers[0]}" 2>/dev/null)
    printf '%s\t%s, as container %s runs\n' "$id" "$name" "${containers[0]}"
  else
    printf '%s\tno container %s: the Compose default\n' longboat:latest "${containers[0]}"
  fi
}
IFS=$'\t' read -r image image_from < <(client_image)
# SMOKE_PRINT_CLIENT_IMAGE=1: print the choice and stop (scripts/compose-ci.sh
# checks it on the online path without running a second cluster).
if [ -n "${SMOKE_PRINT_CLIENT_IMAGE:-}" ]; then
  printf '%s\t%s\n' "$image" "$image_from"
  exit 0
fi
prom_port=${PROMETHEUS_PORT:-9090}
grafana_port=${GRAFANA_PORT:-3000}
records=${SMOKE_RECORDS:-1000}
stop=${SMOKE_STOP_BROKER:-1}
stop_mode=${SMOKE_STOP_MODE:-stop}
ready_timeout=${READY_TIMEOUT:-120}
run=$(date +%s)
topic=smoke-$run
work=$(mktemp -d /tmp/longboat-smoke.XXXXXX)
trap 'rm -rf "$work"' EXIT

results=()   # "STATUS|check|detail"
failed=0
t0=$SECONDS

log() { printf '%s [%4ss] %s\n' "$(date -u +%H:%M:%S)" "$((SECONDS - t0))" "$*"; }
result() { # status check detail (cut to 200 characters)
  local detail=${3:0:200}
  set -- "$1" "$2" "$detail"
  results+=("$1|$2|$3")
  [ "$1" = FAIL ] && failed=$((failed + 1))
  log "$1: $2${3:+ ($3)}"
}

# lb runs a longboat subcommand as a Kafka client, bounded in time.
lb() {
  local cc=() mount=()
  if [ -n "${SMOKE_COMMAND_CONFIG:-}" ]; then
    cc=(--command-config "$SMOKE_COMMAND_CONFIG")
    mount=(-v "$(dirname "$SMOKE_COMMAND_CONFIG"):$(dirname "$SMOKE_COMMAND_CONFIG"):ro")
  fi
  if [ -n "${LONGBOAT_BIN:-}" ]; then
    timeout 300 "$LONGBOAT_BIN" "$@" "${cc[@]}"
  else
    timeout 300 docker run --rm --network host "${mount[@]}" "$image" "$@" "${cc[@]}"
  fi
}

# http_get HOST PORT PATH: prints the raw HTTP/1.0 response (bash /dev/tcp,
# no curl needed); fails when nothing listens.
http_get() {
  timeout 10 bash -c 'exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" "$2" "$0" >&3
    cat <&3' "$1" "$2" "$3" 2>/dev/null
}
http_status() { head -1 | awk '{print $2}'; }

listening() { timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' localhost "$1" 2>/dev/null; }

brokers_except() { # index (0-based) to leave out; prints a bootstrap list
  local out=() i
  for i in "${!kafka_ports[@]}"; do
    [ "$i" = "$1" ] || out+=("localhost:${kafka_ports[$i]}")
  done
  local IFS=,
  echo "${out[*]}"
}

# broker_get PORT PATH: http_get of a broker's HTTP port, or over HTTPS
# trusting the CA file SMOKE_HTTP_CA (brokers with --http-tls).
broker_get() {
  if [ -z "${SMOKE_HTTP_CA:-}" ]; then
    http_get localhost "$1" "$2"
    return
  fi
  printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$2" |
    timeout 10 openssl s_client -quiet -connect "localhost:$1" -servername localhost -CAfile "$SMOKE_HTTP_CA" -verify_return_error 2>/dev/null
}

# wait_ready PORT...: every given HTTP port's /readyz answers 200.
wait_ready() {
  local deadline=$((SECONDS + ready_timeout)) p pending
  while :; do
    pending=()
    for p in "$@"; do
      [ "$(broker_get "$p" /readyz | http_status)" = 200 ] || pending+=("$p")
    done
    [ ${#pending[@]} = 0 ] && return 0
    [ $SECONDS -ge $deadline ] && { echo "not ready after ${ready_timeout}s: ${pending[*]}"; return 1; }
    sleep 0.5
  done
}

# describe_leaders PORT: partition -> leader id, as that broker answers.
describe_leaders() {
  lb topics describe --brokers "localhost:$1" --topic "$topic" 2>&1 | awk 'NR > 1 {print $2, $3}'
}

# leaders_agree: every broker reports the same leader for each partition,
# and every partition has one. Retries briefly (leadership may still move
# to preferred replicas just after a start).
leaders_agree() {
  local label=$1 attempt i first cur detail
  for attempt in 1 2 3 4 5 6; do
    detail=""
    first=$(describe_leaders "${kafka_ports[0]}")
    for i in "${!kafka_ports[@]}"; do
      cur=$(describe_leaders "${kafka_ports[$i]}")
      echo "$cur" > "$work/leaders-$label-$i"
      if [ "$cur" != "$first" ]; then
        detail="broker on :${kafka_ports[$i]} disagrees with :${kafka_ports[0]}"
      fi
    done
    local n none
    n=$(echo "$first" | grep -c .)
    none=$(echo "$first" | grep -c ' none$')
    [ "$n" -ne 6 ] && detail="${detail:+$detail; }$n partitions described, want 6"
    [ "$none" -ne 0 ] && detail="${detail:+$detail; }$none partitions without a leader"
    if [ -z "$detail" ]; then
      result PASS "$label: all brokers report the same leaders" \
        "$(echo "$first" | awk '{printf "%sp%s=%s", sep, $1, $2; sep=" "}')"
      return 0
    fi
    sleep 2
  done
  result FAIL "$label: all brokers report the same leaders" "$detail"
}

echo "== Longboat smoke test: topic $topic, $records records per step"
if [ -n "${LONGBOAT_BIN:-}" ]; then
  echo "== client binary: $LONGBOAT_BIN"
else
  echo "== client image: $image ($image_from)"
fi

# 1. readiness
if out=$(wait_ready "${http_ports[@]}"); then
  result PASS "all brokers ready (/readyz 200)" "ports ${http_ports[*]}, ${SECONDS}s"
else
  result FAIL "all brokers ready (/readyz 200)" "$out"
fi

# 2. topic
if out=$(lb topics create --brokers "localhost:${kafka_ports[0]}" --topic "$topic" --partitions 6 --replication-factor 3 2>&1); then
  result PASS "create topic (6 partitions, RF=3)" "$topic"
else
  result FAIL "create topic (6 partitions, RF=3)" "$(echo "$out" | tail -1)"
fi

# 3. produce and consume through each external port
for port in "${kafka_ports[@]}"; do
  prefix=port$port-$run
  if out=$(lb produce --brokers "localhost:$port" --topic "$topic" --records "$records" --prefix "$prefix" --acks all 2>&1); then
    if out2=$(lb consume --brokers "localhost:$port" --topic "$topic" --prefix "$prefix" --expect "$records" --timeout 60s 2>&1); then
      result PASS "produce + consume via localhost:$port" "$(echo "$out2" | grep '^expected' | cut -d: -f2 | cut -d, -f1-3 | sed 's/^ //')"
    else
      result FAIL "produce + consume via localhost:$port" "$(echo "$out2" | tail -1)"
    fi
  else
    result FAIL "produce + consume via localhost:$port" "produce: $(echo "$out" | tail -1)"
  fi
done

# 4. same leaders everywhere
leaders_agree "steady"

# 5. Prometheus and Grafana
if ! listening "$prom_port"; then
  result SKIPPED "Prometheus: 3 broker targets up" "nothing listens on localhost:$prom_port"
else
  q='/api/v1/query?query=sum(up%7Bjob%3D%22longboat%22%7D)'
  deadline=$((SECONDS + 60)); up=""
  while :; do
    up=$(http_get localhost "$prom_port" "$q" | tail -1 | grep -o '"value":\[[^]]*\]' | grep -o '"[0-9.]*"\]' | tr -d '"]')
    [ "$up" = 3 ] || [ $SECONDS -ge $deadline ] && break
    sleep 2
  done
  if [ "$up" = 3 ]; then
    result PASS "Prometheus: 3 broker targets up" "sum(up{job=\"longboat\"}) = 3"
  else
    result FAIL "Prometheus: 3 broker targets up" "sum(up{job=\"longboat\"}) = ${up:-no answer} after 60s"
  fi
fi
if ! listening "$grafana_port"; then
  result SKIPPED "Grafana: /api/health and the Longboat dashboard" "nothing listens on localhost:$grafana_port"
else
  health=$(http_get localhost "$grafana_port" /api/health)
  dash=$(http_get localhost "$grafana_port" /api/dashboards/uid/longboat-overview)
  if [ "$(echo "$health" | http_status)" = 200 ] && [ "$(echo "$dash" | http_status)" = 200 ] &&
    echo "$dash" | grep -q '"title":"Longboat"'; then
    result PASS "Grafana: /api/health and the Longboat dashboard" "uid longboat-overview"
  else
    result FAIL "Grafana: /api/health and the Longboat dashboard" \
      "health $(echo "$health" | http_status), dashboard $(echo "$dash" | http_status)"
  fi
fi

# 6. one broker down, keep producing, bring it back, nothing lost
idx=$((stop - 1))
victim=${containers[$idx]}
others=$(brokers_except "$idx")
other_http=()
for i in "${!http_ports[@]}"; do [ "$i" = "$idx" ] || other_http+=("${http_ports[$i]}"); done
prefix=outage-$run
log "stopping $victim (docker $stop_mode)"
if [ "$stop_mode" = kill ]; then stop_cmd=(docker kill "$victim"); else stop_cmd=(docker stop -t 30 "$victim"); fi
if ! "${stop_cmd[@]}" >/dev/null; then
  result FAIL "stop $victim" "docker $stop_mode failed"
else
  down_at=$SECONDS
  if out=$(wait_ready "${other_http[@]}"); then
    result PASS "remaining brokers ready with $victim down ($stop_mode)" "$((SECONDS - down_at))s after the stop"
  else
    result FAIL "remaining brokers ready with $victim down ($stop_mode)" "$out"
  fi
  if out=$(lb produce --brokers "$others" --topic "$topic" --records "$records" --prefix "$prefix" --acks all 2>&1); then
    result PASS "produce (acks=all) via $others while $victim is down" "$(echo "$out" | awk -v t="$topic" '$1 == t {print $6 " acknowledged"}')"
  else
    result FAIL "produce (acks=all) via $others while $victim is down" "$(echo "$out" | tail -1)"
  fi
  log "starting $victim"
  docker start "$victim" >/dev/null
  up_at=$SECONDS
  if out=$(wait_ready "${http_ports[@]}"); then
    result PASS "$victim back and all brokers ready" "$((SECONDS - up_at))s after the start"
  else
    result FAIL "$victim back and all brokers ready" "$out"
  fi
  # Read back through the restarted broker: every acknowledged record once.
  if out=$(lb consume --brokers "localhost:${kafka_ports[$idx]}" --topic "$topic" --prefix "$prefix" --expect "$records" --timeout 90s 2>&1); then
    result PASS "no loss across the outage (read via localhost:${kafka_ports[$idx]})" "$(echo "$out" | grep '^expected' | cut -d: -f2 | cut -d, -f1-3 | sed 's/^ //')"
  else
    result FAIL "no loss across the outage (read via localhost:${kafka_ports[$idx]})" "$(echo "$out" | tail -1)"
  fi
  leaders_agree "after restart"
fi

# Summary
pass=0 skipped=0
echo
echo "== Longboat smoke test summary ($((SECONDS - t0))s, topic $topic)"
for r in "${results[@]}"; do
  IFS='|' read -r status check detail <<< "$r"
  printf '%-8s %s%s\n' "$status" "$check" "${detail:+  [$detail]}"
  case $status in PASS) pass=$((pass + 1)) ;; SKIPPED) skipped=$((skipped + 1)) ;; esac
done
echo "== $pass passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
