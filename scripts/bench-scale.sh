#!/usr/bin/env bash
# What many idle partitions cost: three brokers (`longboat serve`) on
# loopback, one topic of P partitions (default 1000) with RF=3, then
#   1. creation time: CreateTopics until every broker's /readyz reports every
#      replica it hosts started and with a leader;
#   2. idle cost: after a settle period, CPU (utime+stime from /proc, % of
#      one core) and RSS of each broker over a window, with the leadership
#      changes seen meanwhile and how many of them were elections rather
#      than transfers the balancer asked for (goal: 0);
#   3. produce across all P partitions (`longboat bench`, 1 KiB records,
#      acks=all): MB/s and latency;
#   4. failover of idle partitions: after the cluster went idle again,
#      kill -9 one broker and produce one record to each partition it led
#      (scripts/scaleprobe): time from the kill to each first ack.
# Prints a summary table. Not part of CI: it takes ~4-6 minutes and wants
# the machine to itself (hold the bench lock on shared machines).
#
# Usage: scripts/bench-scale.sh [partitions, default 1000]
# Env:   SETTLE (s, default 30)  IDLE (s, default 60)  LOAD (s, default 20)
#        RATE: records/s of stage 3, paced open-loop (default 0: as fast as
#          the producers go, where p99 is the producers' own queue)
#        PORT_BASE (default 30000): Kafka BASE+1..3, Raft BASE+11..13, HTTP BASE+21..23
#        LONGBOAT_BIN: use this binary instead of building one
#        EXTRA_FLAGS: appended to every `longboat serve` (e.g. "--raft-rtt-ms 50")
#        SKIP_FAILOVER=1: leave out stage 4
#        PROBE_FLAGS="--stop": stage 4 SIGSTOPs broker 1 (a hung broker) instead of killing it
#        KEEP_LOGS: copy the brokers' logs into this directory at the end
#        PPROF_OUT: write a CPU profile of broker 1 over the idle window there
#        SOFT_SETTINGS: the dragonboat-soft-settings.json to run the brokers with
#          (dragonboat reads it from the working directory at process start);
#          default the Docker image's (docker/etc/longboat), "none" for dragonboat's defaults
set -euo pipefail
cd "$(dirname "$0")/.."
parts=${1:-1000}
settle=${SETTLE:-30}
idle=${IDLE:-60}
load=${LOAD:-20}
rate=${RATE:-0}
base=${PORT_BASE:-30000}
case $parts in '' | *[!0-9]*) echo "partitions must be a whole number, got '$parts'" >&2; exit 2 ;; esac

work=$(mktemp -d /tmp/longboat-scale.XXXXXX)
pids=()
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
stage() { printf '\n== [%3ds] %s\n' $(($(date +%s) - t_start)) "$*"; }
now() { date +%s.%N; }

stage "build"
if [ -n "${LONGBOAT_BIN:-}" ]; then
  cp "$LONGBOAT_BIN" "$work/longboat"
else
  go build -o "$work/longboat" ./cmd/longboat
fi
go build -o "$work/scaleprobe" ./scripts/scaleprobe

kafka() { echo "127.0.0.1:$((base + $1))"; }
raftp() { echo "127.0.0.1:$((base + 10 + $1))"; }
httpa() { echo "127.0.0.1:$((base + 20 + $1))"; }
brokers="$(kafka 1),$(kafka 2),$(kafka 3)"
members="1=$(raftp 1),2=$(raftp 2),3=$(raftp 3)"
members_http="1=$(httpa 1),2=$(httpa 2),3=$(httpa 3)"

stage "start 3 brokers (Kafka $(kafka 1)-$((base + 3)), HTTP $(httpa 1)-$((base + 23)))"
mkdir -p "$work/cwd"
soft=${SOFT_SETTINGS:-$PWD/docker/etc/longboat/dragonboat-soft-settings.json}
[ "$soft" = none ] || cp "$soft" "$work/cwd/dragonboat-soft-settings.json"
# The profile of stage 2 needs the brokers' /debug/pprof.
pprof_flag=
[ -z "${PPROF_OUT:-}" ] || pprof_flag=--debug-pprof
for i in 1 2 3; do
  # shellcheck disable=SC2086 # EXTRA_FLAGS is a list of flags
  (
    cd "$work/cwd" && exec "$work/longboat" serve --node-id "$i" --data-dir "$work/node$i" --listeners "PLAINTEXT://$(kafka $i)" \
    --raft-addr "$(raftp $i)" --initial-members "$members" --initial-members-http "$members_http" --http-addr "$(httpa $i)" \
    --log-level warn --log-format json $pprof_flag ${EXTRA_FLAGS:-} >"$work/node$i.log" 2>&1
  ) &
  pids+=($!)
done
# replicas I: "hosted with-leader" replica counts of broker I from /readyz?verbose
replicas() {
  curl -s --max-time 5 "http://$(httpa "$1")/readyz?verbose" |
    awk '/replicas-started/ { split($3, a, "/"); s = a[2] } /replicas-with-leader/ { split($3, a, "/"); l = a[1] } END { print s + 0, l + 0 }'
}
ready() { curl -fs --max-time 5 -o /dev/null "http://$(httpa "$1")/readyz"; }
for _ in $(seq 1 120); do
  ok=1
  for i in 1 2 3; do ready "$i" || ok=0; done
  [ $ok = 1 ] && break
  sleep 0.5
done
[ $ok = 1 ] || { echo "brokers not ready after 60s" >&2; tail -5 "$work"/node*.log >&2; exit 1; }
read -r base_replicas _ < <(replicas 1)
echo "ready; each broker hosts $base_replicas replicas before the topic (consumer-group shards)"

stage "1/4 create topic scale: $parts partitions, RF=3"
t0=$(now)
"$work/longboat" topics create --brokers "$brokers" --topic scale --partitions "$parts" --replication-factor 3
want=$((base_replicas + parts))
last=0
while :; do
  done_all=1 line=""
  for i in 1 2 3; do
    read -r hosted led < <(replicas "$i")
    line="$line broker$i=$led/$want"
    { [ "$hosted" -ge "$want" ] && [ "$led" -ge "$want" ]; } || done_all=0
  done
  el=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
  [ $done_all = 1 ] && break
  if [ "${el%.*}" -ge $((last + 5)) ]; then echo "  ${el}s: replicas with a leader:$line"; last=${el%.*}; fi
  [ "${el%.*}" -lt 240 ] || { echo "not every replica has a leader after 240s" >&2; exit 1; }
  sleep 0.2
done
create_s=$el
echo "every replica on every broker has a leader after ${create_s}s"

# cpu_ticks PID: utime+stime in clock ticks
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_mib() { awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
changes() { # leadership changes broker I has seen (partition and __meta)
  curl -s --max-time 5 "http://$(httpa "$1")/metrics" | awk '/^longboat_raft_leadership_changes_total/ { s += $NF } END { printf "%.0f", s }'
}
# elections I FROM: partition leadership changes broker I logged at WARN after
# line FROM of its log: those it neither requested (balancer, transfer) nor
# saw go back to the preferred replica, i.e. elections (see
# internal/cluster/elections.go).
elections() {
  tail -n +"$(($2 + 1))" "$work/node$1.log" | grep '"level":"warn"' | grep -c '"message":"partition leadership changed"' || true
}
hz=$(getconf CLK_TCK)

stage "2/4 idle: settle ${settle}s, then measure ${idle}s"
sleep "$settle"
declare -a c0 c1 ch0 ch1 rss
declare -a lines0 el
for i in 1 2 3; do c0[i]=$(cpu_ticks "${pids[i - 1]}"); ch0[i]=$(changes "$i"); lines0[i]=$(wc -l <"$work/node$i.log"); done
ta=$(now)
if [ -n "${PPROF_OUT:-}" ]; then
  # A CPU profile of broker 1 over most of the idle window.
  curl -s --max-time $((idle + 10)) -o "$PPROF_OUT" "http://$(httpa 1)/debug/pprof/profile?seconds=$((idle - 5))" &
fi
sleep "$idle"
tb=$(now)
for i in 1 2 3; do
  c1[i]=$(cpu_ticks "${pids[i - 1]}") ch1[i]=$(changes "$i") rss[i]=$(rss_mib "${pids[i - 1]}")
  cpu[i]=$(awk -v a="${c0[i]}" -v b="${c1[i]}" -v hz="$hz" -v t0="$ta" -v t1="$tb" 'BEGIN { printf "%.1f", (b - a) / hz / (t1 - t0) * 100 }')
  el[i]=$(elections "$i" "${lines0[i]}")
  echo "  broker$i: CPU ${cpu[i]}% of a core, RSS ${rss[i]} MiB, leadership changes $((ch1[i] - ch0[i])), of them elections ${el[i]}"
done
load1=$(cut -d' ' -f1 /proc/loadavg)

stage "3/4 produce to all $parts partitions for ${load}s (1 KiB records, acks=all, 4 producers, rate ${rate}/s; 0: unlimited)"
"$work/longboat" bench --brokers "$brokers" --topic scale --partitions "$parts" --replication-factor 3 \
  --record-size 1024 --acks all --producers 4 --duration "${load}s" --rate "$rate" --consume=false \
  --name "$parts partitions RF=3" --json "$work/bench.json" | tee "$work/bench.txt"
mbs=$(jq -r 'first(.[]) | .mb_per_sec' "$work/bench.json")
p99=$(jq -r 'first(.[]) | .latency_ms.P99' "$work/bench.json")

fo="skipped"
if [ -z "${SKIP_FAILOVER:-}" ]; then
  stage "4/4 failover of idle partitions: settle ${settle}s, kill -9 (or --stop) broker 1, produce to what it led"
  sleep "$settle"
  # shellcheck disable=SC2086 # PROBE_FLAGS is a list of flags
  "$work/scaleprobe" --brokers "$(kafka 2),$(kafka 3),$(kafka 1)" --topic scale --broker 1 --pid "${pids[0]}" \
    --survivors "$(kafka 2),$(kafka 3)" ${PROBE_FLAGS:-} | tee "$work/failover.txt"
  kill -CONT "${pids[0]}" 2>/dev/null || true # after --stop: let it resume (and be stopped normally)
  fo=$(grep -oE 'acked=[0-9]+ failed=[0-9]+ first_ack_s=[0-9.]+ median_s=[0-9.]+ max_s=[0-9.]+( metadata_moved_s=[0-9.-]+)?' "$work/failover.txt" || echo "no result")
fi

stage "summary ($(nproc) cores, load average $load1 during the idle window)"
printf '%-34s %s\n' "partitions (RF=3, 3 brokers)" "$parts"
printf '%-34s %s\n' "creation until all have leaders" "${create_s} s"
for i in 1 2 3; do
  printf '%-34s %s\n' "broker$i idle CPU / RSS / changes" "${cpu[i]}% of a core / ${rss[i]} MiB / $((ch1[i] - ch0[i])) (elections ${el[i]})"
done
printf '%-34s %s\n' "produce across all partitions" "$mbs MB/s, p99 $p99 ms"
printf '%-34s %s\n' "broker 1 killed/stopped -> ack" "$fo"
