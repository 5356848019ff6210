#!/usr/bin/env bash
# The secured appliance (compose/secure.yml) end to end, offline: makes
# certificates with scripts/gen-certs.sh in a temporary directory, builds
# longboat:secure-smoke from a host binary (Dockerfile target "local"),
# starts the three brokers with docker-compose.yml + compose/secure.yml,
# runs scripts/smoke-test.sh over SASL_SSL (SCRAM-SHA-512 as admin, with
# the client certificate), then checks what must be refused:
#   - a PLAINTEXT client, and a TLS client without SASL, on EXTERNAL;
#   - SASL_SSL with a wrong password, and without a client certificate;
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

props() { # file protocol [password] [with-cert]
  {
    echo "security.protocol=$2"
    echo "ssl.ca.location=$work/certs/ca.pem"
    if [ -n "${3:-}" ]; then
      echo "sasl.mechanism=SCRAM-SHA-512"
      echo "sasl.username=admin"
      echo "sasl.password=$3"
    fi
    if [ -n "${4:-}" ]; then
      echo "ssl.certificate.location=$work/certs/client.pem"
      echo "ssl.key.location=$work/certs/client-key.pem"
    fi
  } > "$1"
  chmod 0644 "$1"
}
props "$work/admin.properties" SASL_SSL "$LONGBOAT_ADMIN_PASSWORD" cert
props "$work/wrong.properties" SASL_SSL wrong-password cert
props "$work/nocert.properties" SASL_SSL "$LONGBOAT_ADMIN_PASSWORD"
props "$work/ssl.properties" SSL "" cert

SMOKE_COMMAND_CONFIG=$work/admin.properties READY_TIMEOUT=180 scripts/smoke-test.sh
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
refused() { ! "$@"; }
echo
echo "== refusals"
check "admin over SASL_SSL lists topics" client "$work/admin.properties" topics list --brokers localhost:9092
check "PLAINTEXT client refused on EXTERNAL" refused client "" topics list --brokers localhost:9092 --timeout 10s
check "TLS without SASL refused on EXTERNAL" refused client "$work/ssl.properties" topics list --brokers localhost:9092 --timeout 10s
check "wrong password refused" refused client "$work/wrong.properties" topics list --brokers localhost:9092 --timeout 10s
check "no client certificate refused" refused client "$work/nocert.properties" topics list --brokers localhost:9092 --timeout 10s
dids=$(for b in 1 2 3; do docker logs "longboat-broker$b" 2>&1 | grep '"Raft transport"' | grep '"raft_tls":true' | grep -o '"deployment_id":[0-9]*' | tail -1; done | sort -u)
echo "   Raft transport: $dids"
check "Raft on mutual TLS, one derived deployment id on all brokers" test "$(echo "$dids" | grep -c .)" = 1 -a -n "$dids" -a "$dids" != '"deployment_id":1'

echo "== secure smoke: $((SECONDS - t0))s, smoke test exit $smoke, $failed refusal checks failed"
[ "$smoke" = 0 ] && [ "$failed" = 0 ]
