#!/usr/bin/env bash
# Builds the helm CLI from helm.sh/helm/v4 (the version pinned by the tool directive in
# hack/helm/go.mod) into ./bin/helm, so the chart tests need no release download.
#
# Usage: hack/helm/build.sh            (builds bin/helm unless it already exists)
#        hack/helm/build.sh path       (prints the path of the binary)
#
# This is a module of its own so that Helm's dependencies never enter the main go.mod.
# Environment:
#   HELM   output file (default: <repository>/bin/helm)
set -euo pipefail

module_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_dir="$(cd "${module_dir}/../.." && pwd)"
# An absolute path, because the build below runs in the module's directory.
out="$(realpath -m "${HELM:-${repo_dir}/bin/helm}")"

if [[ "${1:-}" == "path" ]]; then
  echo "${out}"
  exit 0
fi
if [[ -x "${out}" ]]; then
  echo "hack/helm/build.sh: already built at ${out}, skipped (delete it to rebuild)"
  exit 0
fi

cd "${module_dir}"
version="$(go list -m -f '{{.Version}}' helm.sh/helm/v4)"
# Stamp the version the way Helm's own release build does; without it `helm version`
# prints only the minor release.
pkg=helm.sh/helm/v4/internal/version
ldflags="-s -w -X ${pkg}.version=${version} -X ${pkg}.metadata= -X ${pkg}.gitTreeState=clean"

mkdir -p "$(dirname "${out}")"
echo "hack/helm/build.sh: building helm ${version} into ${out} ..."
start="${SECONDS}"
# Build into a temporary name and rename, so an interrupted build never leaves a file that the
# next run would skip.
CGO_ENABLED=0 nice go build -trimpath -ldflags "${ldflags}" -o "${out}.tmp" helm.sh/helm/v4/cmd/helm
mv "${out}.tmp" "${out}"
echo "hack/helm/build.sh: built ${out} in $((SECONDS - start))s"
