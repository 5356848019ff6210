#!/usr/bin/env bash
# The test command: formatting, vet, every test with the race detector, and
# a short fuzz run of the request decoder. Needs Go and kcat on PATH
# (kcat tests are skipped when it is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...
# Nested modules that ./... does not reach (their own go.mod keeps their
# client libraries out of the broker's dependencies).
for m in internal/dblog scripts/natslat scripts/dragonboat-bare test/compat/clients/ckgo; do (cd "$m" && go vet ./...); done

echo "== staticcheck"
# Pinned, and run through the module proxy rather than installed, so that
# every machine checks with the same rules.
staticcheck="go run honnef.co/go/tools/cmd/staticcheck@v0.8.2"
$staticcheck ./...
for m in internal/dblog scripts/natslat scripts/dragonboat-bare test/compat/clients/ckgo; do (cd "$m" && $staticcheck ./...); done

echo "== go test -race"
# Compile every package and test package for the race detector first, in
# parallel and without running anything: -p 1 below serialises compiling
# as well as running, which a fresh machine pays in full.
go list -race -test -export -deps ./... > /dev/null
# One package at a time: the integration and observability packages each run
# real clusters, and on two cores running them together starves Raft ticks.
go test -race -count=1 -p 1 -timeout 45m ./...
# The patches to the vendored dragonboat (its own module, outside ./...).
(cd third_party/dragonboat && go test -race -count=1 ./internal/tan/ ./internal/logdb/)

echo "== go test without -race: the disk-full test (it skips itself under -race)"
go test -count=1 -timeout 10m -run 'TestDiskFullKeepsTheBrokerUp$' ./test/integration/

echo "== fuzz the request decoder (${FUZZTIME:-100000x})"
go test -run '^$' -fuzz FuzzDecodeRequest -fuzztime "${FUZZTIME:-100000x}" ./internal/kafka/
