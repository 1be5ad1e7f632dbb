#!/usr/bin/env bash
# Stops the local cluster that hack/cluster-up.sh started and removes its state, so that the
# next cluster-up starts clean. Processes are stopped by the PIDs recorded under .cluster/pids,
# never by name, because other programs on the host may run the same binaries. Safe to run
# when nothing runs.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.sh"

require_root

if [[ ! -d "${cluster_dir}" ]]; then
  log "no cluster state in ${cluster_dir}; nothing to do"
  exit 0
fi

# stop NAME: SIGTERM, then SIGKILL after 20 seconds, to the process group cluster-up created.
stop() {
  local name="$1" pid
  if ! pid="$(pid_of "${name}")"; then
    rm -f "${pid_dir}/${name}.pid"
    return 0
  fi
  kill -TERM -- "-${pid}" 2>/dev/null || kill -TERM "${pid}" 2>/dev/null || true
  for _ in $(seq 1 40); do
    kill -0 "${pid}" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "${pid}" 2>/dev/null; then
    kill -KILL -- "-${pid}" 2>/dev/null || kill -KILL "${pid}" 2>/dev/null || true
    log "stopped ${name} (pid ${pid}) with SIGKILL after 20s"
  else
    log "stopped ${name} (pid ${pid})"
  fi
  rm -f "${pid_dir}/${name}.pid"
}

# Stop the kubelet first so that it does not restart the containers removed below.
stop kubelet

# Remove every container and sandbox while containerd still runs, so that their runc shims
# exit and their mounts are released.
ctr_cmd=(ctr --address "${containerd_socket}" -n k8s.io)
if pid_of containerd >/dev/null && command -v ctr >/dev/null; then
  removed=0
  for task in $("${ctr_cmd[@]}" tasks ls -q 2>/dev/null); do
    "${ctr_cmd[@]}" tasks kill -s SIGKILL "${task}" >/dev/null 2>&1 || true
  done
  for task in $("${ctr_cmd[@]}" tasks ls -q 2>/dev/null); do
    for _ in $(seq 1 20); do
      "${ctr_cmd[@]}" tasks delete "${task}" >/dev/null 2>&1 && break
      sleep 0.5
    done
  done
  for container in $("${ctr_cmd[@]}" containers ls -q 2>/dev/null); do
    "${ctr_cmd[@]}" containers delete "${container}" >/dev/null 2>&1 && removed=$((removed + 1))
  done
  log "removed ${removed} containers"
fi

for ((i = ${#components[@]} - 1; i >= 0; i--)); do
  [[ "${components[i]}" == kubelet ]] && continue
  stop "${components[i]}"
done

# A shim whose container could not be deleted outlives containerd. Each shim names our socket
# on its command line, which identifies it without matching other containerd instances.
for cmdline in /proc/[0-9]*/cmdline; do
  pid="${cmdline#/proc/}"
  pid="${pid%/cmdline}"
  # The process may exit between the glob and the read, so read errors are expected.
  if { tr '\0' ' ' <"${cmdline}"; } 2>/dev/null | grep -qF -- "-address ${containerd_socket} "; then
    kill -KILL "${pid}" 2>/dev/null && log "killed leftover containerd shim (pid ${pid})"
  fi
done

# Unmount what the kubelet and containerd left mounted under the state directory (volume
# tmpfs, container root filesystems, sandbox /dev/shm), deepest first, before deleting it.
mapfile -t mounts < <(awk -v dir="${cluster_dir}/" 'index($5, dir) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
for mount_point in "${mounts[@]}"; do
  umount "${mount_point}" 2>/dev/null || umount -l "${mount_point}" || true
done
[[ ${#mounts[@]} -eq 0 ]] || log "unmounted ${#mounts[@]} mounts under ${cluster_dir}"

# The kubelet creates cgroups for pods (kubepods/...) in every v1 hierarchy; remove the empty
# ones, deepest first, so the next cluster-up starts from the same cgroup tree.
removed_cgroups=0
for hierarchy in /sys/fs/cgroup/*/; do
  [[ -d "${hierarchy}kubepods" ]] || continue
  while IFS= read -r cgroup; do
    rmdir "${cgroup}" 2>/dev/null && removed_cgroups=$((removed_cgroups + 1))
  done < <(find "${hierarchy}kubepods" -depth -type d)
done
[[ ${removed_cgroups} -eq 0 ]] || log "removed ${removed_cgroups} empty pod cgroups"

# Remove the host directories that cluster-up found missing, and no other path: each line of
# the list must be one of host_paths.
if [[ -f "${created_host_paths_file}" ]]; then
  while IFS= read -r path; do
    for allowed in "${host_paths[@]}"; do
      if [[ "${path}" == "${allowed}" ]]; then
        rm -rf "${path}"
        log "removed ${path}"
      fi
    done
  done <"${created_host_paths_file}"
fi

rm -rf "${cluster_dir}"
log "removed ${cluster_dir}"
