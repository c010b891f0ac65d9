#!/usr/bin/env bash
# Refreshes test/crds/cert-manager from cert-manager's own published CRDs
# (deploy/crds of its Go module at CERT_MANAGER_VERSION), which the install
# tests put into envtest so that config/cert-manager, dist/install-cert-manager.yaml
# and the chart's cert-manager variant are checked by a real API server.
# Run it by hand when bumping the version; tests only read the copy.
set -euo pipefail

version="${CERT_MANAGER_VERSION:-v1.21.2}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=test/crds/cert-manager

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
dir="$(cd "$scratch" && go mod init scratch >/dev/null 2>&1 &&
  go mod download -json "github.com/cert-manager/cert-manager@${version}" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -d "$dir/deploy/crds" ] || { echo "no deploy/crds in cert-manager ${version}" >&2; exit 1; }

rm -f "$out"/*.yaml
for f in "$dir"/deploy/crds/*.yaml; do
  install -m 0644 "$f" "$out/$(basename "$f")"
done
echo "$version" >"$out/VERSION"
ls "$out"
