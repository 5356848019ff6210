#!/usr/bin/env bash
# Builds the images the offline compose override (compose/offline.yml) runs,
# from what is on this host, without any registry:
#   longboat:local             CGO_ENABLED=0 host build + Dockerfile target "local"
#   longboat-prometheus:local  the host's prometheus binary and its libraries
#                              (skipped, with a message, when prometheus is not installed)
# Usage: scripts/build-images.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# The version's one source is internal/version; the image label gets the same.
version=$(sed -n 's/^const Version = "\(.*\)"$/\1/p' internal/version/version.go)
[ -n "$version" ] || { echo "no const Version in internal/version/version.go" >&2; exit 1; }
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && ! git diff --quiet HEAD 2>/dev/null; then commit=$commit-dirty; fi
echo "== go build (static, version $version, commit $commit)"
mkdir -p dist
CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X github.com/longboat/longboat/internal/version.Commit=$commit" \
  -o dist/longboat ./cmd/longboat

echo "== docker build --target local -t longboat:local"
docker build -q --target local --build-arg VERSION="$version" -t longboat:local . >/dev/null
# The binary is in the image, and it and the label name the same version.
docker run --rm longboat:local version | grep -qF "longboat $version " ||
  { echo "longboat:local does not print version $version" >&2; exit 1; }
label=$(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.version"}}' longboat:local)
[ "$label" = "$version" ] || { echo "longboat:local label version $label, binary $version" >&2; exit 1; }
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
