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
. scripts/lib/cluster.sh
cluster_init
client=${BENCH_BIN:-$bin}
listeners= raft= http=
for i in 1 2 3; do
	listeners+=" PLAINTEXT://127.0.0.1:$((base + i))"
	raft+=" 127.0.0.1:$((base + 1 + 100 * i))"
	http+=" 127.0.0.1:$((base + 500 + i))"
done
cluster_start "$listeners" "$raft" "$http"
echo "machine: $(nproc) CPUs, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$client" bench --brokers "$bootstrap" --transactional --compare-idempotent --records-per-txn "$per_txn" \
	--duration "${secs}s" --producers "$producers" --topic bench-txn
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
