#!/usr/bin/env bash
# Time to move a partition holding 1 GB of log, and what the move costs the
# produce path, in one run:
#   1. three brokers started as `longboat dev` starts them (same serve flags
#      and Raft soft settings) on ports from BASE, and a topic `big` (1
#      partition, RF 3) filled with BYTES of 1 KiB records by `longboat
#      bench`;
#   2. broker 4 joins (--join) and a topic `load` (3 partitions, RF 3) is
#      created;
#   3. `longboat bench` produces to `load` for SECS seconds (acks=all): the
#      figure without a move;
#   4. big/0 moves from its replicas to broker 4 in place of its last one
#      (`topics reassign`, which times the move to its end) while the same
#      bench runs again in slices of SECS, started with the move, until the
#      move has ended;
#   5. the bench runs once more after the move.
# Prints each bench table, the move's time and MB/s, the ratio during/without
# (during = the mean of the slices that ended before the move did, or the
# first slice when the move was shorter; without = the mean of steps 3 and
# 5, so a drift of the machine's load shows) and the load average at each
# step. Everything is bounded: the fill by FILL_TIMEOUT, the move by
# MOVE_TIMEOUT, each bench by SECS.
#
# Usage: scripts/bench-move.sh [BYTES, default 1073741824] [SECS, default 20] [BASE port, default 32000]
# Ports while it runs: Kafka BASE+1..4, Raft BASE+101..104, HTTP BASE+501..504.
# Environment: FILL_TIMEOUT (900 s), MOVE_TIMEOUT (1200 s), BENCH_MOVE_DIR
# (data directories; default a temporary directory, removed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
bytes=${1:-1073741824}
secs=${2:-20}
base=${3:-32000}
fill_timeout=${FILL_TIMEOUT:-900}
move_timeout=${MOVE_TIMEOUT:-1200}
work=${BENCH_MOVE_DIR:-$(mktemp -d)}
mkdir -p "$work"
bin=$work/longboat
go build -o "$bin" ./cmd/longboat
cp cmd/longboat/devconfig/dragonboat-soft-settings.json "$work/"
members= http= bootstrap=
for i in 1 2 3; do
	members+="${members:+,}$i=127.0.0.1:$((base + 100 + i))"
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
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
serve() { # node id, then the membership flags
	local i=$1
	shift
	(cd "$work" && exec "$bin" serve --node-id "$i" --data-dir "$work/node$i" \
		--listeners "PLAINTEXT://127.0.0.1:$((base + i))" --advertised-listeners "PLAINTEXT://127.0.0.1:$((base + i))" \
		--raft-addr "127.0.0.1:$((base + 100 + i))" --http-addr "127.0.0.1:$((base + 500 + i))" \
		"$@" --log-level warn >"$work/broker$i.log" 2>&1) &
	pids+=($!)
}
for i in 1 2 3; do serve "$i" --initial-members "$members" --initial-members-http "$http"; done
for _ in $(seq 90); do
	"$bin" cluster status --bootstrap-server "$bootstrap" --http '' >/dev/null 2>&1 && break
	sleep 1
done
echo "machine: $(nproc) CPUs; load average $(loadavg)"

records=$((bytes / 1024))
echo "== fill: $records records of 1 KiB into big/0 (RF 3), at most ${fill_timeout}s"
t=$SECONDS
timeout "$fill_timeout" "$bin" bench --brokers "$bootstrap" --topic big --partitions 1 --replication-factor 3 \
	--records "$records" --record-size 1024 --consume=false --name fill
end=$("$bin" topics describe --brokers "$bootstrap" --topic big | awk '$1 == "big" && $2 == 0 {print $8}')
echo "   filled in $((SECONDS - t))s; big/0 log end offset $end; load average $(loadavg)"
du -sh "$work"/node*/ 2>/dev/null | sed 's/^/   /'

echo "== broker 4 joins"
serve 4 --join "127.0.0.1:$((base + 501))"
bootstrap+=",127.0.0.1:$((base + 4))"
for _ in $(seq 90); do
	curl -fsS "http://127.0.0.1:$((base + 504))/readyz" >/dev/null 2>&1 && break
	sleep 1
done
"$bin" topics create --brokers "$bootstrap" --topic load --partitions 3 --replication-factor 3

bench() { # name
	echo "   load average $(loadavg)"
	"$bin" bench --brokers "$bootstrap" --topic load --duration "${secs}s" --consume=false --name "$1" --json "$work/$2.json"
}
echo "== bench without a move"
bench "before the move" before

from=$("$bin" topics describe --brokers "$bootstrap" --topic big | awk '$1 == "big" && $2 == 0 {print $5}')
# Broker 4 replaces the replica listed last, a follower: the leader stays
# and streams the snapshot.
to=$(echo "$from" | awk -F, '{$NF = 4; print}' OFS=,)
echo "== move big/0 from $from to $to (at most ${move_timeout}s), with the bench running"
"$bin" topics reassign --brokers "$bootstrap" --topic big --partition 0 --replicas "$to" --wait "${move_timeout}s" \
	>"$work/move.out" 2>"$work/move.err" &
move=$!
# Bench slices of SECS until the move has ended: the slices that ended
# before it make the "during" figure (the first slice alone when the move
# was shorter than one).
slices=0 full=0
while :; do
	slices=$((slices + 1))
	bench "during the move, slice $slices" "during-$slices"
	if ! kill -0 "$move" 2>/dev/null; then break; fi
	full=$slices
done
wait "$move" || { cat "$work/move.err"; echo "move failed" >&2; exit 1; }
cat "$work/move.err" "$work/move.out" | sed 's/^/   /'
move_s=$(awk '$1 == "big" && $2 == 0 {print $6}' "$work/move.out")
echo "== bench after the move"
bench "after the move" after

field() { # file, then a Python expression on the result r
	python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); r = next(iter(r.values())); print(eval(sys.argv[2]))' "$work/$1.json" "$2"
}
rps() { field "$1" 'r["records_per_sec"]'; }
p99() { field "$1" 'r["latency_ms"]["P99"]'; }
echo
echo "== summary (load average now $(loadavg))"
awk -v b="$bytes" -v s="$move_s" -v secs="$secs" 'BEGIN {
	printf "move of big/0 (%.0f MB): %.1f s, %.1f MB/s\n", b / 1e6, s, b / 1e6 / s }'
# "during": the mean of the slices inside the move.
n=$((full > 0 ? full : 1))
d_rps=0 d_p99=0
for k in $(seq "$n"); do
	d_rps=$(awk -v a="$d_rps" -v b="$(rps "during-$k")" -v n="$n" 'BEGIN {print a + b / n}')
	d_p99=$(awk -v a="$d_p99" -v b="$(p99 "during-$k")" -v n="$n" 'BEGIN {print a + b / n}')
done
echo "\"during\": mean of $n slice(s) of ${secs}s$([ "$full" = 0 ] && echo ", the first one, which outlasted the move")"
awk -v b1="$(rps before)" -v d="$d_rps" -v a="$(rps after)" -v pb="$(p99 before)" -v pd="$d_p99" -v pa="$(p99 after)" 'BEGIN {
	w = (b1 + a) / 2; pw = (pb + pa) / 2
	printf "produce records/s: before %.0f, during %.0f, after %.0f; during / without = %.2f\n", b1, d, a, d / w
	printf "produce p99 ms:    before %.1f, during %.1f, after %.1f; during / without = %.2f\n", pb, pd, pa, pd / pw }'
