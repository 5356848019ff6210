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
# Ports while it runs (BASE, default 31400, below the ephemeral range): PLAINTEXT BASE+1..3, SASL_SSL BASE+11..13,
# Raft BASE+21..23, HTTP BASE+31..33.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
producers=${2:-4}
base=${BASE:-31400}
work=$(mktemp -d)
bin=$work/longboat
go build -o "$bin" ./cmd/longboat
cp cmd/longboat/devconfig/dragonboat-soft-settings.json "$work/"
scripts/gen-certs.sh "$work/certs" >/dev/null
members= http= plain= secure=
for i in 1 2 3; do
	members+="${members:+,}$i=127.0.0.1:$((base + 20 + i))"
	http+="${http:+,}$i=127.0.0.1:$((base + 30 + i))"
	plain+="${plain:+,}127.0.0.1:$((base + i))"
	secure+="${secure:+,}127.0.0.1:$((base + 10 + i))"
done
raft=()
[ "${RAFT_TLS:-}" = 1 ] && raft=(--raft-tls)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
for i in 1 2 3; do
	listeners="PLAINTEXT://127.0.0.1:$((base + i)),SASL_SSL://127.0.0.1:$((base + 10 + i))"
	(cd "$work" && LONGBOAT_BOOTSTRAP_SCRAM_USERS=bench:bench-secret exec "$bin" serve --node-id "$i" --data-dir "$work/node$i" \
		--listeners "$listeners" --advertised-listeners "$listeners" \
		--tls-cert-file "$work/certs/broker$i.pem" --tls-key-file "$work/certs/broker$i-key.pem" \
		--tls-client-ca-file "$work/certs/ca.pem" "${raft[@]}" \
		--raft-addr "127.0.0.1:$((base + 20 + i))" --initial-members "$members" --initial-members-http "$http" \
		--http-addr "127.0.0.1:$((base + 30 + i))" --default-replication-factor 3 --log-level warn >"$work/broker$i.log" 2>&1) &
	pids+=($!)
done
cat >"$work/client.properties" <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.username=bench
sasl.password=bench-secret
ssl.ca.location=$work/certs/ca.pem
PROPS
ready=0
for _ in $(seq 120); do
	ready=0
	for i in 1 2 3; do
		"$bin" healthcheck --http-addr "127.0.0.1:$((base + 30 + i))" >/dev/null 2>&1 && ready=$((ready + 1))
	done
	[ "$ready" = 3 ] && break
	sleep 1
done
if [ "$ready" != 3 ]; then
	echo "brokers not ready after 120 s:"
	tail -n 5 "$work"/broker*.log
	exit 1
fi
# Warm-up, not reported: the first run after a start otherwise also pays
# for leader balancing and cold caches, which favoured whichever ran second.
"$bin" bench --brokers "$plain" --duration 10s --producers "$producers" --topic bench-tls-warmup --consume=false >/dev/null 2>&1
echo "machine: $(nproc) CPUs, Raft TLS: ${RAFT_TLS:-0}, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin" bench --brokers "$secure" --command-config "$work/client.properties" --compare-plaintext "$plain" \
	--duration "${secs}s" --producers "$producers" --topic bench-tls
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
