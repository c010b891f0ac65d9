#!/usr/bin/env bash
# Provides the node binaries of the e2e cluster and prints their directory on
# stdout (progress on stderr): kubelet, kube-controller-manager and
# kube-scheduler beside the envtest binaries (same k8s.io/kubernetes module
# set-up as kube-apiserver, so the second build reuses the first's cache), and
# the CNI plugins tap, host-local and loopback in a cni/ directory there.
# Installs containerd and runc from Debian's packages when missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
K8S_VERSION="${ENVTEST_K8S_VERSION:-1.37.2}"
CNI_VERSION="${E2E_CNI_VERSION:-1.9.1}"
log() { echo "e2e-binaries: $*" >&2; }

# kube-apiserver, etcd and kubectl, and the module set-up for the rest.
dir="$(bash "$here/../envtest-assets.sh")"
STORE="${ENVTEST_STORE:-${XDG_DATA_HOME:-$HOME/.local/share}/kubebuilder-envtest}"
work="$STORE/.build-${K8S_VERSION}"

# kubernetes_module sets up the build of k8s.io/kubernetes commands as
# hack/envtest-assets.sh does, for when kube-apiserver was downloaded.
kubernetes_module() {
  mkdir -p "$work/apiserver"
  local gomod
  gomod=$(cd "$work/apiserver" && go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    printf 'module keyward.local/envtest-apiserver\n\ngo %s\n\nrequire k8s.io/kubernetes v%s\n\nreplace (\n' \
      "$(sed -n 's/^go //p' "$gomod")" "$K8S_VERSION"
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod" |
      while read -r m; do echo "	$m => $m v0.${K8S_VERSION#*.}"; done
    echo ")"
  } > "$work/apiserver/go.mod"
}

major="${K8S_VERSION%%.*}"
minor="${K8S_VERSION#*.}"; minor="${minor%%.*}"
pkg=k8s.io/component-base/version
for bin in kubelet kube-controller-manager kube-scheduler; do
  [ -x "$dir/$bin" ] && continue
  [ -f "$work/apiserver/go.mod" ] || kubernetes_module
  log "building $bin v${K8S_VERSION} from source (a few minutes, once per machine)"
  (cd "$work/apiserver" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$dir/$bin.tmp" \
    -ldflags "-s -w -X $pkg.gitVersion=v${K8S_VERSION} -X $pkg.gitMajor=${major} -X $pkg.gitMinor=${minor}" \
    "k8s.io/kubernetes/cmd/$bin" >&2)
  mv "$dir/$bin.tmp" "$dir/$bin"
done

cni="$dir/cni"
mkdir -p "$cni" "$work/cni"
for plugin in tap host-local loopback; do
  [ -x "$cni/$plugin" ] && continue
  log "building CNI plugin $plugin v${CNI_VERSION}"
  (
    cd "$work/cni"
    printf 'module keyward.local/e2e-cni\n\ngo 1.26\n\nrequire github.com/containernetworking/plugins v%s\n' "$CNI_VERSION" > go.mod
    case "$plugin" in
      host-local) path=plugins/ipam/host-local ;;
      *) path=plugins/main/$plugin ;;
    esac
    GOFLAGS=-mod=mod go mod download github.com/containernetworking/plugins >&2
    GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$cni/$plugin.tmp" \
      "github.com/containernetworking/plugins/$path" >&2
  )
  mv "$cni/$plugin.tmp" "$cni/$plugin"
done

if ! command -v containerd >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1; then
  log "installing containerd and runc from Debian's packages"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends containerd runc >&2 ||
    { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends containerd runc >&2; }
fi

echo "$dir"
