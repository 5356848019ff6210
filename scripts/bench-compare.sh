#!/usr/bin/env bash
# Same-run produce comparison on this machine, one stage after the other:
#   1. Longboat, three brokers, RF=3 acks=all; again with the pebble Raft
#      log store instead of tan-shared (the default for new data directories)
#   2. Longboat, one broker, RF=1 acks=all
#   3. stages 1 and 2 again with each broker held to BROKER_CPUS CPUs in its
#      own cgroup: replication's cost as on equal hosts (on one machine the
#      three brokers of stage 1 share the cores stage 2's broker has alone)
#   4. bare dragonboat (scripts/dragonboat-bare): three NodeHosts,
#      proposals of the average size Longboat proposed in stage 1
#   5. NATS JetStream, three servers, R3 file stream (`nats bench js pub`)
#   6. raw append + fdatasync (scripts/fsyncbench) at that same size
#   7. latency at R = half of stage 1's records/s, open-loop (latency from
#      each record's due time): Longboat RF=3 acks=all (`longboat bench
#      --rate R`), then JetStream R3 with its default sync and with
#      sync_interval: always (scripts/natslat, its own Go module, because
#      `nats bench js pub async --throughput` times whole batches only)
# 1 KiB records throughout. Prints a summary table with the ratios and
# appends it, with the machine and the date, to docs/BENCHMARKS.md.
#
# Usage: scripts/bench-compare.sh [seconds of load per stage, default 20] [producers, default 4]
# Env:   NATS_BIN         directory holding nats-server and nats (default: go install into a temp GOBIN)
#        NATS_SERVER_VERSION (default v2.15.2), NATSCLI_VERSION (default v0.5.0)
#        BROKER_CPUS      CPUs per broker in stage 3 (default: a quarter of the machine's);
#                         stage 3 needs root and a cgroup cpu controller (v1 or v2), else it is skipped
#        NO_DOC=1         do not touch docs/BENCHMARKS.md
#        RAFT_LOGDB=tan   Longboat's and bare dragonboat's Raft log store (default tan-shared)
# Ports while it runs: Kafka 9092-9094, Raft 9192/9292/9392, HTTP 13092-13094
# (longboat dev defaults), dragonboat 27101-27103, NATS 24222-24224/26222-26224/28222-28224.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
secs=${1:-20}
producers=${2:-4}
record=1024
partitions=6
# Longboat's Raft log settings (its defaults, passed explicitly so that bare
# dragonboat runs with the same ones; bare cannot turn off dragonboat's
# compaction after each log trim, which Longboat does).
raft_logdb=${RAFT_LOGDB:-tan-shared} raft_snap=1000 raft_snap_bytes=$((8 << 20)) raft_overhead=100 raft_memtable_mb=32 raft_rtt=200 raft_erl=5 raft_hb=1
export LONGBOAT_RAFT_LOGDB=$raft_logdb LONGBOAT_RAFT_SNAPSHOT_ENTRIES=$raft_snap LONGBOAT_RAFT_SNAPSHOT_BYTES=$raft_snap_bytes \
  LONGBOAT_RAFT_COMPACTION_OVERHEAD=$raft_overhead \
  LONGBOAT_RAFT_LOGDB_MEMTABLE_MB=$raft_memtable_mb LONGBOAT_RAFT_RTT_MS=$raft_rtt \
  LONGBOAT_RAFT_ELECTION_RTT=$raft_erl LONGBOAT_RAFT_HEARTBEAT_RTT=$raft_hb
case $secs in '' | *[!0-9]*) echo "seconds must be a whole number, got '$secs'" >&2; exit 2 ;; esac

bare_src=$repo/scripts/dragonboat-bare
nats_server_version=${NATS_SERVER_VERSION:-v2.15.2}
natscli_version=${NATSCLI_VERSION:-v0.5.0}

work=$(mktemp -d /tmp/longboat-compare.XXXXXX)
bare_tmp_existed=0
[ -e /tmp/dragonboat-bare ] && bare_tmp_existed=1
running=() # pids of servers this script started and has not stopped yet
broker_cpus=${BROKER_CPUS:-$(awk -v n="$(nproc)" 'BEGIN { printf "%.2f", n / 4 }')}
cap=""     # when set, longboat() holds each broker to this many CPUs (stage 3)
cgroups=() # cgroups this script made

# A writable cgroup cpu controller for stage 3: v2 (cpu.max) or v1 (CFS quota).
cg_root="" cg_skip=""
if [ "$(id -u)" != 0 ]; then
  cg_skip="needs root"
elif [ -f /sys/fs/cgroup/cgroup.controllers ] && grep -qw cpu /sys/fs/cgroup/cgroup.controllers; then
  cg_root=/sys/fs/cgroup
  echo +cpu >"$cg_root/cgroup.subtree_control" 2>/dev/null || cg_skip="cannot enable the cpu controller in $cg_root"
elif [ -w /sys/fs/cgroup/cpu/cgroup.procs ]; then
  cg_root=/sys/fs/cgroup/cpu
else
  cg_skip="no writable cgroup cpu controller"
fi
# cap_children PID CPUS: each child process of PID (the brokers of a
# `longboat dev`) into its own cgroup, held to CPUS CPUs.
cap_children() {
  local p g n=0 quota
  quota=$(awk -v c="$2" 'BEGIN { printf "%d", c * 100000 }')
  for p in $(pgrep -P "$1"); do
    n=$((n + 1)) g=$cg_root/longboat-bench-$n
    mkdir -p "$g"
    if [ -f "$g/cpu.max" ]; then
      echo "$quota 100000" >"$g/cpu.max"
    else
      echo 100000 >"$g/cpu.cfs_period_us" && echo "$quota" >"$g/cpu.cfs_quota_us"
    fi
    echo "$p" >"$g/cgroup.procs"
    cgroups+=("$g")
  done
  echo "held each of $n brokers to $2 CPUs (cgroups under $cg_root)"
}
remove_cgroups() {
  local g
  for g in "${cgroups[@]}"; do rmdir "$g" 2>/dev/null || true; done
  cgroups=()
}

stop_pid() {
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  local p
  for p in "${running[@]}"; do stop_pid "$p"; done
  running=()
  remove_cgroups
  rm -rf "$work"
  if [ $bare_tmp_existed = 0 ]; then rm -rf /tmp/dragonboat-bare; else rm -f /tmp/dragonboat-bare/logs/lbcompare-tput.log; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t_start=$(date +%s)
stage() { printf '\n== [%3ds] %s\n' $(($(date +%s) - t_start)) "$*"; }
num() { grep -oE "$1=[0-9.]+" | head -1 | cut -d= -f2; } # key=value from stdin
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }
holds() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { if (b <= 0) print "not measured"; else if (a / b >= t) print "holds"; else print "MISSES" }'; }
# Bytes the data directory's disk wrote, so each stage's write amplification shows.
disk_dev=$(basename "$(df --output=source "$work" | tail -1)")
diskw() { awk -v d="$disk_dev" '$3 == d { printf "%.0f\n", $10 * 512 }' /proc/diskstats; }
now() { date +%s.%N; }
# disk_rate BYTES0 TIME0: MB/s the disk wrote since then
disk_rate() { awk -v b0="$1" -v b1="$(diskw)" -v t0="$2" -v t1="$(now)" 'BEGIN { printf "%.0f", (b1 - b0) / (t1 - t0) / 1e6 }'; }

stage "build (longboat, fsyncbench, natslat, dragonboat-bare, NATS tools)"
go build -o "$work/longboat" ./cmd/longboat
go build -o "$work/fsyncbench" ./scripts/fsyncbench
(cd scripts/natslat && go build -o "$work/natslat" .)
(cd "$bare_src" && go build -o "$work/dragonboat-bare" .)
if [ -n "${NATS_BIN:-}" ]; then
  nats_bin=$NATS_BIN
else
  nats_bin=$work/gobin
  (cd "$work" && GOBIN=$nats_bin go install "github.com/nats-io/nats-server/v2@$nats_server_version" \
    && GOBIN=$nats_bin go install "github.com/nats-io/natscli/nats@$natscli_version")
fi
echo "built in $(($(date +%s) - t_start))s"

# metric NAME-REGEX FILE...: sum of the matching Prometheus samples.
metric() { local re=$1; shift; cat "$@" | awk -v re="$re" '$0 ~ re { s += $NF } END { printf "%.0f", s }'; }

# settle: before each measured stage, write back what earlier stages left
# in the page cache (JetStream's default run acknowledges before fsync and
# leaves gigabytes dirty), so that no stage pays for another's writeback.
settle() { sync; }

# longboat NODES RF LABEL KEY [BENCH FLAGS...]: one Longboat stage; results in $work/KEY.*
# Its data directory goes afterwards, so later stages do not write to a
# fuller disk.
longboat() {
  local nodes=$1 rf=$2 label=$3 key=$4 brokers=localhost:9092 i ok
  shift 4
  settle
  [ "$nodes" -ge 3 ] && brokers=localhost:9092,localhost:9093,localhost:9094
  "$work/longboat" dev --nodes "$nodes" --dir "$work/data-$key" --log-level warn --restart-delay 0 \
    >"$work/dev-$key.log" 2>&1 &
  local dev=$!
  running+=("$dev")
  for _ in $(seq 1 120); do
    ok=1
    for i in $(seq 1 "$nodes"); do
      "$work/longboat" healthcheck --http-addr "127.0.0.1:$((13091 + i))" >/dev/null 2>&1 || ok=0
    done
    [ $ok = 1 ] && break
    sleep 0.5
  done
  [ $ok = 1 ] || { echo "brokers not ready after 60s; log:" >&2; tail -20 "$work/dev-$key.log" >&2; exit 1; }
  [ -z "$cap" ] || cap_children "$dev" "$cap"
  local b0 t0
  b0=$(diskw) t0=$(now)
  "$work/longboat" bench --brokers "$brokers" --topic bench --partitions $partitions --replication-factor "$rf" \
    --record-size $record --acks all --producers "$producers" --duration "${secs}s" --consume=false \
    --name "$label" --json "$work/$key.json" "$@" | tee "$work/$key.txt"
  disk_rate "$b0" "$t0" >"$work/$key.disk"
  for i in $(seq 1 "$nodes"); do curl -fsS "http://127.0.0.1:$((13091 + i))/metrics" >"$work/$key.metrics.$i"; done
  stop_pid "$dev"
  running=()
  remove_cgroups
  rm -rf "$work/data-$key"
}

stage "1/7 Longboat 3 brokers RF=3 acks=all (${secs}s, $producers producers)"
longboat 3 3 "Longboat RF=3 acks=all" rf3
echo "-- the same with the pebble Raft log store (--raft-logdb pebble)"
LONGBOAT_RAFT_LOGDB=pebble longboat 3 3 "Longboat RF=3 acks=all, pebble" rf3pebble
stage "2/7 Longboat 1 broker RF=1 acks=all (${secs}s, $producers producers)"
longboat 1 1 "Longboat RF=1 acks=all" rf1
if [ -z "$cg_skip" ]; then
  stage "3/7 stages 1 and 2 with each broker held to $broker_cpus CPUs (as on equal hosts)"
  cap=$broker_cpus
  longboat 3 3 "Longboat RF=3, $broker_cpus CPUs/broker" rf3cap
  longboat 1 1 "Longboat RF=1, $broker_cpus CPUs/broker" rf1cap
  cap=""
else
  stage "3/7 SKIPPED: per-broker CPU caps $cg_skip"
fi

jnum() { jq -r "first(.[]) | $1" "$2"; }
rf3_mbs=$(jnum .mb_per_sec "$work/rf3.json")
rf3_rps=$(jnum .records_per_sec "$work/rf3.json")
rf3_p99=$(jnum .latency_ms.P99 "$work/rf3.json")
rf1_mbs=$(jnum .mb_per_sec "$work/rf1.json")
rf1_rps=$(jnum .records_per_sec "$work/rf1.json")
rf1_p99=$(jnum .latency_ms.P99 "$work/rf1.json")
bytes_in=$(metric '^longboat_kafka_bytes_in_total\\{topic="bench"\\}' "$work"/rf3.metrics.*)
recs_in=$(metric '^longboat_kafka_records_produced_total\\{topic="bench"\\}' "$work"/rf3.metrics.*)
props=$(metric '^longboat_raft_proposal_duration_seconds_count\\{group_kind="partition"\\}' "$work"/rf3.metrics.*)
[ "$props" -gt 0 ] && [ "$recs_in" -gt 0 ] || { echo "no partition proposals in the RF=3 metrics" >&2; exit 1; }
proposal=$((bytes_in / props))
# Longboat's Raft payload rate: record MB/s scaled by batch framing overhead.
rf3_raft_mbs=$(awk -v m="$rf3_mbs" -v b="$bytes_in" -v r="$recs_in" -v s=$record 'BEGIN { printf "%.1f", m * b / (r * s) }')
echo "RF=3: $props partition proposals, average $proposal bytes ($((recs_in / props)) records); Raft payload ${rf3_raft_mbs} MB/s"

stage "4/7 bare dragonboat, 3 NodeHosts, $partitions shards, ${proposal}-byte proposals (${secs}s)"
# tan takes KVWriteBufferSize as its encode buffers' size: Longboat gives it 4 MiB.
bare_wbuf=$((raft_memtable_mb << 20))
case $raft_logdb in tan | tan-shared) bare_wbuf=$((4 << 20)) ;; esac
# Longboat's partitions snapshot every raft_snap_bytes too; bare counts entries only.
bare_snap=$((raft_snap_bytes / proposal))
[ "$bare_snap" -gt "$raft_snap" ] && bare_snap=$raft_snap
[ "$bare_snap" -lt 1 ] && bare_snap=1
settle
b0=$(diskw) t0=$(now)
(cd "$work" && ./dragonboat-bare -mode tput -shards $partitions -payload "$proposal" -conc 64 -logdb small -factory "$raft_logdb" \
  -rtt "$raft_rtt" -erl "$raft_erl" -hb "$raft_hb" -snap "$bare_snap" -compov "$raft_overhead" -wbuf "$bare_wbuf" \
  -maxinmem $((64 << 20)) -port 27101 -tag lbcompare \
  -dur "${secs}s") | tee "$work/bare.txt"
d_bare=$(disk_rate "$b0" "$t0")
bare_line=$(grep '^RESULT' "$work/bare.txt")
bare_mbs=$(echo "$bare_line" | num 'MB/s')
bare_pps=$(echo "$bare_line" | num 'props/s')
bare_p99=$(echo "$bare_line" | grep -oE 'p99=[^ ]+' | cut -d= -f2)

nats_urls=nats://127.0.0.1:24222,nats://127.0.0.1:24223,nats://127.0.0.1:24224
# js_start SYNC KEY: three fresh JetStream servers in $work/KEY with
# jetstream.sync_interval SYNC ("" for the default), healthy on return.
js_start() {
  local sync=$1 key=$2 i ok
  settle
  for i in 1 2 3; do
    mkdir -p "$work/$key/n$i"
    cat >"$work/$key/n$i.conf" <<EOF
server_name: n$i
listen: 127.0.0.1:$((24221 + i))
http: 127.0.0.1:$((28221 + i))
jetstream {
  store_dir: "$work/$key/n$i"
  ${sync:+sync_interval: $sync}
}
cluster {
  name: lbcompare
  listen: 127.0.0.1:$((26221 + i))
  routes: [nats://127.0.0.1:26222, nats://127.0.0.1:26223, nats://127.0.0.1:26224]
}
EOF
    "$nats_bin/nats-server" -c "$work/$key/n$i.conf" >"$work/$key/n$i.log" 2>&1 &
    running+=($!)
  done
  for _ in $(seq 1 120); do
    ok=1
    for i in 1 2 3; do curl -fs "http://127.0.0.1:$((28221 + i))/healthz" >/dev/null || ok=0; done
    [ $ok = 1 ] && break
    sleep 0.5
  done
  [ $ok = 1 ] || { echo "NATS cluster not healthy after 60s" >&2; tail -5 "$work/$key"/n*.log >&2; exit 1; }
}
# js_stop KEY: stops the servers and removes their stores (logs stay).
js_stop() {
  local i
  for i in "${running[@]}"; do stop_pid "$i"; done
  running=()
  rm -rf "$work/$1"/n[123]
}

# jetstream SYNC KEY: one JetStream throughput stage; prints msgs/s into $work/KEY.rate.
jetstream() {
  local sync=$1 key=$2 rate msgs
  js_start "$sync" "$key"
  natsbench() { # MSGS: one publish run; prints msgs/s
    XDG_CONFIG_HOME=$work/xdg "$nats_bin/nats" --no-context --server "$nats_urls" bench "${jspub[@]}" bench.subject \
      --create --purge --storage file --replicas 3 --maxbytes 16GB --size $record --clients "$producers" \
      --msgs "$1" --no-progress 2>&1 | tee -a "$work/$key.txt" | grep -m1 -oE 'stats: [0-9,]+ msgs/sec' | tr -dc '0-9'
  }
  rate=""
  for _ in 1 2 3; do # the meta leader may still be settling: retry the calibration
    rate=$(natsbench 20000 || true)
    [ -n "$rate" ] && break
    sleep 2
  done
  [ -n "$rate" ] || { echo "nats bench failed:" >&2; tail -20 "$work/$key.txt" >&2; exit 1; }
  msgs=$((rate * secs))
  [ $msgs -gt 3000000 ] && msgs=3000000
  echo "calibration: $rate msgs/s; measured run: $msgs messages"
  local b0 t0
  b0=$(diskw) t0=$(now)
  rate=$(natsbench "$msgs")
  disk_rate "$b0" "$t0" >"$work/$key.disk"
  echo "$rate" >"$work/$key.rate"
  echo "JetStream R3${sync:+ sync_interval=$sync}: $rate msgs/s = $(awk -v r="$rate" -v s=$record 'BEGIN { printf "%.1f", r * s / 1e6 }') MB/s"
  js_stop "$key"
}

# jslat SYNC KEY LABEL: JetStream publish latency at $lat_rate msgs/s on
# fresh servers (scripts/natslat); results in $work/KEY.json.
jslat() {
  local sync=$1 key=$2 label=$3 b0 t0
  js_start "$sync" "$key"
  b0=$(diskw) t0=$(now)
  "$work/natslat" -server "$nats_urls" -stream latency -replicas 3 -size $record -clients "$producers" \
    -rate "$lat_rate" -duration "${secs}s" -name "$label" -json "$work/$key.json" | tee "$work/$key.txt"
  disk_rate "$b0" "$t0" >"$work/$key.disk"
  js_stop "$key"
}

jspub=(js pub)
# Not `nats ... | grep -q`: with pipefail, grep quitting early can SIGPIPE nats and fail the test.
js_help=$("$nats_bin/nats" bench js pub --help 2>&1 || true)
grep -qw async <<<"$js_help" && jspub=(js pub async)
stage "5/7 NATS JetStream, 3 servers, R3 file stream, default sync ($nats_server_version, natscli $natscli_version, ${jspub[*]})"
"$nats_bin/nats-server" --version
jetstream "" js
js_rps=$(cat "$work/js.rate")
js_mbs=$(awk -v r="$js_rps" -v s=$record 'BEGIN { printf "%.1f", r * s / 1e6 }')
stage "5b/7 NATS JetStream as above with sync_interval: always (fsync before ack, reference only)"
jetstream always jsync
jss_rps=$(cat "$work/jsync.rate")
jss_mbs=$(awk -v r="$jss_rps" -v s=$record 'BEGIN { printf "%.1f", r * s / 1e6 }')

stage "6/7 raw append + fdatasync, ${proposal}-byte appends (${secs}s)"
b0=$(diskw) t0=$(now)
settle
raw_line=$("$work/fsyncbench" -dir "$work" -size "$proposal" -duration "${secs}s")
d_raw=$(disk_rate "$b0" "$t0")
echo "$raw_line"
raw_mbs=$(echo "$raw_line" | num 'MB/s')
raw_aps=$(echo "$raw_line" | num 'appends/s')
raw_p99=$(echo "$raw_line" | num 'p99_ms')

lat_rate=$(awk -v r="$rf3_rps" 'BEGIN { printf "%.0f", r / 2 }')
stage "7/7 latency at R = $lat_rate records/s (half of stage 1), open-loop, ${secs}s each"
echo "-- Longboat 3 brokers RF=3 acks=all, longboat bench --rate $lat_rate --linger 0 (natslat does not wait either)"
longboat 3 3 "Longboat RF=3 at R" lat --rate "$lat_rate" --linger 0
echo "-- JetStream R3, default sync, scripts/natslat -rate $lat_rate"
jslat "" jsl "JetStream R3 at R"
echo "-- JetStream R3, sync_interval: always, scripts/natslat -rate $lat_rate"
jslat always jssl "JetStream R3 sync=always at R"
# lat_fields KEY: "p50 p99 records/s MB/s held" of a paced run's JSON
lat_fields() {
  jq -r 'first(.[]) | "\(.latency_ms.P50) \(.latency_ms.P99) \(.records_per_sec) \(.mb_per_sec) \(if .pacing.held then "yes" else "NO" end)"' "$work/$1.json"
}
read -r lat_p50 lat_p99 lat_rps lat_mbs lat_held < <(lat_fields lat)
read -r jsl_p50 jsl_p99 jsl_rps jsl_mbs jsl_held < <(lat_fields jsl)
read -r jssl_p50 jssl_p99 jssl_rps jssl_mbs jssl_held < <(lat_fields jssl)
# p99_check LONGBOAT_P99 OTHER_P99 OTHER_HELD: the latency target, saying when a rate was not held
p99_check() {
  awk -v a="$1" -v b="$2" -v lh="$lat_held" -v oh="$3" 'BEGIN {
    if (b <= 0) { print "not measured"; exit }
    printf "%s", (a <= b ? "holds" : "MISSES")
    if (lh != "yes") printf ", Longboat did not hold R"
    if (oh != "yes") printf ", JetStream did not hold R"
    print ""
  }'
}
lat_check=$(p99_check "$lat_p99" "$jsl_p99" "$jsl_held")

d_rf3=$(cat "$work/rf3.disk") d_rf1=$(cat "$work/rf1.disk") d_js=$(cat "$work/js.disk") d_jss=$(cat "$work/jsync.disk")
d_lat=$(cat "$work/lat.disk") d_jsl=$(cat "$work/jsl.disk") d_jssl=$(cat "$work/jssl.disk")
r_js=$(ratio "$rf3_mbs" "$js_mbs")
r_bare=$(ratio "$rf3_raft_mbs" "$bare_mbs")
r_rf1=$(ratio "$rf3_mbs" "$rf1_mbs")
r_raw=$(ratio "$rf3_raft_mbs" "$raw_mbs")
# run_row KEY LABEL RATIO: a table row from a Longboat run's JSON and disk rate.
run_row() {
  local j=$work/$1.json
  echo "| $2 | $(printf %.1f "$(jnum .mb_per_sec "$j")") | $(printf %.0f "$(jnum .records_per_sec "$j")") records | $(printf %.0f "$(jnum .latency_ms.P99 "$j")") ms† | $(cat "$work/$1.disk") | $3 |"
}
# capped_rows: stage 3's two rows, or one saying why it was skipped.
capped_rows() {
  if [ -n "$cg_skip" ]; then
    echo "| stages 1 and 2 with each broker held to $broker_cpus CPUs | - | - | - | - | not measured: $cg_skip |"
    return
  fi
  local m3 m1
  m3=$(jnum .mb_per_sec "$work/rf3cap.json") m1=$(jnum .mb_per_sec "$work/rf1cap.json")
  run_row rf3cap "Longboat 3 brokers RF=3 acks=all, each held to $broker_cpus CPUs" -
  run_row rf1cap "Longboat 1 broker RF=1 acks=all, held to $broker_cpus CPUs" \
    "RF=3 / RF=1 with equal CPUs per broker = **$(ratio "$m3" "$m1")** (target >= 0.5: $(holds "$m3" "$m1" 0.5))"
}
when=$(date -u +%Y-%m-%dT%H:%MZ)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
fs=$(df -T "$work" | awk 'NR == 2 { print $2 " on " $1 }')
machine="$(nproc) vCPU ($cpu), $(free -g | awk '/^Mem:/ { print $2 }') GiB RAM, Linux $(uname -r), data on $fs"

table() {
  cat <<EOF
| stage | MB/s | ops/s | p99 | disk MB/s‡ | ratio |
|---|---:|---:|---:|---:|---|
| Longboat 3 brokers RF=3 acks=all | $(printf %.1f "$rf3_mbs") | $(printf %.0f "$rf3_rps") records | $(printf %.0f "$rf3_p99") ms† | $d_rf3 | - |
$(run_row rf3pebble "Longboat 3 brokers RF=3 acks=all, pebble Raft log store (\`--raft-logdb pebble\`)" \
  "row 1 ($raft_logdb) / this = **$(ratio "$rf3_mbs" "$(jnum .mb_per_sec "$work/rf3pebble.json")")** (reference, no target)")
| Longboat 1 broker RF=1 acks=all | $(printf %.1f "$rf1_mbs") | $(printf %.0f "$rf1_rps") records | $(printf %.0f "$rf1_p99") ms† | $d_rf1 | RF=3 / RF=1 = **$r_rf1** (three brokers on the cores one had: see the next two rows) |
$(capped_rows)
| bare dragonboat, 3 NodeHosts, ${proposal} B proposals, Longboat's Raft log settings ($raft_logdb log store, snapshot every $bare_snap entries = $raft_snap_bytes bytes, keep $raft_overhead) | $bare_mbs | $bare_pps proposals | $bare_p99 | $d_bare | Longboat RF=3 Raft payload ${rf3_raft_mbs} MB/s / this = **$r_bare** (target >= 0.7: $(holds "$rf3_raft_mbs" "$bare_mbs" 0.7)) |
| NATS JetStream R3 file stream, async publish (acks before fsync*) | $js_mbs | $js_rps msgs | n/a | $d_js | RF=3 / JetStream = **$r_js** (target >= 1.0: $(holds "$rf3_mbs" "$js_mbs" 1.0)) |
| NATS JetStream R3 as above, \`sync_interval: always\` (fsync before ack) | $jss_mbs | $jss_rps msgs | n/a | $d_jss | RF=3 / this = **$(ratio "$rf3_mbs" "$jss_mbs")** (reference, no target) |
| raw append + fdatasync, ${proposal} B appends | $raw_mbs | $raw_aps appends | $raw_p99 ms | $d_raw | Longboat RF=3 Raft payload / this = **$r_raw** |
| latency at R = $lat_rate/s (half of row 1): Longboat RF=3 acks=all, \`longboat bench --rate\` | $(printf %.1f "$lat_mbs") | $(printf %.0f "$lat_rps") records | $(printf %.1f "$lat_p99") ms§ | $d_lat | p50 $(printf %.1f "$lat_p50") ms; R held: $lat_held |
| latency at R: JetStream R3, default sync (acks before fsync*), \`scripts/natslat\` | $(printf %.1f "$jsl_mbs") | $(printf %.0f "$jsl_rps") msgs | $(printf %.1f "$jsl_p99") ms§ | $d_jsl | p50 $(printf %.1f "$jsl_p50") ms; R held: $jsl_held; Longboat p99 <= this p99: **$lat_check** |
| latency at R: JetStream R3, \`sync_interval: always\`, \`scripts/natslat\` | $(printf %.1f "$jssl_mbs") | $(printf %.0f "$jssl_rps") msgs | $(printf %.1f "$jssl_p99") ms§ | $d_jssl | p50 $(printf %.1f "$jssl_p50") ms; R held: $jssl_held; Longboat p99 <= this p99: $(p99_check "$lat_p99" "$jssl_p99" "$jssl_held") (reference, no target) |
EOF
}

stage "summary ($when)"
echo "machine: $machine"
echo "load: ${secs}s per stage, $record-byte records, $partitions partitions/shards, $producers producers/clients;" \
  "Longboat proposals averaged $proposal bytes ($((recs_in / props)) records)"
echo
table
echo
echo "* JetStream acknowledges a publish once a quorum has it in memory (page cache) and fsyncs on its"
echo "  sync_interval (default 2 min); Longboat's Raft (dragonboat) fsyncs every batch before it acknowledges."
echo "† Longboat's latency is from the record entering the client's buffer (up to 10000 records per"
echo "   producer) to its acknowledgement, at saturation: mostly client-side queueing."
echo "‡ bytes the data disk ($disk_dev) wrote per second during the load (/proc/diskstats): all replicas,"
echo "  logs and state machines; without fsync (JetStream default) some is still in the page cache."
echo "§ open-loop at R (the same schedule in both tools): latency from each record's due time to its"
echo "  acknowledgement, so time queued behind a backlog counts; \"R held\" = achieved >= 95% of R."
echo "Stage 3 holds each broker to $broker_cpus CPUs in its own cgroup, as if each had a host of that size;"
echo "  the disk is still shared. Without it, RF=3's three brokers share the cores RF=1's broker has alone."
echo "p99 produce latency at R = half of Longboat's RF=3 peak: Longboat $(printf %.1f "$lat_p99") ms vs JetStream $(printf %.1f "$jsl_p99") ms: $lat_check"

if [ "${NO_DOC:-0}" != 1 ]; then
  doc=$repo/docs/BENCHMARKS.md
  if [ ! -f "$doc" ]; then
    cat >"$doc" <<'EOF'
# Benchmarks

Produce throughput of Longboat next to what the same machine can do without it, measured in one
run by `scripts/bench-compare.sh` (each run appends a section below). Stages, one after the other:
Longboat three brokers RF=3 acks=all; Longboat one broker RF=1; both again with each broker held
to a quarter of the machine's CPUs in its own cgroup (as on equal hosts; runs dated before
2026-11-30T04:50Z lack these rows); bare dragonboat (three NodeHosts
in one process, on-disk state machine appending to a file) at the average proposal size Longboat
used; NATS JetStream three servers with an R3 file stream (`nats bench js pub async`), once with
its default sync and once with `sync_interval: always` (fsync before acknowledging, for reference);
raw append + fdatasync (`scripts/fsyncbench`) at that same size; then latency at R = half of the
first row's records/s: Longboat RF=3 acks=all and JetStream R3 (default sync, then `sync_interval:
always`), each on fresh servers. 1 KiB records, 6 partitions (shards).

"Raft payload" is Longboat's record MB/s scaled by the record-batch framing it proposes
(`longboat_kafka_bytes_in_total` / records), so it is comparable with bare dragonboat's proposal
bytes.

Targets (issue 10): Longboat RF=3 >= JetStream R3; Longboat RF=3 >= 0.7 x bare dragonboat at the
same proposal size; RF=3 >= 0.5 x RF=1, judged on the rows with equal CPUs per broker (on one
machine the three RF=3 brokers otherwise share the cores the RF=1 broker has alone); p99 produce latency at half of peak no worse than
JetStream's at that rate (the "latency at R" rows; runs dated before 2026-11-30 lack them).
Both sides publish open-loop on one schedule shared by their clients (record n is due at
start + n/R) and time each record from its due time to its acknowledgement, so queueing behind
a backlog counts (no coordinated omission): Longboat with `longboat bench --rate R --linger 0`
(no client-side wait, like a NATS publish), JetStream
with `scripts/natslat` (its own Go module on nats.go, async publish, up to 10000 unacknowledged
per client like the Kafka producer's buffer). natslat exists because `nats bench js pub async
--throughput` reports latency per 500-message batch, waits for each batch's acks before the
next, and leaves its throttle sleeps out of the latency. "R held" means a run acknowledged at
least 95% of R over its whole length, its final drain included.

\* JetStream acknowledges before fsync by default (it fsyncs on `sync_interval`, 2 minutes),
while Raft here (dragonboat's log) fsyncs every batch before the proposal commits.
EOF
  fi
  {
    echo
    echo "## $when, $(hostname)"
    echo
    echo "Machine: $machine. ${secs}s of load per stage, $producers producers/clients; Longboat's"
    echo "proposals averaged $proposal bytes ($((recs_in / props)) records). NATS $nats_server_version, natscli $natscli_version."
    echo
    table
    echo
    echo "\\* acknowledged before fsync (JetStream default); the Raft rows fsync before acknowledging."
    echo "‡ bytes the data disk wrote per second during the load (/proc/diskstats), all replicas together; JetStream's default run leaves some in the page cache."
    echo "† at saturation, from the record entering the client's buffer (up to 10000 records per producer) to its acknowledgement: mostly client-side queueing."
    echo "§ open-loop at R = half of row 1 (the same schedule in both tools, $producers clients, up to 10000 unacknowledged per client, Longboat with --linger 0): from each record's due time to its acknowledgement; \"R held\" = achieved >= 95% of R."
    echo "The rows \"held to $broker_cpus CPUs\" repeat rows 1 and 2 with each broker in its own cgroup (CPU quota), as on equal hosts; the disk is shared."
  } >>"$doc"
  echo "appended to docs/BENCHMARKS.md"
fi
echo "total $(($(date +%s) - t_start))s"
