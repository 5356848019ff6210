# Three local brokers for the benchmark scripts, started as `longboat dev`
# starts them (its serve flags and Raft soft settings). Sourced from the
# repository's root, under `set -euo pipefail`.
#
#   cluster_init    sets work (a temporary directory) and bin (LONGBOAT_BIN,
#                   or longboat built from this tree into work), and stops
#                   the brokers and removes work on exit
#   cluster_start LISTENERS RAFT HTTP [serve flags...]
#                   starts brokers 1-3: each argument lists the three
#                   brokers' values, space-separated (a broker's listeners
#                   comma-separated, advertised as they are); @i@ in a serve
#                   flag becomes the broker's node id. Sets bootstrap (every
#                   broker's first listener) and waits until all three are
#                   ready.
#   cluster_stop    stops the brokers and deletes their data directories, so
#                   that the next cluster_start begins from empty ones

cluster_init() {
	work=$(mktemp -d)
	bin=${LONGBOAT_BIN:-$work/longboat}
	pids=()
	trap cluster_cleanup EXIT
	[ -n "${LONGBOAT_BIN:-}" ] || go build -o "$bin" ./cmd/longboat
	cp cmd/longboat/devconfig/dragonboat-soft-settings.json "$work/"
}

cluster_cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}

cluster_stop() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait "${pids[@]}" 2>/dev/null || true
	pids=()
	rm -rf "$work"/node[0-9]*
}

cluster_start() {
	local -a listeners raft http
	read -ra listeners <<<"$1"
	read -ra raft <<<"$2"
	read -ra http <<<"$3"
	shift 3
	local members="" peers="" i first
	bootstrap=""
	for i in 1 2 3; do
		members+="${members:+,}$i=${raft[i - 1]}"
		peers+="${peers:+,}$i=${http[i - 1]}"
		first=${listeners[i - 1]%%,*}
		bootstrap+="${bootstrap:+,}${first#*://}"
	done
	for i in 1 2 3; do
		(cd "$work" && exec "$bin" serve --node-id "$i" --data-dir "$work/node$i" \
			--listeners "${listeners[i - 1]}" --advertised-listeners "${listeners[i - 1]}" \
			--raft-addr "${raft[i - 1]}" --initial-members "$members" --initial-members-http "$peers" \
			--http-addr "${http[i - 1]}" --default-replication-factor 3 --log-level warn \
			"${@//@i@/$i}" >"$work/broker$i.log" 2>&1) &
		pids+=($!)
	done
	local ready=0
	for _ in $(seq 120); do
		ready=0
		for i in 1 2 3; do
			"$bin" healthcheck --http-addr "${http[i - 1]}" >/dev/null 2>&1 && ready=$((ready + 1))
		done
		[ "$ready" = 3 ] && return 0
		sleep 1
	done
	echo "brokers not ready after 120 s:" >&2
	tail -n 5 "$work"/broker*.log >&2
	exit 1
}
