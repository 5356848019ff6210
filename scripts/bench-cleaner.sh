#!/usr/bin/env bash
# The log cleaner's effect on a full broker's produce throughput, in one
# run: three brokers started as `longboat dev` starts them (same serve
# flags and Raft soft settings, cleaner backoff 1 s) on ports from BASE,
# a compacted topic `churn` (3 partitions RF=3, 1 MiB segments,
# min.cleanable.dirty.ratio 0.05) that kcat rewrites all along (2,000 keys,
# 200-byte values, 20,000 records then a 1 s pause, again and again), and
# `longboat bench` producing to another topic in alternating phases: churn
# with cleanup.policy=delete (no cleaning), then compact (the cleaners of
# all nine replicas at work), round after round. Each phase prints the bench result,
# the bytes the three brokers' cleaners cleaned during it, and the load
# average. Stops everything afterwards.
#
# Usage: scripts/bench-cleaner.sh [seconds per phase, default 20] [BASE port, default 31000] [rounds, default 2]
# LONGBOAT_BIN runs that binary instead of building one.
# Ports while it runs: Kafka BASE+1..3, Raft BASE+101..103, HTTP BASE+501..503.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
base=${2:-31000}
rounds=${3:-2}
command -v kcat >/dev/null || { echo "kcat is needed for the churn writer" >&2; exit 1; }
. scripts/lib/cluster.sh
cluster_init
listeners= raft= http= metrics=()
for i in 1 2 3; do
	listeners+=" PLAINTEXT://127.0.0.1:$((base + i))"
	raft+=" 127.0.0.1:$((base + 100 + i))"
	http+=" 127.0.0.1:$((base + 500 + i))"
	metrics+=("http://127.0.0.1:$((base + 500 + i))/metrics")
done
cluster_start "$listeners" "$raft" "$http" --log-cleaner-backoff 1s
"$bin" topics create --brokers "$bootstrap" --topic churn --partitions 3 --replication-factor 3 \
	--config cleanup.policy=delete,segment.bytes=1048576,min.cleanable.dirty.ratio=0.05,delete.retention.ms=1000

# 2,000 keys x 10 versions of 200-byte values: 4.5 MB a round.
awk 'BEGIN { v = sprintf("%0190d", 0); for (r = 0; r < 10; r++) for (k = 0; k < 2000; k++) printf "key-%d:%d-%s\n", k, r, v }' >"$work/churn.txt"
churn() {
	local end=$((SECONDS + 2 * rounds * (secs + 15) + 30))
	while ((SECONDS < end)); do
		kcat -P -b "$bootstrap" -t churn -K: -z none -X linger.ms=20 -l "$work/churn.txt" 2>>"$work/kcat.log" || true
		sleep 1
	done
}
churn &
pids+=($!)
sleep 5

cleaned() { # bytes cleaned so far, all three brokers
	local sum=0 v
	for m in "${metrics[@]}"; do
		v=$(curl -fsS "$m" | awk '/^longboat_log_cleaner_bytes_cleaned_total / { printf "%d", $2 }')
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}
echo "machine: $(nproc) CPUs"
for round in $(seq "$rounds"); do
	for policy in delete compact; do
		"$bin" configs alter --brokers "$bootstrap" --entity-type topics --entity-name churn --add-config "cleanup.policy=$policy" >/dev/null
		sleep 3
		before=$(cleaned)
		load_before=$(cut -d' ' -f1 /proc/loadavg)
		"$bin" bench --brokers "$bootstrap" --topic "bench-$policy" --partitions 3 --duration "${secs}s" --consume=false \
			--name "round $round, churn cleanup.policy=$policy"
		after=$(cleaned)
		echo "  cleaned during the phase: $(((after - before) / 1000000)) MB; load average $load_before -> $(cut -d' ' -f1 /proc/loadavg)"
	done
done
