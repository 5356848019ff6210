#!/usr/bin/env bash
# The secured appliance (compose/secure.yml) end to end, offline: makes
# certificates with scripts/gen-certs.sh in a temporary directory, builds
# longboat:secure-smoke from a host binary (Dockerfile target "local"),
# starts the three brokers with docker-compose.yml + compose/secure.yml,
# runs scripts/smoke-test.sh over SASL_SSL (SCRAM-SHA-512 as admin, no
# client certificate: EXTERNAL does not ask for one), then checks:
#   - a PLAINTEXT client, and a TLS client without SASL, refused on
#     EXTERNAL; SASL_SSL with a wrong password refused;
#   - a restricted user, created by admin with ACLs for one topic and one
#     group, produces and consumes there and is refused elsewhere
#     (TOPIC_AUTHORIZATION_FAILED, GROUP_AUTHORIZATION_FAILED);
#   - the HTTP ports speak HTTPS only: /readyz to a client trusting the CA,
#     POST /v1/join refused without a broker's certificate;
#   - every broker runs Raft over mutual TLS with the same derived
#     deployment id (its start log line).
# Always removes the stack, its volumes and the image. Exit 0 when all
# passed (or when no Docker engine answers: SKIPPED).
#
#   scripts/secure-smoke.sh
set -uo pipefail
cd "$(dirname "$0")/.."

if ! docker info >/dev/null 2>&1; then
  echo "secure smoke SKIPPED: no Docker engine answers"
  exit 0
fi
if docker compose version >/dev/null 2>&1; then compose=(docker compose); else compose=(docker-compose); fi
busy=$(docker ps -a --format '{{.Names}}' | grep -E '^longboat-broker[123]$' || true)
if [ -n "$busy" ]; then
  echo "secure smoke FAILED: containers already exist: $busy (another stack is running; stop it first)"
  exit 1
fi
t0=$SECONDS
work=$(mktemp -d /tmp/longboat-secure.XXXXXX)
chmod 0755 "$work"
image=longboat:secure-smoke
project=longboat-secure-smoke
export LONGBOAT_IMAGE=$image LONGBOAT_CERTS_DIR=$work/certs
LONGBOAT_ADMIN_PASSWORD=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
export LONGBOAT_ADMIN_PASSWORD
dc=("${compose[@]}" -p "$project" -f docker-compose.yml -f compose/secure.yml)
cleanup() {
  timeout 120 "${dc[@]}" down -v --remove-orphans >/dev/null 2>&1
  docker rmi "$image" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

scripts/gen-certs.sh "$work/certs" >/dev/null || { echo "secure smoke FAILED: gen-certs"; exit 1; }
version=$(sed -n 's/^const Version = "\(.*\)"$/\1/p' internal/version/version.go)
mkdir -p dist
if ! CGO_ENABLED=0 go build -trimpath -o dist/longboat ./cmd/longboat ||
  ! docker build -q --target local --build-arg VERSION="$version" -t "$image" . >/dev/null; then
  echo "secure smoke FAILED: image build"
  exit 1
fi
echo "== secure smoke: image built in $((SECONDS - t0))s; starting brokers"
if ! timeout 180 "${dc[@]}" up -d --no-build broker1 broker2 broker3; then
  echo "secure smoke FAILED: compose up"
  "${dc[@]}" logs --tail 30
  exit 1
fi

props() { # file protocol [user password] [with-cert]
  {
    echo "security.protocol=$2"
    echo "ssl.ca.location=$work/certs/ca.pem"
    if [ -n "${3:-}" ]; then
      echo "sasl.mechanism=SCRAM-SHA-512"
      echo "sasl.username=$3"
      echo "sasl.password=$4"
    fi
    if [ -n "${5:-}" ]; then
      echo "ssl.certificate.location=$work/certs/client.pem"
      echo "ssl.key.location=$work/certs/client-key.pem"
    fi
  } > "$1"
  chmod 0644 "$1"
}
restricted_password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
props "$work/admin.properties" SASL_SSL admin "$LONGBOAT_ADMIN_PASSWORD"
props "$work/wrong.properties" SASL_SSL admin wrong-password
props "$work/restricted.properties" SASL_SSL restricted "$restricted_password"
props "$work/ssl.properties" SSL "" "" cert

SMOKE_COMMAND_CONFIG=$work/admin.properties SMOKE_HTTP_CA=$work/certs/ca.pem READY_TIMEOUT=180 scripts/smoke-test.sh
smoke=$?

failed=0
check() { # description, then the command that must succeed
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then echo "PASS     $what"; else echo "FAIL     $what"; failed=$((failed + 1)); fi
}
client() { # properties file (or "") then the command's arguments
  local cfg=()
  [ -n "$1" ] && cfg=(--command-config "$1")
  shift
  timeout 60 docker run --rm --network host -v "$work:$work:ro" "$image" "$@" "${cfg[@]}"
}
client_line() { # properties file, then the command's arguments: one line on its stdin
  local cfg=$1
  shift
  echo "secure-smoke" | timeout 60 docker run --rm -i --network host -v "$work:$work:ro" "$image" "$@" --command-config "$cfg"
}
refused() { ! "$@"; }
refused_with() { # error code, then the command that must fail printing it
  local code=$1 out
  shift
  if out=$("$@" 2>&1); then return 1; fi
  grep -q "$code" <<< "$out" || { echo "$out" | tail -3 >&2; return 1; }
}
# https_get PORT PATH [METHOD]: the response to a request over TLS that
# trusts the CA and presents no client certificate.
https_get() {
  printf '%s %s HTTP/1.0\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n' "${3:-GET}" "$2" |
    timeout 10 openssl s_client -quiet -connect "localhost:$1" -servername localhost -CAfile "$work/certs/ca.pem" -verify_return_error 2>/dev/null
}
status_of() { head -1 | awk '{print $2}'; }
echo
echo "== refusals"
check "admin over SASL_SSL lists topics" client "$work/admin.properties" topics list --brokers localhost:9092
check "PLAINTEXT client refused on EXTERNAL" refused client "" topics list --brokers localhost:9092 --timeout 10s
check "TLS without SASL refused on EXTERNAL" refused client "$work/ssl.properties" topics list --brokers localhost:9092 --timeout 10s
check "wrong password refused" refused client "$work/wrong.properties" topics list --brokers localhost:9092 --timeout 10s
check "a client certificate on EXTERNAL is not needed" client "$work/admin.properties" topics list --brokers localhost:9092 --timeout 10s

echo "== restricted user (ACLs for topic restricted and group restricted-group only)"
b=(--brokers localhost:9092)
check "admin creates user restricted" client "$work/admin.properties" users create --user restricted --password "$restricted_password" "${b[@]}"
check "admin creates topic restricted" client "$work/admin.properties" topics create --topic restricted --partitions 3 "${b[@]}"
check "admin creates topic forbidden" client "$work/admin.properties" topics create --topic forbidden --partitions 1 "${b[@]}"
check "admin grants Read,Write on topic restricted" client "$work/admin.properties" acls create --principal User:restricted --operation Read,Write --topic restricted "${b[@]}"
check "admin grants Read on group restricted-group" client "$work/admin.properties" acls create --principal User:restricted --operation Read --group restricted-group "${b[@]}"
check "restricted produces to restricted" client "$work/restricted.properties" produce --topic restricted --records 200 --prefix acl "${b[@]}"
check "restricted consumes restricted as restricted-group" client "$work/restricted.properties" consume --topic restricted --group restricted-group --prefix acl --expect 200 --timeout 60s "${b[@]}"
# produce from stdin (franz-go) rather than --records (kafka-go, which asks
# for every topic's metadata and reports a topic it may not see as unknown).
check "restricted refused producing to forbidden (TOPIC_AUTHORIZATION_FAILED)" refused_with TOPIC_AUTHORIZATION_FAILED client_line "$work/restricted.properties" produce --topic forbidden --timeout 15s "${b[@]}"
check "restricted refused reading forbidden (TOPIC_AUTHORIZATION_FAILED)" refused_with TOPIC_AUTHORIZATION_FAILED client "$work/restricted.properties" consume --topic forbidden --count 1 --timeout 15s "${b[@]}"
check "restricted refused as group other-group (GROUP_AUTHORIZATION_FAILED)" refused_with GROUP_AUTHORIZATION_FAILED client "$work/restricted.properties" consume --topic restricted --group other-group --count 1 --timeout 15s "${b[@]}"
check "restricted refused creating users (CLUSTER_AUTHORIZATION_FAILED)" refused_with CLUSTER_AUTHORIZATION_FAILED client "$work/restricted.properties" users create --user mallory --password x --timeout 15s "${b[@]}"

echo "== HTTPS on the HTTP ports"
check "/readyz over HTTPS without a client certificate" test "$(https_get 13092 /readyz | status_of)" = 200
check "plain HTTP refused" test "$(timeout 10 bash -c 'exec 3<>/dev/tcp/localhost/13092; printf "GET /readyz HTTP/1.0\r\n\r\n" >&3; head -1 <&3' 2>/dev/null | awk '{print $2}')" != 200
check "POST /v1/join refused without a broker's certificate (403)" test "$(https_get 13092 /v1/join POST | status_of)" = 403
check "cluster status over HTTPS" client "$work/admin.properties" cluster status --http https://localhost:13092,https://localhost:13093,https://localhost:13094 "${b[@]}"
dids=$(for b in 1 2 3; do docker logs "longboat-broker$b" 2>&1 | grep '"Raft transport"' | grep '"raft_tls":true' | grep -o '"deployment_id":[0-9]*' | tail -1; done | sort -u)
echo "   Raft transport: $dids"
check "Raft on mutual TLS, one derived deployment id on all brokers" test "$(echo "$dids" | grep -c .)" = 1 -a -n "$dids" -a "$dids" != '"deployment_id":1'

echo "== secure smoke: $((SECONDS - t0))s, smoke test exit $smoke, $failed refusal checks failed"
[ "$smoke" = 0 ] && [ "$failed" = 0 ]
