#!/usr/bin/env bash
# Builds kubeadm from the Go module proxy at the k8s.io/kubernetes release the
# integration tests use (integration/kubeenv/build.sh) and caches it, so only
# the first run pays. Prints the binary's path on stdout.
#
#   KUBE_VERSION  k8s.io/kubernetes release (default v1.37.2, as integration/kubeenv/build.sh)
#   NODEGUARD_KUBEADM_CACHE  output directory (default $HOME/.cache/nodeguard/kubeadm-$KUBE_VERSION)
set -euo pipefail

kube_version=${KUBE_VERSION:-v1.37.2}
cache=${NODEGUARD_KUBEADM_CACHE:-${HOME}/.cache/nodeguard/kubeadm-${kube_version}}

if [[ -x ${cache}/kubeadm ]]; then
	echo "${cache}/kubeadm"
	exit 0
fi

log() { echo "kubeadm/build.sh: $*" >&2; }

staging_version=v0.${kube_version#v1.}
work=$(mktemp -d)
trap 'rm -rf "${work}"' EXIT
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOWORK=off

kube_gomod=$(go mod download -json "k8s.io/kubernetes@${kube_version}" |
	sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
if [[ ! -f ${kube_gomod} ]]; then
	log "cannot download k8s.io/kubernetes@${kube_version}"
	exit 1
fi
# As in integration/kubeenv/build.sh: staging modules at their published tags.
mapfile -t staging < <(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" {print $1}' "${kube_gomod}" | sort -u)

log "building kubeadm ${kube_version}"
mkdir -p "${cache}.partial"
(
	cd "${work}"
	go mod init nodeguard.test/kubeadmbuild >/dev/null 2>&1
	go mod edit -require "k8s.io/kubernetes@${kube_version}"
	for m in "${staging[@]}"; do
		go mod edit -replace "${m}=${m}@${staging_version}"
	done
	minor=${kube_version#v1.}
	minor=${minor%%.*}
	pkg=k8s.io/component-base/version
	ldflags="-s -w -X ${pkg}.gitVersion=${kube_version} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor} -X ${pkg}.gitTreeState=clean"
	go build -mod=mod -trimpath -ldflags "${ldflags}" -o "${cache}.partial/kubeadm" k8s.io/kubernetes/cmd/kubeadm
)
rm -rf "${cache}"
mv "${cache}.partial" "${cache}"
log "done: ${cache}/kubeadm"
echo "${cache}/kubeadm"
