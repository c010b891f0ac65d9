#!/usr/bin/env bash
# `make e2e`: images → cluster up → images imported → config/e2e applied →
# test/e2e with the real kubectl → transcript → cluster down, also when a
# step fails. E2E_KEEP=1 leaves the cluster up for inspection (`make
# e2e-down` stops it); the KUBECONFIG to use is printed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
S="${E2E_DIR:-$root/tmp/e2e}"
IMAGES="${E2E_IMAGES:-$root/bin/images}"
PORT="${E2E_APISERVER_PORT:-36443}"
export E2E_APISERVER_PORT="$PORT"
log() { echo "e2e: $*" >&2; }

finish() {
  local rc=$?
  if [ "${E2E_KEEP:-}" = 1 ]; then
    log "cluster kept (E2E_KEEP=1): export KUBECONFIG=$S/admin.kubeconfig; make e2e-down stops it"
  else
    bash hack/e2e/cluster.sh down "$S" || rc=1
  fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

bash hack/e2e/images.sh "$IMAGES" >/dev/null
bash hack/e2e/cluster.sh up "$S"
export KUBECONFIG="$S/admin.kubeconfig"
BIN="$(bash hack/e2e/binaries.sh)"
# The suite and the transcript use the real kubectl of the cluster's version.
export PATH="$BIN:$PATH"

for tar in "$IMAGES/keyward.tar" "$IMAGES/pause.tar"; do
  ctr --address "$S/containerd/containerd.sock" -n k8s.io images import "$tar" >/dev/null
done
kubectl kustomize config/e2e | sed "s/value: \"36443\"/value: \"$PORT\"/" | kubectl apply --server-side -f - >/dev/null
log "keyward applied from config/e2e; running test/e2e"

KEYWARD_E2E=1 go test ./test/e2e/ -count=1 -timeout 20m -v ${E2E_TEST_ARGS:-}

# The transcript: what an operator of this cluster sees. The key is read
# into a variable and never printed.
show() { echo "\$ $*"; "$@"; echo; }
show kubectl get pods -A -o wide
show kubectl get apikeys -n default
show kubectl describe apikey fraud-reporting -n default
KEY="$(kubectl get secret fraud-reporting -n default -o jsonpath='{.data.key}' | base64 -d)"
# The verifier's TLS port (config/e2e): its CA from the Secret the manager
# keeps it in, its certificate for the Service's name, reached on loopback.
kubectl get secret keyward-verifier-tls -n keyward-verifier -o jsonpath='{.data.ca\.crt}' | base64 -d >"$S/verifier-ca.crt"
SVC=keyward-verifier.keyward-verifier.svc
echo "\$ curl -s --cacert verifier-ca.crt --resolve $SVC:8080:127.0.0.1 -X POST https://$SVC:8080/v1/decision -d '{\"subject\":{\"credential\":\"\$KEY\"},...}'   # KEY from Secret fraud-reporting, verifier-ca.crt from Secret keyward-verifier-tls"
curl -s --cacert "$S/verifier-ca.crt" --resolve "$SVC:8080:127.0.0.1" -X POST "https://$SVC:8080/v1/decision" -H 'Content-Type: application/json' -d \
  '{"subject":{"credential":"'"$KEY"'"},"resource":{"org":"acme","project":"payments","type":"investigations","id":"INV-7"},"action":{"id":"read"},"environment":{"address":"10.1.2.3"}}'
echo
