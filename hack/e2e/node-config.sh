# Sourced by hack/e2e/cluster.sh: writes the configuration of the e2e
# cluster into $S (its state directory): a throw-away PKI with static tokens
# and kubeconfigs, containerd's and CNI's configuration, and kubelet's.
# Uses $S, $BIN, $APISERVER_PORT and $SANDBOX_IMAGE.

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
