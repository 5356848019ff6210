#!/usr/bin/env bash
# Fault-injection suite (docs/CHAOS.md): three brokers as processes in
# network namespaces, kills, pauses and partitions on a seeded schedule,
# then every invariant docs/CHAOS.md lists. Needs root (ip netns, iptables); without
# it the brokers run on loopback with kill and pause only.
#
#   scripts/chaos-test.sh            short form (CI): ~3 minutes, >= 10 events
#   scripts/chaos-test.sh --long     long form: 30 minutes
#   extra arguments go to longboat-chaos (--seed N, --duration 45m, --kinds ...)
#
# Exits non-zero on any anomaly. The output directory (history.jsonl,
# schedule.jsonl, summary.txt, broker logs) is printed at the end; set
# CHAOS_OUT to choose it.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${CHAOS_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/longboat-chaos.XXXXXX")}
mkdir -p "$out/bin"
go build -o "$out/bin/longboat" ./cmd/longboat
go build -o "$out/bin/longboat-chaos" ./cmd/longboat-chaos
args=(--duration 160s --seed "${CHAOS_SEED:-42}" --min-events 10)
if [[ "${1:-}" == "--long" ]]; then
	shift
	args=(--duration 30m --seed "${CHAOS_SEED:-$RANDOM}" --min-events 60)
fi
"$out/bin/longboat-chaos" --bin "$out/bin/longboat" --out "$out/run" "${args[@]}" "$@"
