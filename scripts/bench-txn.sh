#!/usr/bin/env bash
# Transactional vs idempotent produce throughput in one run: three phases,
# the idempotent producer, the transactional one, the idempotent one again,
# each on three fresh brokers (started as `longboat dev` starts them, on
# ports that do not clash with a dev cluster, from empty data directories)
# with an unmeasured warm-up of the same producer first. Prints each phase
# and the transactional / idempotent ratio, to the mean of the idempotent
# phases and to each.
#
# Why fresh brokers per phase: on the same cluster, a phase that follows a
# 20-second full-speed one ran 11-33% slower (docs/BENCHMARKS.md, "A phase
# after a full-speed one"), so whichever producer ran second was measured
# on a slower cluster.
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
echo "machine: $(nproc) CPUs, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

# phase KEY NAME FLAGS...: one measured run on fresh brokers; its result in $work/KEY.json
phase() {
	local key=$1 name=$2
	shift 2
	cluster_start "$listeners" "$raft" "$http"
	local -a common=(--brokers "$bootstrap" --producers "$producers" --topic "bench-txn-$key" "$@")
	# Leaders elected and balanced, connections open: not measured.
	"$client" bench "${common[@]}" --duration 3s --consume=false >"$work/$key.warmup" 2>&1 ||
		{ tail -n 20 "$work/$key.warmup" >&2; exit 1; }
	echo
	echo "== $name"
	"$client" bench "${common[@]}" --duration "${secs}s" --name "$name" --json "$work/$key.json"
	cluster_stop
}
rate() { sed -n 's/.*"records_per_sec": \([0-9.]*\).*/\1/p' "$work/$1.json" | head -1; }

phase before "idempotent (before)" --idempotent
phase txn "txn $per_txn/txn" --transactional --records-per-txn "$per_txn"
phase after "idempotent (after)" --idempotent
echo
awk -v t="$(rate txn)" -v b="$(rate before)" -v a="$(rate after)" 'BEGIN {
	printf "records/s: idempotent before %.0f, transactional %.0f, idempotent after %.0f\n", b, t, a
	printf "transactional / idempotent throughput: %.2f (to the runs before and after: %.2f, %.2f)\n", t / ((b + a) / 2), t / b, t / a
}'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
