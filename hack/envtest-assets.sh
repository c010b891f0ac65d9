#!/usr/bin/env bash
# Provides kube-apiserver, etcd and kubectl for envtest and prints their
# directory (for KUBEBUILDER_ASSETS) on stdout. Progress goes to stderr.
#
# Order of attempts:
#   1. the binaries are already in setup-envtest's store: print and exit;
#   2. `setup-envtest use` downloads them (needs internet);
#   3. build them from the Go module proxy (no internet, no Docker needed):
#      kube-apiserver from k8s.io/kubernetes, etcd from go.etcd.io/etcd.
# The result lives in setup-envtest's own store, so `setup-envtest use -i`
# and every later clone on this machine find it.
set -euo pipefail

K8S_VERSION="${ENVTEST_K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ENVTEST_ETCD_VERSION:-3.6.16}"
GOOS="$(go env GOOS)"
GOARCH="$(go env GOARCH)"
STORE="${ENVTEST_STORE:-${XDG_DATA_HOME:-$HOME/.local/share}/kubebuilder-envtest}"
DIR="$STORE/k8s/${K8S_VERSION}-${GOOS}-${GOARCH}"
SETUP_ENVTEST="${SETUP_ENVTEST:-}"

log() { echo "envtest-assets: $*" >&2; }

complete() {
  [ -x "$DIR/kube-apiserver" ] && [ -x "$DIR/etcd" ] && [ -x "$DIR/kubectl" ]
}

if complete; then
  echo "$DIR"
  exit 0
fi

if [ -n "$SETUP_ENVTEST" ] && [ -x "$SETUP_ENVTEST" ]; then
  log "trying setup-envtest use ${K8S_VERSION} (downloads from the internet)"
  if out=$(timeout 60 "$SETUP_ENVTEST" use "$K8S_VERSION" --bin-dir "$STORE" -p path 2>/dev/null) && [ -n "$out" ]; then
    echo "$out"
    exit 0
  fi
  log "setup-envtest could not download; building the binaries from Go modules instead"
fi

work="$STORE/.build-${K8S_VERSION}"
mkdir -p "$work/apiserver" "$work/etcd" "$DIR"
major="${K8S_VERSION%%.*}"
minor="${K8S_VERSION#*.}"; minor="${minor%%.*}"

if [ ! -x "$DIR/kube-apiserver" ]; then
  log "building kube-apiserver v${K8S_VERSION} from source: about 8 minutes on 2 cores, once per machine"
  cd "$work/apiserver"
  gomod=$(go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    echo "module keyward.local/envtest-apiserver"
    echo
    echo "go $(sed -n 's/^go //p' "$gomod")"
    echo
    echo "require k8s.io/kubernetes v${K8S_VERSION}"
    echo
    echo "replace ("
    # Every staging module kubernetes replaces with a local path is published
    # on the proxy as v0.<minor>.<patch>.
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod" |
      while read -r m; do echo "	$m => $m v0.${K8S_VERSION#*.}"; done
    echo ")"
  } > go.mod
  GOFLAGS=-mod=mod go mod download k8s.io/kubernetes >&2
  pkg=k8s.io/component-base/version
  GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$DIR/kube-apiserver.tmp" \
    -ldflags "-s -w -X $pkg.gitVersion=v${K8S_VERSION} -X $pkg.gitMajor=${major} -X $pkg.gitMinor=${minor}" \
    k8s.io/kubernetes/cmd/kube-apiserver >&2
  mv "$DIR/kube-apiserver.tmp" "$DIR/kube-apiserver"
  log "kube-apiserver ready"
fi

if [ ! -x "$DIR/etcd" ]; then
  log "building etcd v${ETCD_VERSION} from source: about 2 minutes, once per machine"
  cd "$work/etcd"
  cat > go.mod <<MOD
module keyward.local/envtest-etcd

go 1.26

require go.etcd.io/etcd/server/v3 v${ETCD_VERSION}
MOD
  cat > main.go <<'SRC'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
SRC
  GOFLAGS=-mod=mod go mod tidy >&2
  GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$DIR/etcd.tmp" . >&2
  mv "$DIR/etcd.tmp" "$DIR/etcd"
  log "etcd ready"
fi

if [ ! -x "$DIR/kubectl" ]; then
  if command -v kubectl >/dev/null 2>&1; then
    cp "$(command -v kubectl)" "$DIR/kubectl.tmp" && mv "$DIR/kubectl.tmp" "$DIR/kubectl"
  else
    log "building kubectl v${K8S_VERSION} from source"
    cd "$work/apiserver"
    GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$DIR/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl >&2
    mv "$DIR/kubectl.tmp" "$DIR/kubectl"
  fi
fi

complete || { log "binaries missing in $DIR"; exit 1; }
echo "$DIR"
