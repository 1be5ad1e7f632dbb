#!/usr/bin/env bash
# Imports image tarballs (docker save or OCI archives, for example from hack/image) into the
# local cluster's containerd, where pods with imagePullPolicy Never or IfNotPresent find them.
#
#   hack/cluster-import.sh bin/ferry-image.tar [more.tar...]
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.sh"

require_root
[[ $# -gt 0 ]] || die "usage: cluster-import.sh IMAGE.tar..."
pid_of containerd >/dev/null || die "the local cluster is not running; start it with make cluster-up"

for tarball in "$@"; do
  [[ -f "${tarball}" ]] || die "image tarball ${tarball} does not exist"
  ctr --address "${containerd_socket}" -n k8s.io images import "${tarball}" >/dev/null
  log "imported ${tarball}"
done
