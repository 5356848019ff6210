#!/usr/bin/env bash
# Transactional vs idempotent produce throughput in one run: three phases,
# the idempotent producer, the transactional one, the idempotent one again,
# each on three fresh brokers (started as `longboat dev` starts them, on
# ports that do not clash with a dev cluster, from empty data directories)
# with an unmeasured warm-up of the same producer first. Prints each phase
# and the transactional / idempotent ratio, to the mean of the idempotent
# phases and to each. Given several producer counts it runs the three
# phases for each count and ends with a table of them.
#
# Why several counts: a transactional producer begins its next transaction
# only once EndTxn answered, so it keeps at most one transaction's records
# in flight and waits out its chain of Raft rounds (AddPartitionsToTxn
# behind the previous transaction's markers, the records, EndTxn); an
# idempotent one keeps thousands in flight. With few producers the ratio
# measures that chain's latency; it rises with the count until the
# transactional producers load the brokers too. The last line compares the
# best rate of each kind over all counts: the throughput the cluster
# reaches with either.
#
# Why fresh brokers per phase: on the same cluster, a phase that follows a
# 20-second full-speed one ran 11-33% slower (docs/BENCHMARKS.md, "A phase
# after a full-speed one"), so whichever producer ran second was measured
# on a slower cluster.
#
# Usage: scripts/bench-txn.sh [seconds per producer, default 20] [records per transaction, default 500] [producer counts, default "4 8 16 32 64"]
# Ports while it runs: Kafka 29092-29094, Raft 29192/29292/29392, HTTP 29592-29594
# (BENCH_PORT_BASE moves them: Kafka BASE+1..3, Raft BASE+101/201/301, HTTP BASE+501..503).
# LONGBOAT_BIN runs that binary instead of building one (to compare two builds);
# BENCH_BIN runs `longboat bench` from another binary (default: the same one),
# so that two server builds are measured by one client.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
per_txn=${2:-500}
counts=${3:-4 8 16 32 64}
for producers in $counts; do
	case $producers in '' | *[!0-9]* | 0) echo "producer counts must be whole numbers above 0, got '$counts'" >&2; exit 2 ;; esac
done
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

summary=()
for producers in $counts; do
	echo
	echo "=== $producers producers"
	phase before "idempotent (before)" --idempotent
	phase txn "txn $per_txn/txn" --transactional --records-per-txn "$per_txn"
	phase after "idempotent (after)" --idempotent
	echo
	line=$(awk -v p="$producers" -v t="$(rate txn)" -v b="$(rate before)" -v a="$(rate after)" 'BEGIN {
		printf "%9d %12.0f %14.0f %11.0f %6.2f (%.2f, %.2f)", p, b, t, a, t / ((b + a) / 2), t / b, t / a
	}')
	summary+=("$line")
	echo "transactional / idempotent throughput at $producers producers: $(echo "$line" | awk '{ print $5, $6, $7 }')"
done
echo
echo "records/s by producer count (ratio: to the mean of the idempotent runs, and to each)"
printf "%9s %12s %14s %11s %s\n" producers "idem before" transactional "idem after" ratio
printf "%s\n" "${summary[@]}"
awk '{ if ($2 > idem) idem = $2; if ($4 > idem) idem = $4; if ($3 > txn) txn = $3 }
	END { printf "best rate: transactional %.0f, idempotent %.0f records/s, ratio %.2f\n", txn, idem, txn / idem }' < <(printf "%s\n" "${summary[@]}")
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
