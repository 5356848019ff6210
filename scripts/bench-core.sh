#!/usr/bin/env bash
# Produce benchmark of the core cluster, one run after the other on this
# machine: three brokers RF=3 acks=all, then one broker RF=1 acks=all.
# 1 KiB records, 6 partitions. Prints both tables and the ratio.
# Usage: scripts/bench-core.sh [duration, default 20s] [producers, default 4]
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-20s}
producers=${2:-4}
work=$(mktemp -d /tmp/longboat-bench.XXXXXX)
bin=$work/longboat
go build -o "$bin" ./cmd/longboat

run() { # nodes rf label
  local nodes=$1 rf=$2 label=$3 dir=$work/data-$1
  "$bin" dev --nodes "$nodes" --dir "$dir" --log-level warn > "$work/dev-$nodes.log" 2>&1 &
  local dev=$!
  local brokers=localhost:9092
  [ "$nodes" -ge 3 ] && brokers=localhost:9092,localhost:9093,localhost:9094
  for _ in $(seq 1 120); do
    ok=1
    for i in $(seq 1 "$nodes"); do
      "$bin" healthcheck --http-addr "127.0.0.1:$((13091 + i))" >/dev/null 2>&1 || ok=0
    done
    [ $ok = 1 ] && break
    sleep 0.5
  done
  "$bin" bench --brokers "$brokers" --topic bench --partitions 6 --replication-factor "$rf" \
    --record-size 1024 --acks all --producers "$producers" --duration "$dur" \
    --name "$label" --json "$work/$nodes.json" | tee "$work/$nodes.txt"
  kill -TERM "$dev"; wait "$dev" || true
}

echo "== $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%MZ), ${dur} per run, ${producers} producers"
run 3 3 "3 brokers RF=3 acks=all"
run 1 1 "1 broker RF=1 acks=all"
echo
echo "== summary"
head -1 "$work/3.txt"
tail -1 "$work/3.txt"
tail -1 "$work/1.txt"
rf3=$(grep -o '"mb_per_sec": [0-9.]*' "$work/3.json" | awk '{print $2}')
rf1=$(grep -o '"mb_per_sec": [0-9.]*' "$work/1.json" | awk '{print $2}')
awk -v a="$rf3" -v b="$rf1" 'BEGIN { printf "RF=3 / RF=1 throughput: %.2f\n", a / b }'
rm -rf "$work"
