#!/usr/bin/env bash
# A throw-away one-node Kubernetes cluster without Docker, for `make e2e`:
#
#   cluster.sh up DIR    start etcd, kube-apiserver, kube-controller-manager,
#                        kube-scheduler, containerd and kubelet with all their
#                        state in DIR, and wait until the node is Ready
#   cluster.sh down DIR  stop them by PID and undo what they changed on the host
#
# Everything runs as our own processes (no systemd here); DIR/pids holds their
# PIDs. `down` is safe to run at any time, also after a crash or twice, and
# `up` runs it first. Needs root: kubelet and containerd manage cgroups,
# mounts and network namespaces.
#
# What the host keeps seeing changed while the cluster runs, and `down` puts
# back: the sysctls kubelet sets (recorded in DIR/sysctls before the first
# start), the kubepods cgroups, mounts under DIR and containerd's state under
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

# --- down -------------------------------------------------------------------

stop_pid() { # name: SIGTERM, then SIGKILL after a grace period
  local f="$S/pids/$1" pid
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# kill_cgroup_tree kills every process in the kubepods cgroups (the pods'
# containers, which outlive containerd), then removes the cgroups.
kill_cgroup_tree() {
  local d
  for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/k8s.io /sys/fs/cgroup/kubepods /sys/fs/cgroup/k8s.io; do
    [ -d "$d" ] || continue
    find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
  done
  for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/k8s.io /sys/fs/cgroup/kubepods /sys/fs/cgroup/k8s.io; do
    [ -d "$d" ] || continue
    for _ in $(seq 25); do
      find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
      [ -d "$d" ] || break
      sleep 0.2
    done
    [ -d "$d" ] && log "could not remove cgroup $d"
  done
  return 0
}

# shims serving our containerd; they are reparented to init, so only their
# command line (our socket) ties them to this cluster.
kill_shims() {
  local p
  for p in /proc/[0-9]*; do
    if tr '\0' ' ' 2>/dev/null < "$p/cmdline" | grep -qF -- "-address $S/containerd/containerd.sock"; then
      kill -KILL "${p#/proc/}" 2>/dev/null || true
    fi
  done
}

unmount_all() {
  local m
  for _ in 1 2 3; do
    findmnt -rn -o TARGET | { grep -E "^($S|/run/containerd|/run/netns/cni-|/var/run/netns/cni-)" || true; } |
      sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
  done
}

restore_sysctls() {
  [ -f "$S/sysctls" ] || return 0
  local k v
  while read -r k v; do
    [ -n "$k" ] && sysctl -qw "$k=$v" >/dev/null
  done < "$S/sysctls"
  rm -f "$S/sysctls"
}

down() {
  mkdir -p "$S/pids"
  for p in kubelet kube-scheduler kube-controller-manager; do stop_pid "$p"; done
  kill_cgroup_tree
  stop_pid containerd
  kill_shims
  kill_cgroup_tree
  for p in kube-apiserver etcd; do stop_pid "$p"; done
  unmount_all
  rm -rf /run/containerd /var/lib/cni /var/log/containers /var/log/pods
  rm -f /run/netns/cni-* 2>/dev/null || true
  restore_sysctls
  # The state goes too (the binaries and images are cached elsewhere), so
  # that the next run starts from nothing. Mounts are gone, so rm cannot
  # reach through one.
  if findmnt -rn -o TARGET | grep -qF "$S/"; then
    log "mounts remain under $S; state kept"; return 1
  fi
  find "$S" -mindepth 1 -maxdepth 1 ! -name images -exec rm -rf {} +
  log "down"
}

# --- up ---------------------------------------------------------------------

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

pki() {
  local p="$S/pki"
  mkdir -p "$p"
  cd "$p"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj "/CN=keyward-e2e-ca" 2>/dev/null
  cert() { # name, subject, extensions
    openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
    printf '%s\n' "$3" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 2 -extfile "$1.ext" 2>/dev/null
  }
  cert apiserver "/CN=kube-apiserver" \
    "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "extendedKeyUsage=clientAuth"
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  # Static tokens: the control plane components and the admin are in
  # system:masters (a throw-away cluster); the kubelet is a node, so the
  # Node authorizer limits it as in a real cluster.
  : > tokens.csv
  for who in admin kube-controller-manager kube-scheduler kubelet; do
    local tok; tok="$(openssl rand -hex 16)"
    case "$who" in
      kubelet) echo "$tok,system:node:localhost,node-localhost,system:nodes" >> tokens.csv ;;
      admin) echo "$tok,admin,admin,system:masters" >> tokens.csv ;;
      *) echo "$tok,system:$who,$who,system:masters" >> tokens.csv ;;
    esac
    kubeconfig "$who" "$tok"
  done
  cd - >/dev/null
}

kubeconfig() { # who, token
  cat > "$S/$1.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $S/pki/ca.crt
users:
- name: $1
  user:
    token: $2
contexts:
- name: e2e
  context: {cluster: e2e, user: $1}
current-context: e2e
KC
}

containerd_config() {
  mkdir -p "$S/containerd" "$S/cni/net.d"
  cat > "$S/containerd/config.toml" <<TOML
version = 2
root = "$S/containerd/root"
state = "$S/containerd/state"
[grpc]
  address = "$S/containerd/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$S/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$SANDBOX_IMAGE"
  # Root here lacks CAP_SYS_RESOURCE: a negative oom_score_adj would fail
  # every sandbox.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$BIN/cni"
    conf_dir = "$S/cni/net.d"
TOML
  # tap + host-local: each pod gets an interface of its own and the host's
  # network is left alone (no bridge, no routes); pods that must talk use
  # host networking.
  cat > "$S/cni/net.d/10-keyward-e2e.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "keyward-e2e", "plugins": [
  {"type": "tap", "ipam": {"type": "host-local", "dataDir": "$S/cni/ipam",
    "ranges": [[{"subnet": "10.244.0.0/24"}]]}}]}
JSON
}

kubelet_config() {
  mkdir -p "$S/kubelet"
  cat > "$S/kubelet/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: 10250
healthzBindAddress: 127.0.0.1
healthzPort: 10248
readOnlyPort: 0
# This machine has cgroup v1, no systemd and swap settings of its own.
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://$S/containerd/containerd.sock
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $S/pki/ca.crt}
authorization: {mode: Webhook}
# A shared build machine: never evict the suite's pods for disk or memory
# the rest of the machine uses.
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
# The manager's webhook certificate Secret starts empty and is filled once
# it runs; the kubelet refreshes mounted Secrets on each pod sync (a minute
# by default), which would hold the manager unready that long.
syncFrequency: 10s
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
YAML
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
  for port in "$APISERVER_PORT" "$ETCD_PORT" "$((ETCD_PORT + 1))" 10248 10250 10257 10259 8080 8081 8082 8091 8443 9443; do
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
