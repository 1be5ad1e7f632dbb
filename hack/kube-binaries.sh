#!/usr/bin/env bash
# Builds the Kubernetes binaries that envtest and the local cluster run, from the Go module
# proxy, into one directory:
#
#   kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl  (hack/kube module)
#   etcd                                                                    (hack/etcd module)
#
# Usage: hack/kube-binaries.sh [NAME...]     (no NAME builds all six)
#        hack/kube-binaries.sh dir           (prints the output directory)
#
# A binary whose file already exists is skipped, so a second run takes no time; delete the file
# to rebuild it. The output directory is where setup-envtest keeps its assets, so controller-
# runtime's envtest finds kube-apiserver, etcd and kubectl there through KUBEBUILDER_ASSETS.
#
# Environment:
#   KUBE_BIN_DIR   output directory
#                  (default: ~/.local/share/kubebuilder-envtest/k8s/<version>-linux-<arch>)
set -euo pipefail

hack_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
all_binaries=(kube-apiserver kubectl etcd kube-controller-manager kube-scheduler kubelet)

# The release comes from hack/kube/go.mod, so the directory name always matches what is built.
kube_version="$(sed -n 's/^[[:space:]]*k8s\.io\/kubernetes \(v[0-9.]*\)$/\1/p' "${hack_dir}/kube/go.mod")"
if [[ -z "${kube_version}" ]]; then
  echo "kube-binaries.sh: no k8s.io/kubernetes version in hack/kube/go.mod; run hack/kube/gen-gomod.sh" >&2
  exit 1
fi
goarch="$(go env GOARCH)"
bin_dir="${KUBE_BIN_DIR:-${HOME}/.local/share/kubebuilder-envtest/k8s/${kube_version#v}-linux-${goarch}}"

if [[ "${1:-}" == "dir" ]]; then
  echo "${bin_dir}"
  exit 0
fi

# version_ldflags stamps k8s.io/component-base/version like a release build does: without it
# the apiserver reports v0.0.0-master and `kubectl version` fails on the skew check. The build
# date is the release tag's commit time from the module proxy, so rebuilds are reproducible.
version_ldflags() {
  local info build_date minor
  info="$(cd "${hack_dir}/kube" && go mod download -json "k8s.io/kubernetes@${kube_version}" | sed -n 's/^[[:space:]]*"Info": "\(.*\)",$/\1/p')"
  build_date="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "${info}")"
  minor="${kube_version#v1.}"
  minor="${minor%%.*}"
  local pkg=k8s.io/component-base/version
  echo "-s -w -X ${pkg}.gitVersion=${kube_version} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}" \
    "-X ${pkg}.gitTreeState=clean -X ${pkg}.gitCommit= -X ${pkg}.buildDate=${build_date}"
}

build_one() {
  local name="$1" module_dir ldflags start
  case "${name}" in
    etcd)
      module_dir="${hack_dir}/etcd"
      ldflags="-s -w"
      ;;
    kube-apiserver | kube-controller-manager | kube-scheduler | kubelet | kubectl)
      module_dir="${hack_dir}/kube"
      ldflags="$(version_ldflags)"
      ;;
    *)
      echo "kube-binaries.sh: unknown binary ${name}; choose from: ${all_binaries[*]}" >&2
      return 2
      ;;
  esac
  if [[ -x "${bin_dir}/${name}" ]]; then
    echo "kube-binaries.sh: ${name}: already built at ${bin_dir}/${name}, skipped"
    return 0
  fi
  mkdir -p "${bin_dir}"
  echo "kube-binaries.sh: ${name}: building from ${module_dir#"${hack_dir}/"} ..."
  start="${SECONDS}"
  # Build into a temporary name and rename, so an interrupted build never leaves a file that
  # the next run would skip.
  (cd "${module_dir}" && CGO_ENABLED=0 go build -trimpath -ldflags "${ldflags}" \
    -o "${bin_dir}/.${name}.tmp" "./cmd/${name}")
  mv "${bin_dir}/.${name}.tmp" "${bin_dir}/${name}"
  echo "kube-binaries.sh: ${name}: built ${bin_dir}/${name} in $((SECONDS - start))s"
}

if [[ $# -eq 0 ]]; then
  set -- "${all_binaries[@]}"
fi
for name in "$@"; do
  build_one "${name}"
done
