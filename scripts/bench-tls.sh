#!/usr/bin/env bash
# SASL_SSL vs PLAINTEXT produce throughput in one run: starts three brokers
# as `longboat dev` does (same Raft soft settings), each with a PLAINTEXT
# listener and a SASL_SSL one (SCRAM-SHA-512, certificates from
# scripts/gen-certs.sh), then runs `longboat bench --compare-plaintext`:
# first on the PLAINTEXT listeners, then the same settings over SASL_SSL on
# another topic, and prints both and their ratio. RAFT_TLS=1 also runs Raft
# over mutual TLS (both runs then pay for it). Stops the brokers afterwards.
#
# Usage: scripts/bench-tls.sh [seconds per run, default 20] [producers, default 4]
# LONGBOAT_BIN runs that binary instead of building one.
# Ports while it runs (BASE, default 31400, below the ephemeral range): PLAINTEXT BASE+1..3, SASL_SSL BASE+11..13,
# Raft BASE+21..23, HTTP BASE+31..33.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
producers=${2:-4}
base=${BASE:-31400}
. scripts/lib/cluster.sh
cluster_init
scripts/gen-certs.sh "$work/certs" >/dev/null
listeners= raft= http= plain= secure=
for i in 1 2 3; do
	listeners+=" PLAINTEXT://127.0.0.1:$((base + i)),SASL_SSL://127.0.0.1:$((base + 10 + i))"
	raft+=" 127.0.0.1:$((base + 20 + i))"
	http+=" 127.0.0.1:$((base + 30 + i))"
	secure+="${secure:+,}127.0.0.1:$((base + 10 + i))"
done
tls=(--tls-cert-file "$work/certs/broker@i@.pem" --tls-key-file "$work/certs/broker@i@-key.pem" --tls-client-ca-file "$work/certs/ca.pem"
	--bootstrap-scram-users bench:bench-secret)
[ "${RAFT_TLS:-}" = 1 ] && tls+=(--raft-tls)
cluster_start "$listeners" "$raft" "$http" "${tls[@]}"
plain=$bootstrap
cat >"$work/client.properties" <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.username=bench
sasl.password=bench-secret
ssl.ca.location=$work/certs/ca.pem
PROPS
# Warm-up, not reported: the first run after a start otherwise also pays
# for leader balancing and cold caches, which favoured whichever ran second.
"$bin" bench --brokers "$plain" --duration 10s --producers "$producers" --topic bench-tls-warmup --consume=false >/dev/null 2>&1
echo "machine: $(nproc) CPUs, Raft TLS: ${RAFT_TLS:-0}, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin" bench --brokers "$secure" --command-config "$work/client.properties" --compare-plaintext "$plain" \
	--duration "${secs}s" --producers "$producers" --topic bench-tls
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
