#!/usr/bin/env bash
# A throw-away one-node Kubernetes cluster without Docker, for `make e2e`:
#
#   cluster.sh up DIR    start etcd, kube-apiserver, kube-controller-manager,
#                        kube-scheduler, containerd and kubelet with all their
#                        state in DIR, and wait until the node is Ready
#   cluster.sh down DIR  stop them by PID and undo what they changed on the host
#
# Everything runs as our own processes (no systemd here); DIR/pids holds their
# PIDs. `down` (hack/e2e/teardown.sh) is safe to run at any time, also after a
# crash or twice, and `up` runs it first. Needs root: kubelet and containerd
# manage cgroups, mounts and network namespaces.
#
# What the host sees changed while the cluster runs, and `down` puts back:
# the sysctls kubelet sets (recorded in DIR/sysctls before the first start),
# the kubepods cgroups, mounts under DIR and containerd's state under
# /run/containerd, CNI's cache under /var/lib/cni, the logs under
# /var/log/containers and /var/log/pods, and the network namespaces of pods.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cmd="${1:?usage: cluster.sh up|down DIR}"
S="$(mkdir -p "${2:?usage: cluster.sh up|down DIR}" && cd "$2" && pwd)"
APISERVER_PORT="${E2E_APISERVER_PORT:-36443}"
ETCD_PORT="${E2E_ETCD_PORT:-32379}"
SANDBOX_IMAGE="${E2E_SANDBOX_IMAGE:-keyward-pause:e2e}"
SYSCTLS=(vm.overcommit_memory kernel.panic kernel.panic_on_oops)

log() { echo "e2e-cluster: $*" >&2; }

# shellcheck source=node-config.sh
source "$here/node-config.sh"

down() { bash "$here/teardown.sh" "$S"; }

start() { # name, command...: a process of its own session, PID in DIR/pids
  local name="$1"; shift
  setsid "$@" >"$S/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$S/pids/$name"
}

wait_for() { # what, seconds, command...
  local what="$1" secs="$2"; shift 2
  for _ in $(seq $((secs * 5))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  log "timed out waiting for $what; logs in $S/logs"
  return 1
}

record_sysctls() {
  # A record left by a crashed run holds the values from before it: keep it.
  [ -f "$S/sysctls" ] && return 0
  local k
  for k in "${SYSCTLS[@]}"; do echo "$k $(sysctl -n "$k")"; done > "$S/sysctls.tmp"
  mv "$S/sysctls.tmp" "$S/sysctls"
}

# ports_free fails, naming them, when ports the cluster or its host-network
# pods listen on are taken: otherwise a pod would fail later, obscurely.
ports_free() {
  local taken=() port
  for port in "$APISERVER_PORT" "$ETCD_PORT" "$((ETCD_PORT + 1))" 10248 10250 10257 10259 8080 8081 8082 8083 8091 8443 9443; do
    if ss -Hltn "sport = :$port" | grep -q .; then taken+=("$port"); fi
  done
  [ "${#taken[@]}" = 0 ] && return 0
  log "ports in use, needed by the cluster and its pods: ${taken[*]}"
  return 1
}

up() {
  [ "$(id -u)" = 0 ] || { log "needs root (kubelet and containerd manage cgroups and mounts)"; exit 1; }
  BIN="$(bash "$here/binaries.sh")"
  down || true
  ports_free
  mkdir -p "$S/pids" "$S/logs"
  record_sysctls
  pki
  containerd_config
  kubelet_config

  start etcd "$BIN/etcd" --data-dir "$S/etcd" --unsafe-no-fsync \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "default=http://127.0.0.1:$((ETCD_PORT + 1))" --listen-metrics-urls ""
  start containerd containerd --config "$S/containerd/config.toml"

  # --endpoint-reconciler-type=none: nothing routes to a ClusterIP here.
  # --enable-aggregator-routing: the API server calls webhook Services at
  # their endpoints (the manager's host address), so the webhook stays
  # registered by Service as in config/default, and its certificate (issued
  # for the Service's DNS name) verifies.
  start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --cert-dir "$S/pki" --tls-cert-file "$S/pki/apiserver.crt" --tls-private-key-file "$S/pki/apiserver.key" \
    --client-ca-file "$S/pki/ca.crt" --token-auth-file "$S/pki/tokens.csv" \
    --authorization-mode Node,RBAC --allow-privileged \
    --service-cluster-ip-range 10.0.0.0/24 \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$S/pki/sa.pub" --service-account-signing-key-file "$S/pki/sa.key" \
    --kubelet-client-certificate "$S/pki/apiserver-kubelet-client.crt" --kubelet-client-key "$S/pki/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types Hostname,InternalIP \
    --endpoint-reconciler-type none --enable-aggregator-routing
  wait_for kube-apiserver 120 "$BIN/kubectl" --kubeconfig "$S/admin.kubeconfig" get --raw /readyz

  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$S/kube-controller-manager.kubeconfig" --bind-address 127.0.0.1 \
    --leader-elect=false --root-ca-file "$S/pki/ca.crt" \
    --service-account-private-key-file "$S/pki/sa.key" --use-service-account-credentials=false
  start kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig "$S/kube-scheduler.kubeconfig" --bind-address 127.0.0.1 --leader-elect=false
  wait_for containerd 60 ctr --address "$S/containerd/containerd.sock" version

  # A loopback node IP is refused: the node is "localhost", which the API
  # server reaches first (--kubelet-preferred-address-types).
  start kubelet "$BIN/kubelet" \
    --config "$S/kubelet/config.yaml" --kubeconfig "$S/kubelet.kubeconfig" \
    --root-dir "$S/kubelet/root" --cert-dir "$S/kubelet/pki" --hostname-override localhost
  wait_for "the node to be Ready" 120 "$BIN/kubectl" --kubeconfig "$S/admin.kubeconfig" \
    wait --for=condition=Ready node/localhost --timeout=1s
  log "up: KUBECONFIG=$S/admin.kubeconfig"
}

case "$cmd" in
  up) up ;;
  down) down ;;
  *) echo "usage: cluster.sh up|down DIR" >&2; exit 2 ;;
esac
