#!/usr/bin/env bash
# Scale-out and decommission demo on a running appliance (docker-compose.yml,
# brokers 1-3 up), with a producer and a consumer group running throughout:
#   1. creates a topic (6 partitions, RF 3: on brokers 1, 2 and 3) and starts
#      an acks=all producer (rounds of numbered records) and a consumer group
#      member (franz-go, committing as it reads);
#   2. adds broker 4 (compose/five-brokers.yml: it joins with LONGBOAT_JOIN)
#      and waits for it to be ready and listed by `cluster status`;
#   3. reassigns half of the topic's partitions onto broker 4
#      (`topics reassign`, taking each one's replica on broker 1);
#   4. removes broker 1, a founding __meta voter, with `longboat cluster
#      remove-broker 1`: it marks 1 draining, moves every partition replica
#      off it (__consumer_offsets' too), waits for __meta's leader to
#      promote broker 4 to a voter in 1's place and take 1's vote away, and
#      removes 1 from __meta; the demo then stops broker 1's container;
#   5. stops the producer, lets the group catch up, and checks: broker 1 gone
#      from `cluster status` and broker 4 a __meta voter, no partition left
#      on broker 1, every acknowledged record in the log exactly once (read
#      back from offset 0), the group member read every acknowledged record
#      and kept reading through each step, the group's lag is 0.
# Removing broker 1 is for good: the appliance goes on as brokers 2, 3 and 4
# (`docker compose down -v` and `up` make a fresh one). Broker 4 is stopped
# and removed at the end (with its volume) only when broker 1 was not
# removed (a step failed before) and SCALE_KEEP_BROKER4 is not 1: once it
# holds broker 1's vote and replicas it stays.
# Prints progress lines and a summary; exits 1 when a check failed.
#
# Clients are `longboat` subcommands: $LONGBOAT_BIN when set, else `docker
# run --network host` of the image broker 1 runs (as scripts/smoke-test.sh).
#
# Environment:
#   LONGBOAT_BIN            host binary for the clients (default: the brokers' image)
#   LONGBOAT_IMAGE          image for broker 4 (default: the image name broker 1 runs)
#   SCALE_COMPOSE_FILES     "docker-compose.yml compose/five-brokers.yml"
#   SCALE_RECORDS           records per producer round (200)
#   SCALE_MAX_ROUNDS        producer rounds at most (150)
#   SCALE_MOVE_WAIT         how long one reassignment, or remove-broker's moves, may take (120s)
#   SCALE_KEEP_BROKER4      1: leave broker 4 running at the end
#   READY_TIMEOUT           seconds for broker 4 to turn ready (120)
set -uo pipefail
cd "$(dirname "$0")/.."

if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
else
  echo "scale demo: neither 'docker compose' nor 'docker-compose' is installed" >&2
  exit 2
fi
if ! docker inspect longboat-broker1 >/dev/null 2>&1; then
  echo "scale demo: no container longboat-broker1: bring the appliance up first (docker compose up -d)" >&2
  exit 2
fi
if docker inspect longboat-broker4 >/dev/null 2>&1; then
  echo "scale demo: a container longboat-broker4 exists already (docker rm -f longboat-broker4, and its volume, to run the demo again)" >&2
  exit 2
fi
# Broker 4 joins the stack's own project (its volume is named after it) and
# runs the image broker 1 runs, by name: Compose takes no image id.
project=$(docker inspect -f '{{index .Config.Labels "com.docker.compose.project"}}' longboat-broker1)
image_name=${LONGBOAT_IMAGE:-$(docker inspect -f '{{.Config.Image}}' longboat-broker1)}
client_image=$(docker inspect -f '{{.Image}}' longboat-broker1)
had_broker5_volume=$(docker volume ls -q --filter "name=^${project}_broker5-data\$")
dc=("${compose[@]}" -p "$project")
for f in ${SCALE_COMPOSE_FILES:-docker-compose.yml compose/five-brokers.yml}; do dc+=(-f "$f"); done

records=${SCALE_RECORDS:-200}
max_rounds=${SCALE_MAX_ROUNDS:-150}
move_wait=${SCALE_MOVE_WAIT:-120s}
ready_timeout=${READY_TIMEOUT:-120}
run=$(date +%s)
topic=scale-demo-$run
group=scale-demo-$run
bootstrap=localhost:9092,localhost:9093,localhost:9094
work=$(mktemp -d /tmp/longboat-scale.XXXXXX)
t0=$SECONDS
results=() # "STATUS|check|detail"
failed=0
producer_pid="" consumer_pid="" broker1_removed=""
http_addrs=127.0.0.1:13092,127.0.0.1:13093,127.0.0.1:13094,127.0.0.1:13095

log() { printf '%s [%4ss] %s\n' "$(date -u +%H:%M:%S)" "$((SECONDS - t0))" "$*"; }
result() { # status check detail
  results+=("$1|$2|${3:0:200}")
  [ "$1" = FAIL ] && failed=$((failed + 1))
  log "$1: $2${3:+ (${3:0:200})}"
}

# lb runs a longboat subcommand as a Kafka client, bounded in time.
lb() {
  if [ -n "${LONGBOAT_BIN:-}" ]; then
    timeout 300 "$LONGBOAT_BIN" "$@"
  else
    timeout 300 docker run --rm --network host "$client_image" "$@"
  fi
}

http_status() { # PORT PATH: the HTTP status of localhost:PORT PATH
  timeout 10 bash -c 'exec 3<>"/dev/tcp/localhost/$0" || exit 1
    printf "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n" "$1" >&3
    head -1 <&3' "$1" "$2" 2>/dev/null | awk '{print $2}'
}

cleanup() {
  [ -n "$producer_pid" ] && kill "$producer_pid" 2>/dev/null
  [ -n "$consumer_pid" ] && kill "$consumer_pid" 2>/dev/null
  wait 2>/dev/null
  if [ -z "$broker1_removed" ] && [ "${SCALE_KEEP_BROKER4:-}" != 1 ] && docker inspect longboat-broker4 >/dev/null 2>&1; then
    log "removing broker 4 and its volume (SCALE_KEEP_BROKER4=1 keeps it)"
    timeout 120 "${dc[@]}" rm -s -f -v broker4 >/dev/null 2>&1
    docker volume rm "${project}_broker4-data" >/dev/null 2>&1
    # `up` made every volume five-brokers.yml declares: broker 5's too.
    [ -z "$had_broker5_volume" ] && docker volume rm "${project}_broker5-data" >/dev/null 2>&1
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# replicas_of TOPIC: "partition replicas" lines (replicas comma-separated).
replicas_of() {
  lb topics describe --brokers "$bootstrap" --topic "$1" 2>/dev/null | awk '$1 == t && $2 ~ /^[0-9]+$/ {print $2, $5}' t="$1"
}

# replace_in SET FROM CANDIDATES...: SET (comma-separated) with FROM replaced
# by the first candidate not in SET, in place (so the preferred leader stays
# first unless it was FROM).
replace_in() {
  local set=$1 from=$2 c
  shift 2
  for c in "$@"; do
    case ",$set," in *",$c,"*) continue ;; esac
    echo "$set" | tr , '\n' | sed "s/^$from\$/$c/" | paste -sd, -
    return 0
  done
  return 1
}

# move_off TOPIC BROKER PARTITIONS CANDIDATES: moves the listed partitions'
# replica on BROKER to a candidate broker, all at once: one `topics
# reassign` per distinct target set, run side by side, each following its
# moves to the end (progress lines, then its summary).
move_off() {
  local topic=$1 from=$2 parts=$3 cands=$4 p set target n=0
  declare -A by_target=()
  while read -r p set; do
    case " $parts " in *" $p "*) ;; *) continue ;; esac
    case ",$set," in *",$from,"*) ;; *) continue ;; esac
    # shellcheck disable=SC2086 # candidates are words
    if ! target=$(replace_in "$set" "$from" $cands); then
      result FAIL "move $topic/$p off broker $from" "no candidate broker left among $cands for replicas $set"
      continue
    fi
    by_target[$target]+="${by_target[$target]:+,}$p"
  done < <(replicas_of "$topic")
  local pids=()
  for target in "${!by_target[@]}"; do
    n=$((n + 1))
    log "topics reassign --topic $topic --partition ${by_target[$target]} --replicas $target"
    lb topics reassign --brokers "$bootstrap" --topic "$topic" --partition "${by_target[$target]}" \
      --replicas "$target" --wait "$move_wait" >"$work/move-$topic-$n.out" 2>"$work/move-$topic-$n.err" &
    pids+=("$!:$n:$target")
  done
  local entry pid rc
  for entry in "${pids[@]}"; do
    IFS=: read -r pid n target <<< "$entry"
    wait "$pid"
    rc=$?
    sed 's/^/    /' "$work/move-$topic-$n.err"
    sed 's/^/    /' "$work/move-$topic-$n.out"
    if [ "$rc" != 0 ]; then
      result FAIL "reassign $topic/${by_target[$target]} -> $target" "exit $rc: $(tail -1 "$work/move-$topic-$n.err")"
    elif awk 'NR > 1 && $5 != "completed" {bad = 1} END {exit !bad}' "$work/move-$topic-$n.out"; then
      result FAIL "reassign $topic/${by_target[$target]} -> $target" "not completed within $move_wait"
    fi
  done
}

# group_read: records the group member has printed so far.
group_read() { cat "$work"/group-*.out 2>/dev/null | wc -l; }

echo "== Longboat scale demo: project $project, topic $topic, group $group"
echo "== broker 4 image: $image_name; clients: ${LONGBOAT_BIN:-docker run $client_image}"

# 1. topic, producer, consumer group
if out=$(lb topics create --brokers "$bootstrap" --topic "$topic" --partitions 6 --replication-factor 3 2>&1); then
  result PASS "create topic (6 partitions, RF 3)" "$(replicas_of "$topic" | awk '{printf "%sp%s=%s", s, $1, $2; s=" "}')"
else
  result FAIL "create topic (6 partitions, RF 3)" "$(echo "$out" | tail -1)"
fi
# Producer: rounds of numbered records (acks=all) until the stop file
# exists or max_rounds; each round's summary line goes to produce.out.
# Each round reads its bootstrap list from a file, which step 4 rewrites
# without broker 1 before stopping it, as an operator updates clients
# before taking a broker away.
echo "$bootstrap" >"$work/producer-bootstrap"
(
  for ((r = 1; r <= max_rounds; r++)); do
    [ -e "$work/stop" ] && break
    lb produce --brokers "$(cat "$work/producer-bootstrap")" --topic "$topic" --records "$records" --chunk 50 \
      --prefix "r$r" --acks all >"$work/produce-$r.out" 2>"$work/produce-$r.err"
    echo "$r $? $(awk -v t="$topic" '$1 == t {print $6, $7}' "$work/produce-$r.out")" >>"$work/rounds"
  done
) &
producer_pid=$!
# Consumer group member, restarted when it exits on an error (as an
# application would); each run's output is kept apart.
(
  for ((c = 1; c <= 20; c++)); do
    [ -e "$work/consumer-stop" ] && break
    lb consume --brokers "$bootstrap" --topic "$topic" --group "$group" --format '%p %o %s\n' \
      --timeout 10m >"$work/group-$c.out" 2>"$work/group-$c.err"
    [ -e "$work/consumer-stop" ] && break
    echo "restart $c" >>"$work/consumer-restarts"
    sleep 1
  done
) &
consumer_pid=$!

acked() { awk '{s += $3} END {print s + 0}' "$work/rounds" 2>/dev/null || echo 0; }
phase_start() { # name: remembers what the group had read when the step began
  phase_read=$(group_read)
  phase_t=$SECONDS
  log "step: $1 (acknowledged so far $(acked), group read $phase_read)"
}
phase_end() { # name: the group must have read more during the step
  local now
  now=$(group_read)
  if [ "$now" -gt "$phase_read" ]; then
    result PASS "group kept reading during: $1" "$((now - phase_read)) records in $((SECONDS - phase_t))s"
  else
    result FAIL "group kept reading during: $1" "read $phase_read before, $now after ($((SECONDS - phase_t))s)"
  fi
}

# Let the load settle in before the cluster changes.
deadline=$((SECONDS + 60))
while [ "$(group_read)" -lt "$records" ] && [ $SECONDS -lt $deadline ]; do sleep 1; done
log "load running: acknowledged $(acked), group read $(group_read)"

# 2. broker 4 joins
phase_start "broker 4 joins"
if ! out=$(LONGBOAT_IMAGE=$image_name timeout 180 "${dc[@]}" up -d --no-deps --no-build broker4 2>&1); then
  result FAIL "start broker 4 (${dc[*]} up -d --no-deps broker4)" "$(echo "$out" | tail -1)"
else
  deadline=$((SECONDS + ready_timeout))
  while [ "$(http_status 13095 /readyz)" != 200 ] && [ $SECONDS -lt $deadline ]; do sleep 0.5; done
  if [ "$(http_status 13095 /readyz)" = 200 ]; then
    result PASS "broker 4 joined and is ready" "$((SECONDS - phase_t))s after up"
  else
    result FAIL "broker 4 joined and is ready" "/readyz not 200 after ${ready_timeout}s; $(docker logs --tail 3 longboat-broker4 2>&1 | tail -1)"
  fi
fi
status=$(lb cluster status --bootstrap-server localhost:9095 --http "$http_addrs" 2>&1)
echo "$status" | sed 's/^/    /'
if echo "$status" | awk '$1 == 4 && $3 == "true" {found = 1} END {exit !found}' && echo "$status" | grep -q '^Cluster .*: 4 brokers'; then
  result PASS "cluster status lists 4 brokers, broker 4 up" "$(echo "$status" | awk '$1 == 4 {print "meta " $5 ", replicas " $7}')"
else
  result FAIL "cluster status lists 4 brokers, broker 4 up" "$(echo "$status" | head -1)"
fi
phase_end "broker 4 joins"

# 3. half of the topic onto broker 4
phase_start "reassign $topic/0,2,4 onto broker 4"
move_off "$topic" 1 "0 2 4" "4"
moved=$(replicas_of "$topic" | awk '$1 % 2 == 0 && ("," $2 ",") ~ /,4,/' | wc -l)
if [ "$moved" = 3 ]; then
  result PASS "partitions 0, 2, 4 on broker 4" "$(replicas_of "$topic" | awk '{printf "%sp%s=%s", s, $1, $2; s=" "}')"
else
  result FAIL "partitions 0, 2, 4 on broker 4" "$moved of 3: $(replicas_of "$topic" | awk '{printf "%sp%s=%s", s, $1, $2; s=" "}')"
fi
phase_end "reassign onto broker 4"

# 4. broker 1, a founding __meta voter, leaves the cluster
phase_start "remove broker 1 (a __meta voter)"
log "cluster remove-broker 1 --wait $move_wait"
lb cluster remove-broker 1 --bootstrap-server "$bootstrap" --http "$http_addrs" --wait "$move_wait" \
  >"$work/remove.out" 2>"$work/remove.err"
rc=$?
sed 's/^/    /' "$work/remove.err"
sed 's/^/    /' "$work/remove.out"
if [ "$rc" = 0 ] && grep -q "broker 1 removed from the cluster" "$work/remove.err"; then
  broker1_removed=1
  result PASS "remove-broker 1 (a __meta voter)" "$(grep -o 'voters now [0-9,]*' "$work/remove.err"); $(awk 'NR > 1 && $5 == "completed"' "$work/remove.out" | wc -l) moves"
  # It serves nothing any more, and its __meta replica no longer follows:
  # clients must not take metadata from it. The producer's next round
  # bootstraps without it; the round in flight may still be connected to
  # it (a stop mid-request reset one round's connection), so it finishes
  # first.
  echo "localhost:9093,localhost:9094,localhost:9095" >"$work/producer-bootstrap"
  in_flight=$(wc -l <"$work/rounds" 2>/dev/null || echo 0)
  for _ in $(seq 1 60); do
    [ "$(wc -l <"$work/rounds" 2>/dev/null || echo 0)" -gt "$in_flight" ] && break
    sleep 0.5
  done
  timeout 60 docker stop longboat-broker1 >/dev/null 2>&1
else
  result FAIL "remove-broker 1 (a __meta voter)" "exit $rc: $(tail -1 "$work/remove.err")"
fi
left=""
for t in $(lb topics list --brokers "$bootstrap" 2>/dev/null | awk 'NR > 1 {print $1}'); do
  left+=$(replicas_of "$t" | awk -v t="$t" '("," $2 ",") ~ /,1,/ {printf " %s/%s=%s", t, $1, $2}')
done
if [ -z "$left" ]; then
  result PASS "no partition left on broker 1" "$(lb topics list --brokers "$bootstrap" 2>/dev/null | awk 'NR > 1' | wc -l) topics"
else
  result FAIL "no partition left on broker 1" "still there:$left"
fi
status=$(lb cluster status --bootstrap-server localhost:9095 --http "$http_addrs" 2>&1)
if echo "$status" | awk '$1 == 1 {found = 1} END {exit found}' &&
  echo "$status" | awk '$1 == 4 && $5 == "voter" {found = 1} END {exit !found}'; then
  result PASS "cluster status: broker 1 gone, broker 4 a __meta voter" "$(echo "$status" | awk '$1 ~ /^[0-9]+$/ && $5 ~ /voter/ {printf "%s%s=%s", s, $1, $5; s=" "}')"
else
  result FAIL "cluster status: broker 1 gone, broker 4 a __meta voter" "$(echo "$status" | awk '$1 ~ /^[0-9]+$/ {printf "%s%s=%s", s, $1, $5; s=" "}')"
fi
phase_end "remove broker 1"

# 5. stop the load, catch up, check
touch "$work/stop"
log "stopping the producer (its round in flight finishes)"
wait "$producer_pid"
producer_pid=""
total=$(acked)
rounds=$(wc -l <"$work/rounds")
bad_rounds=$(awk '$2 != 0 || $3 != r' r="$records" "$work/rounds" | wc -l)
if [ "$bad_rounds" = 0 ] && [ "$total" -gt 0 ]; then
  result PASS "producer: every round fully acknowledged" "$rounds rounds, $total records (acks=all)"
else
  result FAIL "producer: every round fully acknowledged" "$bad_rounds of $rounds rounds not: $(awk '$2 != 0 || $3 != r' r="$records" "$work/rounds" | head -3 | paste -sd';' -); $(cat "$work"/produce-*.err | grep -v '^produce:' | tail -1)"
fi
# Every value a fully acknowledged round wrote (rounds with failures are
# reported above; which of their records were acknowledged is unknown).
awk '$2 == 0 && $3 == r {print $1}' r="$records" "$work/rounds" | while read -r r; do
  for ((i = 0; i < records; i++)); do printf 'r%s-%09d\n' "$r" "$i"; done
done | sort >"$work/expected"

log "waiting for the group to read every acknowledged record (up to 90 s)"
deadline=$((SECONDS + 90))
while [ $SECONDS -lt $deadline ]; do
  cat "$work"/group-*.out 2>/dev/null | awk '{print $3}' | sort -u >"$work/group-values"
  [ -z "$(comm -23 "$work/expected" "$work/group-values" | head -1)" ] && break
  sleep 2
done
touch "$work/consumer-stop"
# SIGTERM reaches the member (docker run proxies it): it commits what it
# printed and exits.
pkill -TERM -P "$consumer_pid" 2>/dev/null
wait "$consumer_pid"
consumer_pid=""
cat "$work"/group-*.out 2>/dev/null | awk '{print $3}' | sort >"$work/group-all"
missing=$(comm -23 "$work/expected" <(sort -u "$work/group-all") | wc -l)
redelivered=$(uniq -d "$work/group-all" | wc -l)
restarts=$(cat "$work/consumer-restarts" 2>/dev/null | wc -l)
if [ "$missing" = 0 ]; then
  result PASS "group read every acknowledged record" "$(wc -l <"$work/expected") expected, $(wc -l <"$work/group-all") read, $redelivered redelivered, $restarts member restarts"
else
  result FAIL "group read every acknowledged record" "$missing of $(wc -l <"$work/expected") missing, e.g. $(comm -23 "$work/expected" <(sort -u "$work/group-all") | head -1); $restarts member restarts"
fi
# The member just left (its group rebalances): ask for a while.
deadline=$((SECONDS + 30))
while :; do
  lag=$(lb groups describe --brokers "$bootstrap" --group "$group" --output json 2>"$work/lag.err" | grep -o '"total_lag": *[0-9-]*' | grep -o '[0-9-]*$')
  [ "$lag" = 0 ] || [ $SECONDS -ge $deadline ] && break
  sleep 2
done
if [ "$lag" = 0 ]; then
  result PASS "group lag 0 after the moves" "group $group"
else
  result FAIL "group lag 0 after the moves" "total lag '${lag:-no answer}': $(tail -1 "$work/lag.err")"
fi

# The log itself: read from offset 0 to the end, through broker 4.
lb consume --brokers localhost:9095 --topic "$topic" --offset beginning --exit-at-end --format '%s\n' \
  --timeout 120s >"$work/log" 2>"$work/log.err"
sort "$work/log" >"$work/log-sorted"
log_missing=$(comm -23 "$work/expected" <(sort -u "$work/log-sorted") | wc -l)
log_dups=$(uniq -d "$work/log-sorted" | wc -l)
if [ "$log_missing" = 0 ] && [ "$log_dups" = 0 ] && [ -s "$work/expected" ]; then
  result PASS "every acknowledged record in the log exactly once" "$(wc -l <"$work/log") records read from offset 0 via broker 4, 0 missing, 0 duplicates"
else
  result FAIL "every acknowledged record in the log exactly once" "$log_missing missing, $log_dups duplicated of $(wc -l <"$work/expected"); $(tail -1 "$work/log.err")"
fi
echo "== cluster status at the end"
lb cluster status --bootstrap-server localhost:9095 --http "$http_addrs" 2>&1 | sed 's/^/    /'

pass=0
echo
echo "== Longboat scale demo summary ($((SECONDS - t0))s, topic $topic)"
for r in "${results[@]}"; do
  IFS='|' read -r st check detail <<< "$r"
  printf '%-6s %s%s\n' "$st" "$check" "${detail:+  [$detail]}"
  [ "$st" = PASS ] && pass=$((pass + 1))
done
echo "== $pass passed, $failed failed"
[ "$failed" = 0 ]
