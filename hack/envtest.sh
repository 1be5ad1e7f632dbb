#!/usr/bin/env bash
# Provides the three binaries that controller-runtime's envtest starts (kube-apiserver, etcd,
# kubectl) without setup-envtest, which needs a download site this network cannot reach. They
# are built from the Go module proxy by hack/kube-binaries.sh into the directory setup-envtest
# would use; a binary already there is reused.
#
# Usage: hack/envtest.sh         builds what is missing, reports each step, prints the directory
#        hack/envtest.sh path    the same, but prints only the directory on stdout, for
#                                export KUBEBUILDER_ASSETS="$(hack/envtest.sh path)"
set -euo pipefail

hack_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

case "${1:-}" in
  "")
    "${hack_dir}/kube-binaries.sh" kube-apiserver etcd kubectl
    echo "KUBEBUILDER_ASSETS=$("${hack_dir}/kube-binaries.sh" dir)"
    ;;
  path)
    "${hack_dir}/kube-binaries.sh" kube-apiserver etcd kubectl >&2
    "${hack_dir}/kube-binaries.sh" dir
    ;;
  *)
    echo "envtest.sh: unknown argument ${1}; use no argument or \"path\"" >&2
    exit 2
    ;;
esac
