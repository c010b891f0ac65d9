#!/usr/bin/env bash
# Takes down the e2e cluster whose state is in DIR (hack/e2e/cluster.sh) and
# undoes what it changed on the host; safe at any time, also after a crash
# or twice:
#
#   teardown.sh DIR
#
# The daemons stop by the PIDs in DIR/pids; the containers, which outlive
# them, by the PIDs in the kubepods cgroups; containerd's shims, reparented
# to init, by our socket on their command line. Then the mounts under DIR and
# containerd's, the runtime and CNI state, the pods' network namespaces and
# logs go, the sysctls kubelet set get the values recorded in DIR/sysctls
# before the first start, and DIR is emptied.
set -euo pipefail

S="$(mkdir -p "${1:?usage: teardown.sh DIR}" && cd "$1" && pwd)"
log() { echo "e2e-cluster: $*" >&2; }

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
  # The state goes too (binaries and images are kept elsewhere), so
  # that the next run starts from nothing. Mounts are gone, so rm cannot
  # reach through one.
  if findmnt -rn -o TARGET | grep -qF "$S/"; then
    log "mounts remain under $S; state kept"; return 1
  fi
  find "$S" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
  log "down"
}

down
