#!/usr/bin/env bash
# Starts a single-node Kubernetes cluster on loopback for end-to-end tests and the demo:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd with runc, and the
# kubelet, each a host process whose PID is recorded under .cluster/pids.
#
#   hack/cluster-up.sh                      start (a no-op when the cluster already runs)
#   export KUBECONFIG=$PWD/.cluster/kubeconfig
#   hack/cluster-import.sh bin/ferry-image.tar
#   hack/cluster-down.sh                    stop everything and remove .cluster
#
# Limits, all deliberate: every address stays on 127.0.0.1. The CNI configuration contains only
# the loopback plugin, which makes the node Ready, so pods must set hostNetwork: true. A pod
# without it never gets a sandbox. There is no registry, so images come from tarballs imported
# with hack/cluster-import.sh and pods use imagePullPolicy Never or IfNotPresent.
#
# Needs root, the binaries of hack/kube-binaries.sh (built when missing), openssl, and
# containerd and runc from Debian (installed with apt-get when missing).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.sh"

require_root

# --- Already running? ----------------------------------------------------------------------
running=()
for name in "${components[@]}"; do
  if pid_of "${name}" >/dev/null; then
    running+=("${name}")
  fi
done
if [[ ${#running[@]} -eq ${#components[@]} ]]; then
  log "cluster already running (state in ${cluster_dir}); nothing to do"
  log "export KUBECONFIG=${kubeconfig}"
  exit 0
fi
if [[ -d "${cluster_dir}" ]]; then
  log "found partial or stale state in ${cluster_dir} (running: ${running[*]:-none}); cleaning it first"
  "$(dirname "${BASH_SOURCE[0]}")/cluster-down.sh"
fi

# --- Programs -------------------------------------------------------------------------------
missing_packages=()
command -v containerd >/dev/null || missing_packages+=(containerd)
command -v runc >/dev/null || missing_packages+=(runc)
if [[ ${#missing_packages[@]} -gt 0 ]]; then
  log "installing ${missing_packages[*]} with apt-get"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing_packages[@]}"; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing_packages[@]}"
  fi
fi
command -v openssl >/dev/null || die "openssl not found; install it with apt-get install -y openssl"

"${repo_root}/hack/kube-binaries.sh"
kube_bin="$("${repo_root}/hack/kube-binaries.sh" dir)"
kubectl=("${kube_bin}/kubectl" --kubeconfig "${kubeconfig}")

mkdir -p "${pid_dir}" "${log_dir}" "${pki_dir}" "${containerd_dir}" "${kubelet_dir}" \
  "${cluster_dir}/etcd" "${cluster_dir}/cni/net.d" "${cluster_dir}/images"
chmod 0700 "${cluster_dir}"
# A socket path over 107 bytes does not fit in sockaddr_un.
if [[ ${#containerd_socket} -gt 100 ]]; then
  die "containerd socket path ${containerd_socket} is too long for a Unix socket; set CLUSTER_DIR to a shorter path"
fi

# --- Certificates ----------------------------------------------------------------------------
# One CA signs the apiserver's serving certificate and a client certificate per component.
# The user names and groups are the ones the default RBAC roles and the Node authorizer expect.
openssl_quiet() { openssl "$@" 2>/dev/null; }

openssl_quiet req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=ferry-local-ca" \
  -keyout "${pki_dir}/ca.key" -out "${pki_dir}/ca.crt"

# issue_cert NAME SUBJECT [SAN]: a certificate NAME.crt/NAME.key signed by the CA.
issue_cert() {
  local name="$1" subject="$2" san="${3:-}"
  local ext="${pki_dir}/${name}.ext"
  if [[ -n "${san}" ]]; then
    printf 'extendedKeyUsage=serverAuth\nsubjectAltName=%s\n' "${san}" >"${ext}"
  else
    printf 'extendedKeyUsage=clientAuth\n' >"${ext}"
  fi
  openssl_quiet req -newkey rsa:2048 -nodes -subj "${subject}" \
    -keyout "${pki_dir}/${name}.key" -out "${pki_dir}/${name}.csr"
  openssl_quiet x509 -req -in "${pki_dir}/${name}.csr" -CA "${pki_dir}/ca.crt" -CAkey "${pki_dir}/ca.key" \
    -CAcreateserial -days 30 -extfile "${ext}" -out "${pki_dir}/${name}.crt"
  rm -f "${pki_dir}/${name}.csr" "${ext}"
}

issue_cert apiserver "/CN=kube-apiserver" "IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
issue_cert admin "/O=system:masters/CN=ferry-admin"
issue_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
issue_cert controller-manager "/CN=system:kube-controller-manager"
issue_cert scheduler "/CN=system:kube-scheduler"
issue_cert kubelet "/O=system:nodes/CN=system:node:${node_name}"
issue_cert kubelet-serving "/CN=${node_name}" "IP:127.0.0.1,DNS:${node_name}"
openssl_quiet genrsa -out "${pki_dir}/sa.key" 2048
openssl_quiet rsa -in "${pki_dir}/sa.key" -pubout -out "${pki_dir}/sa.pub"
log "created a CA and certificates in ${pki_dir}"

# write_kubeconfig FILE CERT_NAME
write_kubeconfig() {
  cat >"$1" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: ferry-local
  cluster:
    server: https://127.0.0.1:${apiserver_port}
    certificate-authority: ${pki_dir}/ca.crt
users:
- name: $2
  user:
    client-certificate: ${pki_dir}/$2.crt
    client-key: ${pki_dir}/$2.key
contexts:
- name: ferry-local
  context:
    cluster: ferry-local
    user: $2
current-context: ferry-local
KUBECONFIG
}
write_kubeconfig "${kubeconfig}" admin
write_kubeconfig "${cluster_dir}/controller-manager.kubeconfig" controller-manager
write_kubeconfig "${cluster_dir}/scheduler.kubeconfig" scheduler
write_kubeconfig "${cluster_dir}/kubelet.kubeconfig" kubelet

# --- Process helpers -------------------------------------------------------------------------
# start NAME COMMAND...: runs COMMAND in its own session with output in logs/NAME.log.
start() {
  local name="$1"
  shift
  setsid "$@" >"${log_dir}/${name}.log" 2>&1 </dev/null &
  echo $! >"${pid_dir}/${name}.pid"
  log "started ${name} (pid $!, log ${log_dir}/${name}.log)"
}

# wait_for NAME DESCRIPTION SECONDS COMMAND...: polls COMMAND until it succeeds, and fails with
# the tail of NAME's log when NAME exits or the time runs out.
wait_for() {
  local name="$1" what="$2" timeout="$3" deadline
  shift 3
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ! pid_of "${name}" >/dev/null; then
      tail -n 30 "${log_dir}/${name}.log" >&2 || true
      die "${name} exited before ${what}; see ${log_dir}/${name}.log"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "${log_dir}/${name}.log" >&2 || true
      die "${name}: no ${what} after ${timeout}s; see ${log_dir}/${name}.log"
    fi
    sleep 0.5
  done
}

# Record the host directories that this cluster is about to create, for cluster-down.
for path in "${host_paths[@]}"; do
  [[ -e "${path}" ]] || echo "${path}" >>"${created_host_paths_file}"
done

# --- containerd ------------------------------------------------------------------------------
# Its own root, state and socket under the cluster directory, so it never touches a containerd
# that the host runs. restrict_oom_score_adj keeps runc from raising OOM scores, which needs
# CAP_SYS_RESOURCE that a VM sandbox may lack; runc uses cgroupfs because the kubelet does.
cat >"${cluster_dir}/cni/net.d/99-loopback.conflist" <<'CNI'
{
  "cniVersion": "1.0.0",
  "name": "ferry-loopback",
  "plugins": [{ "type": "loopback" }]
}
CNI
cat >"${containerd_dir}/config.toml" <<TOML
version = 2
root = "${containerd_dir}/root"
state = "${containerd_dir}/state"

[grpc]
  address = "${containerd_socket}"

[ttrpc]
  address = "${containerd_socket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${pause_image}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${cluster_dir}/cni/net.d"
TOML
start containerd containerd --config "${containerd_dir}/config.toml"
wait_for containerd "socket" 30 ctr --address "${containerd_socket}" version

# The sandbox image must be there before the kubelet creates the first pod.
pause_dir="${cluster_dir}/images"
(cd "${repo_root}" && CGO_ENABLED=0 go build -trimpath -o "${pause_dir}/pause" ./hack/image/pause)
(cd "${repo_root}" && go run ./hack/image -o "${pause_dir}/pause.tar" -tag "${pause_image}" \
  -bin "${pause_dir}/pause" -ca-bundle "") >/dev/null
ctr --address "${containerd_socket}" -n k8s.io images import "${pause_dir}/pause.tar" >/dev/null
ctr --address "${containerd_socket}" -n k8s.io images label "${pause_image}" io.cri-containerd.pinned=pinned >/dev/null
log "imported sandbox image ${pause_image}"

# --- etcd ------------------------------------------------------------------------------------
start etcd "${kube_bin}/etcd" \
  --name ferry-local \
  --data-dir "${cluster_dir}/etcd" \
  --listen-client-urls "http://127.0.0.1:${etcd_client_port}" \
  --advertise-client-urls "http://127.0.0.1:${etcd_client_port}" \
  --listen-peer-urls "http://127.0.0.1:${etcd_peer_port}" \
  --initial-advertise-peer-urls "http://127.0.0.1:${etcd_peer_port}" \
  --initial-cluster "ferry-local=http://127.0.0.1:${etcd_peer_port}" \
  --unsafe-no-fsync
wait_for etcd "health" 30 curl -fsS "http://127.0.0.1:${etcd_client_port}/health"

# --- kube-apiserver --------------------------------------------------------------------------
# A loopback advertise address is accepted only without the endpoint reconciler, and the
# apiserver reaches the kubelet by node name because the kubelet has no usable node IP.
start kube-apiserver "${kube_bin}/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:${etcd_client_port}" \
  --bind-address 127.0.0.1 \
  --secure-port "${apiserver_port}" \
  --advertise-address 127.0.0.1 \
  --endpoint-reconciler-type none \
  --tls-cert-file "${pki_dir}/apiserver.crt" \
  --tls-private-key-file "${pki_dir}/apiserver.key" \
  --client-ca-file "${pki_dir}/ca.crt" \
  --kubelet-client-certificate "${pki_dir}/apiserver-kubelet-client.crt" \
  --kubelet-client-key "${pki_dir}/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority "${pki_dir}/ca.crt" \
  --kubelet-preferred-address-types Hostname \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "${pki_dir}/sa.pub" \
  --service-account-signing-key-file "${pki_dir}/sa.key" \
  --service-cluster-ip-range 10.96.0.0/24 \
  --authorization-mode Node,RBAC \
  --enable-admission-plugins NodeRestriction \
  --cert-dir "${cluster_dir}/apiserver-certs" \
  --profiling=false
wait_for kube-apiserver "readiness" 90 "${kubectl[@]}" get --raw /readyz

# --- kube-controller-manager and kube-scheduler ----------------------------------------------
start kube-controller-manager "${kube_bin}/kube-controller-manager" \
  --kubeconfig "${cluster_dir}/controller-manager.kubeconfig" \
  --authentication-kubeconfig "${cluster_dir}/controller-manager.kubeconfig" \
  --authorization-kubeconfig "${cluster_dir}/controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 \
  --secure-port "${controller_manager_port}" \
  --cert-dir "${cluster_dir}/controller-manager-certs" \
  --service-account-private-key-file "${pki_dir}/sa.key" \
  --root-ca-file "${pki_dir}/ca.crt" \
  --use-service-account-credentials \
  --leader-elect=false
start kube-scheduler "${kube_bin}/kube-scheduler" \
  --kubeconfig "${cluster_dir}/scheduler.kubeconfig" \
  --authentication-kubeconfig "${cluster_dir}/scheduler.kubeconfig" \
  --authorization-kubeconfig "${cluster_dir}/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 \
  --secure-port "${scheduler_port}" \
  --cert-dir "${cluster_dir}/scheduler-certs" \
  --leader-elect=false

# --- kubelet ---------------------------------------------------------------------------------
# The host mounts cgroup v1 hierarchies, which the kubelet rejects unless failCgroupV1 is false.
# Eviction thresholds are low so that a nearly full disk on a developer machine does not taint
# the node; this cluster is for tests, not for capacity planning.
cat >"${cluster_dir}/kubelet-config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: ${kubelet_port}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${kubelet_healthz_port}
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: ${pki_dir}/ca.crt
authorization:
  mode: Webhook
tlsCertFile: ${pki_dir}/kubelet-serving.crt
tlsPrivateKeyFile: ${pki_dir}/kubelet-serving.key
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://${containerd_socket}
podLogsDir: ${cluster_dir}/pod-logs
resolvConf: /etc/resolv.conf
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
YAML
start kubelet "${kube_bin}/kubelet" \
  --config "${cluster_dir}/kubelet-config.yaml" \
  --kubeconfig "${cluster_dir}/kubelet.kubeconfig" \
  --root-dir "${kubelet_dir}" \
  --hostname-override "${node_name}"

wait_for kubelet "node registration" 60 "${kubectl[@]}" get node "${node_name}"
wait_for kubelet "Ready node" 90 "${kubectl[@]}" wait --for=condition=Ready --timeout=5s node "${node_name}"
# Pods cannot be created until the controller-manager has made the default service account.
wait_for kube-controller-manager "default service account" 60 "${kubectl[@]}" get serviceaccount default -n default

log "cluster is up in ${SECONDS}s: node ${node_name} is Ready"
log "export KUBECONFIG=${kubeconfig}"
