#!/usr/bin/env bash
# Transactional vs idempotent produce throughput in one run: starts three
# brokers as `longboat dev` does (same serve flags and Raft soft settings)
# on ports that do not clash with a dev cluster, then runs
# `longboat bench --transactional --compare-idempotent`: first the
# idempotent producer, then the transactional one on another topic, and
# prints both and their ratio. Stops the brokers afterwards.
#
# Usage: scripts/bench-txn.sh [seconds per producer, default 20] [records per transaction, default 500] [producers, default 4]
# Ports while it runs: Kafka 29092-29094, Raft 29192/29292/29392, HTTP 29592-29594
# (BENCH_PORT_BASE moves them: Kafka BASE+1..3, Raft BASE+101/201/301, HTTP BASE+501..503).
# LONGBOAT_BIN runs that binary instead of building one (to compare two builds);
# BENCH_BIN runs `longboat bench` from another binary (default: the same one),
# so that two server builds are measured by one client.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
per_txn=${2:-500}
producers=${3:-4}
base=${BENCH_PORT_BASE:-29091}
work=$(mktemp -d)
bin=${LONGBOAT_BIN:-$work/longboat}
[ -n "${LONGBOAT_BIN:-}" ] || go build -o "$bin" ./cmd/longboat
client=${BENCH_BIN:-$bin}
cp cmd/longboat/devconfig/dragonboat-soft-settings.json "$work/"
members= http= bootstrap=
for i in 1 2 3; do
	members+="${members:+,}$i=127.0.0.1:$((base + 1 + 100 * i))"
	http+="${http:+,}$i=127.0.0.1:$((base + 500 + i))"
	bootstrap+="${bootstrap:+,}127.0.0.1:$((base + i))"
done
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
for i in 1 2 3; do
	(cd "$work" && exec "$bin" serve --node-id "$i" --data-dir "$work/node$i" \
		--listeners "PLAINTEXT://127.0.0.1:$((base + i))" --advertised-listeners "PLAINTEXT://127.0.0.1:$((base + i))" \
		--raft-addr "127.0.0.1:$((base + 1 + 100 * i))" --initial-members "$members" --initial-members-http "$http" \
		--http-addr "127.0.0.1:$((base + 500 + i))" --default-replication-factor 3 --log-level warn >"$work/broker$i.log" 2>&1) &
	pids+=($!)
done
for _ in $(seq 60); do
	"$bin" cluster status --bootstrap-server "$bootstrap" >/dev/null 2>&1 && break
	sleep 1
done
echo "machine: $(nproc) CPUs, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$client" bench --brokers "$bootstrap" --transactional --compare-idempotent --records-per-txn "$per_txn" \
	--duration "${secs}s" --producers "$producers" --topic bench-txn
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
