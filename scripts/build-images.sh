#!/usr/bin/env bash
# Builds the images the offline compose override (compose/offline.yml) runs,
# from what is on this host, without any registry:
#   longboat:local             CGO_ENABLED=0 host build + Dockerfile target "local"
#   longboat-prometheus:local  the host's prometheus binary and its libraries
#                              (skipped, with a message, when prometheus is not installed)
# Usage: scripts/build-images.sh
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(git describe --always --dirty 2>/dev/null || echo dev)
echo "== go build (static, version $version)"
mkdir -p dist
CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X github.com/longboat/longboat/internal/version.Version=$version" \
  -o dist/longboat ./cmd/longboat

echo "== docker build --target local -t longboat:local"
docker build -q --target local -t longboat:local . >/dev/null
docker run --rm longboat:local version >/dev/null  # the binary is in the image
docker image ls longboat:local

prom=$(command -v prometheus || true)
if [ -z "$prom" ]; then
  echo "== longboat-prometheus:local SKIPPED: no prometheus binary on this host (apt-get install prometheus)"
  exit 0
fi
echo "== docker build longboat-prometheus:local from $prom"
root=dist/prometheus-rootfs
rm -rf "$root"
mkdir -p "$root"/bin "$root"/lib "$root"/lib64 "$root"/etc "$root"/prometheus
cp -L "$prom" "$root/bin/prometheus"
# The binary and every library ldd resolves (a static binary lists none).
ldd "$prom" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
printf 'nobody:x:65534:65534:nobody:/prometheus:/sbin/nologin\n' > "$root/etc/passwd"
printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
docker build -q -f compose/prometheus-local.Dockerfile -t longboat-prometheus:local "$root" >/dev/null
docker image ls longboat-prometheus:local
