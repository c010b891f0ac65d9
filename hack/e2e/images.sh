#!/usr/bin/env bash
# Builds keyward's image and the e2e cluster's sandbox image as tarballs in
# DIR (keyward.tar, pause.tar) without a container engine. The keyward
# binary is built as the Dockerfile builds it; the image holds it at
# /keyward, runs as 65532:65532 with /keyward as its entrypoint.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$(mkdir -p "${1:?usage: images.sh DIR}" && cd "$1" && pwd)"
IMG="${IMG:-keyward:dev}"
PAUSE_IMG="${E2E_SANDBOX_IMAGE:-keyward-pause:e2e}"

cd "$root"
# The Dockerfile builds from what .dockerignore lets in: a package the binary
# imports from a directory it keeps out would break that build, not this one.
for dir in $(go list -deps -f '{{if .Module}}{{if .Module.Main}}{{.ImportPath}}{{end}}{{end}}' ./cmd/keyward |
    sed -n 's#^github.com/keyward-dev/keyward/\([^/]*\).*#\1#p' | sort -u); do
  grep -qx "!$dir" .dockerignore || { echo "images.sh: .dockerignore keeps out $dir/, which cmd/keyward imports" >&2; exit 1; }
done
CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w" -o "$out/keyward" ./cmd/keyward
cd "$root/hack/e2e"
CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w" -o "$out/pause" ./pause
go build -o "$out/imagetar" ./imagetar
"$out/imagetar" -binary "$out/keyward" -path /keyward -tag "$IMG" -out "$out/keyward.tar"
"$out/imagetar" -binary "$out/pause" -path /pause -tag "$PAUSE_IMG" -ca-certificates= -out "$out/pause.tar"
rm -f "$out/keyward" "$out/pause" "$out/imagetar"
echo "$out/keyward.tar $out/pause.tar"
