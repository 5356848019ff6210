# Longboat broker image: one static binary on an empty (scratch) base, run
# as a non-root user, entrypoint `longboat` (so `docker run IMAGE topics ...`
# works as a client too).
#
#   docker build -t longboat .                      # default: compiles in the official Go image
#     (--build-arg COMMIT=$(git rev-parse --short=12 HEAD) names the commit in `longboat version`)
#   CGO_ENABLED=0 go build -trimpath -o dist/longboat ./cmd/longboat
#   docker build --target local -t longboat:local . # offline: copies the host-built binary
#
# Stage order matters: the legacy builder (no BuildKit; docker-compose v1)
# builds every stage up to the target, so the offline target comes before
# the Go stage and never needs the golang image.

# base: the runtime file system without the binary.
FROM scratch AS base
# The release, internal/version.Version: scripts/build-images.sh and
# docker-compose.yml pass it, and internal/version's test checks that this
# default matches.
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="longboat" \
      org.opencontainers.image.version="${VERSION}"
COPY docker/etc/passwd docker/etc/group /etc/
# A named volume mounted here starts with this directory's owner.
COPY --chown=65532:65532 docker/data/ /var/lib/longboat/
# Defaults for a single broker reachable on the published port; compose
# and the README set every LONGBOAT_* variable of a cluster explicitly.
ENV LONGBOAT_DATA_DIR=/var/lib/longboat \
    LONGBOAT_LISTENERS=PLAINTEXT://0.0.0.0:9092 \
    LONGBOAT_ADVERTISED_LISTENERS=PLAINTEXT://localhost:9092 \
    LONGBOAT_HTTP_ADDR=0.0.0.0:13092 \
    LONGBOAT_LOG_FORMAT=json
# dragonboat reads dragonboat-soft-settings.json from the working directory
# when the process starts (package init, before main): smaller per-replica
# queues halve a broker's memory with many partitions (1000 partitions RF=3:
# ~1.1 GiB -> ~0.5 GiB per broker, no throughput loss), and one pending-
# proposal shard per replica instead of 16 spares each idle replica 16 locked
# sweeps per tick (1000 idle partitions: ~15% -> ~13% of a core, 0.70 ->
# 0.55 GiB per broker; a partition's proposals come from a few produce
# requests at a time, not enough to contend on one lock). Brokers run with
# working directory /etc/longboat (docker-compose.yml sets it; `docker run -w
# /etc/longboat`); the default stays the data directory so that the image
# used as a client (`topics`, `produce`, ...) does not print dragonboat's
# "Setting ..." lines before its own output.
COPY docker/etc/longboat/ /etc/longboat/
WORKDIR /var/lib/longboat
USER 65532:65532
EXPOSE 9092 9192 13092
# `longboat healthcheck` GETs this broker's own /readyz (LONGBOAT_HTTP_ADDR).
HEALTHCHECK --interval=5s --timeout=4s --start-period=60s --retries=3 \
    CMD ["/usr/local/bin/longboat", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/longboat"]
CMD ["serve"]

# local: a binary built on the host (CGO_ENABLED=0), for machines with no
# registry access. The legacy builder also runs this stage for the default
# target, where dist/longboat may not exist: docker/bin/ (an empty .keep)
# keeps the COPY valid then, and scripts/build-images.sh checks that the
# local image runs.
FROM base AS local
COPY docker/bin/ dist/longboa[t] /usr/local/bin/

# build: the static binary from the official Go image.
FROM golang:1.26.8 AS build
WORKDIR /src
COPY go.mod go.sum ./
# go.mod replaces early.longboat.invalid/dblog with this directory (see its doc).
COPY internal/dblog ./internal/dblog
# go.mod also replaces dragonboat with this directory (see its LONGBOAT-PATCHES.md).
COPY third_party ./third_party
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/longboat/longboat/internal/version.Commit=${COMMIT}" \
      -o /out/longboat ./cmd/longboat

# runtime (default target).
FROM base AS runtime
COPY --from=build /out/longboat /usr/local/bin/longboat
