# shellcheck shell=bash disable=SC2034 # The variables are used by the scripts that source this.
# Shared settings of hack/cluster-up.sh, hack/cluster-down.sh and hack/cluster-import.sh.
# Source it; it defines variables and functions only.
#
# Every address is on loopback. The default ports differ from the well-known ones, so the local
# cluster does not collide with envtest or another etcd on this host. Each can be overridden.

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# CLUSTER_DIR contains all cluster state: certificates, data, logs, PID files and the kubeconfig.
cluster_dir="${CLUSTER_DIR:-${repo_root}/.cluster}"
kubeconfig="${cluster_dir}/kubeconfig"
pid_dir="${cluster_dir}/pids"
log_dir="${cluster_dir}/logs"
pki_dir="${cluster_dir}/pki"
containerd_dir="${cluster_dir}/containerd"
containerd_socket="${containerd_dir}/containerd.sock"
kubelet_dir="${cluster_dir}/kubelet"

apiserver_port="${FERRY_APISERVER_PORT:-16443}"
etcd_client_port="${FERRY_ETCD_PORT:-12379}"
etcd_peer_port="${FERRY_ETCD_PEER_PORT:-12380}"
controller_manager_port="${FERRY_CONTROLLER_MANAGER_PORT:-20257}"
scheduler_port="${FERRY_SCHEDULER_PORT:-20259}"
kubelet_port="${FERRY_KUBELET_PORT:-20250}"
kubelet_healthz_port="${FERRY_KUBELET_HEALTHZ_PORT:-20248}"

# The pause image is home-made (hack/image/pause) because nothing can be pulled; containerd is
# configured to use exactly this tag as its sandbox image.
pause_image="${FERRY_PAUSE_IMAGE:-ferry.local/pause:1}"
node_name=localhost

# Host directories that the kubelet and runc use regardless of their configuration: the device
# plugin manager's /var/lib/kubelet/device-plugins and runc's state under /run/containerd.
# cluster-up lists in created_host_paths_file the ones it creates, and cluster-down removes
# exactly those.
host_paths=(/var/lib/kubelet /run/containerd)
created_host_paths_file="${cluster_dir}/created-host-paths"

# Components in start order; cluster-down stops them in reverse.
components=(containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet)

log() {
  echo "$(basename "$0"): $*"
}

die() {
  echo "$(basename "$0"): $*" >&2
  exit 1
}

# pid_of NAME prints the PID recorded for component NAME if that process is still alive.
pid_of() {
  local pid_file="${pid_dir}/$1.pid" pid
  [[ -f "${pid_file}" ]] || return 1
  pid="$(<"${pid_file}")"
  [[ "${pid}" =~ ^[0-9]+$ ]] && kill -0 "${pid}" 2>/dev/null || return 1
  echo "${pid}"
}

require_root() {
  if [[ "$(id -u)" -ne 0 ]]; then
    die "must run as root: the kubelet, containerd and runc manage cgroups, mounts and namespaces"
  fi
}
