#!/usr/bin/env bash
# Catching up after an outage (issue 22 item 1): three brokers (`longboat
# serve`) on loopback, a topic of 6 partitions RF=3, then
#   1. fill: `longboat bench` unlimited until broker 3 holds LOG_GB of
#      partition log (segment bytes), and wait until its replicas match
#      broker 1's;
#   2. outage: kill -9 broker 3 and produce OUTAGE seconds at RATE records/s
#      of 1 KiB (`longboat bench --rate`) through brokers 1-2, then restart
#      broker 3;
#   3. catch-up: poll every 0.2 s until broker 3's segment bytes equal broker
#      1's on all 6 partitions; report the time from the restart, what broker
#      3 wrote meanwhile (/proc/<pid>/io wchar and write_bytes of the
#      restarted process) against the bytes it missed (broker 1's segment
#      growth over the outage), and the snapshot bytes its replicas installed.
# Goal (issue 22): caught up <= 10 s after the restart, writes <= 3x missed.
# Not part of CI: minutes, and LOG_GB x 3 brokers of disk (plus Raft logs).
#
# Usage: scripts/bench-catchup.sh
# Env:   LOG_GB (default 2)  OUTAGE (s, default 15)  RATE (records/s, default 5000)
#        PORT_BASE (default 29100): Kafka BASE+1..3, Raft BASE+11..13, HTTP BASE+21..23
#        LONGBOAT_BIN: use this binary instead of building one
#        KEEP_LOGS: copy the brokers' logs into this directory at the end
set -euo pipefail
cd "$(dirname "$0")/.."
log_gb=${LOG_GB:-2}
outage=${OUTAGE:-15}
rate=${RATE:-5000}
base=${PORT_BASE:-29100}

work=$(mktemp -d /tmp/longboat-catchup.XXXXXX)
declare -A pids
stop_all() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  pids=()
}
cleanup() {
  stop_all
  if [ -n "${KEEP_LOGS:-}" ]; then mkdir -p "$KEEP_LOGS" && cp "$work"/node*.log "$KEEP_LOGS/"; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t_start=$(date +%s)
stage() { printf '\n== [%3ds] %s (load %s)\n' $(($(date +%s) - t_start)) "$*" "$(cut -d' ' -f1-3 /proc/loadavg)"; }
now() { date +%s.%N; }

stage "build"
if [ -n "${LONGBOAT_BIN:-}" ]; then
  cp "$LONGBOAT_BIN" "$work/longboat"
else
  go build -o "$work/longboat" ./cmd/longboat
fi

kafka() { echo "127.0.0.1:$((base + $1))"; }
raftp() { echo "127.0.0.1:$((base + 10 + $1))"; }
httpa() { echo "127.0.0.1:$((base + 20 + $1))"; }
members="1=$(raftp 1),2=$(raftp 2),3=$(raftp 3)"
members_http="1=$(httpa 1),2=$(httpa 2),3=$(httpa 3)"
mkdir -p "$work/cwd"
cp docker/etc/longboat/dragonboat-soft-settings.json "$work/cwd/"
start() {
  (
    cd "$work/cwd" && exec "$work/longboat" serve --node-id "$1" --data-dir "$work/node$1" --listeners "PLAINTEXT://$(kafka "$1")" \
      --raft-addr "$(raftp "$1")" --initial-members "$members" --initial-members-http "$members_http" --http-addr "$(httpa "$1")" \
      --log-level warn --log-format json >>"$work/node$1.log" 2>&1
  ) &
  pids[$1]=$!
}
ready() { curl -fs --max-time 5 -o /dev/null "http://$(httpa "$1")/readyz"; }
wait_ready() {
  for _ in $(seq 1 240); do
    ok=1
    for i in "$@"; do ready "$i" || ok=0; done
    [ $ok = 1 ] && return 0
    sleep 0.5
  done
  echo "brokers $* not ready after 120s" >&2
  tail -5 "$work"/node*.log >&2
  exit 1
}
# seg_bytes I: "shard bytes" lines, the segment bytes of each partition
# replica of broker I
seg_bytes() {
  find "$work/node$1/partitions" -path '*/log/*.log' -printf '%h %s\n' 2>/dev/null |
    awk '{ sub(/\/log$/, "", $1); n = split($1, p, "/"); s[p[n]] += $2 } END { for (k in s) printf "%s %.0f\n", k, s[k] }' | sort
}
total_bytes() { seg_bytes "$1" | awk '{ s += $2 } END { printf "%.0f\n", s }'; }
# matched: broker 3's replicas hold as many segment bytes as broker 1's
matched() { [ "$(seg_bytes 1)" = "$(seg_bytes 3)" ] && [ -n "$(seg_bytes 1)" ]; }
bench() { "$work/longboat" bench --topic catchup --partitions 6 --replication-factor 3 --record-size 1024 --acks all --consume=false "$@"; }

stage "start 3 brokers (Kafka $(kafka 1)-$((base + 3)), HTTP $(httpa 1)-$((base + 23)))"
for i in 1 2 3; do start "$i"; done
wait_ready 1 2 3

stage "1/3 fill: produce until broker 3 holds ${log_gb} GB of partition log"
target=$((log_gb * 1000 * 1000 * 1000))
while [ "$(total_bytes 3)" -lt "$target" ]; do
  bench --brokers "$(kafka 1),$(kafka 2),$(kafka 3)" --producers 4 --duration 10s >"$work/fill.txt"
  echo "  broker 3: $(total_bytes 3) bytes; $(grep -oE '[0-9.]+ MB/s' "$work/fill.txt" | head -1)"
done
for _ in $(seq 1 600); do matched && break; sleep 0.2; done
matched || { echo "broker 3's replicas do not match broker 1's after 120s" >&2; exit 1; }
log_bytes=$(total_bytes 3)
echo "broker 3 holds $log_bytes bytes, equal to broker 1"

stage "2/3 outage: kill -9 broker 3, ${outage}s at $rate records/s through brokers 1-2"
before=$(total_bytes 1)
kill -KILL "${pids[3]}"
wait "${pids[3]}" 2>/dev/null || true
t_kill=$(now)
bench --brokers "$(kafka 1),$(kafka 2)" --producers 2 --rate "$rate" --duration "${outage}s" | tee "$work/outage.txt"
sleep "$(awk -v k="$t_kill" -v n="$(now)" -v o="$outage" 'BEGIN { d = o - (n - k); print (d > 0 ? d : 0) }')"
missed=$(($(total_bytes 1) - before))
down_s=$(awk -v k="$t_kill" -v n="$(now)" 'BEGIN { printf "%.1f", n - k }')

stage "3/3 restart broker 3 after ${down_s}s down; it missed $missed bytes"
t_restart=$(now)
start 3
caught=""
while [ -z "$caught" ]; do
  if matched; then caught=$(now); break; fi
  el=$(awk -v a="$t_restart" -v b="$(now)" 'BEGIN { printf "%d", b - a }')
  [ "$el" -lt 600 ] || { echo "broker 3 not caught up after 600s" >&2; exit 1; }
  sleep 0.2
done
read -r wchar wbytes < <(awk '/^wchar:/ { w = $2 } /^write_bytes:/ { b = $2 } END { print w, b }' "/proc/${pids[3]}/io")
catch_s=$(awk -v a="$t_restart" -v b="$caught" 'BEGIN { printf "%.1f", b - a }')
snap=0
for shard in $(seg_bytes 3 | awk '{ print $1 }'); do
  n=$(curl -s --max-time 5 "http://$(httpa 3)/v1/partitions/$shard/log-position" | jq -r '.snapshot_bytes_installed // 0')
  snap=$((snap + n))
done

stage "summary ($(nproc) cores)"
printf '%-40s %s\n' "partition log per broker before" "$log_bytes bytes"
printf '%-40s %s\n' "broker 3 down" "${down_s} s"
printf '%-40s %s\n' "missed (broker 1's log growth)" "$missed bytes"
printf '%-40s %s\n' "caught up after the restart" "${catch_s} s"
printf '%-40s %s\n' "broker 3 wrote (wchar / write_bytes)" "$wchar / $wbytes bytes ($(awk -v w="$wchar" -v m="$missed" 'BEGIN { printf "%.2f", w / m }')x missed)"
printf '%-40s %s\n' "snapshot bytes installed" "$snap"
