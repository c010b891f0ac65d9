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
CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w" -o "$out/keyward" ./cmd/keyward
cd "$root/hack/e2e"
CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w" -o "$out/pause" ./pause
go build -o "$out/imagetar" ./imagetar
"$out/imagetar" -binary "$out/keyward" -path /keyward -tag "$IMG" -out "$out/keyward.tar"
"$out/imagetar" -binary "$out/pause" -path /pause -tag "$PAUSE_IMG" -out "$out/pause.tar"
rm -f "$out/keyward" "$out/pause" "$out/imagetar"
echo "$out/keyward.tar $out/pause.tar"
