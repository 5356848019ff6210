#!/usr/bin/env bash
# Fault-injection suite (docs/CHAOS.md): three brokers as processes in
# network namespaces, kills, pauses and partitions on a seeded schedule,
# then every invariant docs/CHAOS.md lists. Needs root (ip netns, iptables); without
# it the brokers run on loopback with kill and pause only.
#
#   scripts/chaos-test.sh            short form (CI): ~4 minutes, >= 12 events
#   scripts/chaos-test.sh --long     long form: 30 minutes
#   extra arguments go to longboat-chaos (--seed N, --duration 45m, --kinds ...)
#   scripts/chaos-test.sh --kinds reassign,kill-leader --duration 300s
#                                    four brokers: partition moves under faults
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
args=(--duration 260s --seed "${CHAOS_SEED:-42}" --min-events 12 --long-fault-min 15s --long-fault-max 20s)
if [[ "${1:-}" == "--long" ]]; then
	shift
	args=(--duration 30m --seed "${CHAOS_SEED:-$RANDOM}" --min-events 60)
fi
# The disk-full and io-error nemeses need a loop-mounted filesystem per
# broker: root, a free loop device and mkfs.ext4. Images are sparse; 2 GiB
# leaves room above a broker's free-space floor.
if [[ $EUID -eq 0 ]] && command -v mkfs.ext4 >/dev/null && losetup -f >/dev/null 2>&1; then
	args+=(--disk-size 2147483648)
else
	echo "chaos-test: no loop devices or mkfs.ext4 (or not root): running without the disk-full and io-error nemeses" >&2
fi
"$out/bin/longboat-chaos" --bin "$out/bin/longboat" --out "$out/run" "${args[@]}" "$@"
