#!/usr/bin/env bash
# Builds kube-apiserver and etcd from the Go module proxy for the integration
# tests (no release tarballs are reachable here) and caches them so only the
# first run pays. Prints the directory holding the binaries on stdout.
#
#   KUBE_VERSION  k8s.io/kubernetes release (default v1.37.2, matching client-go v0.37.x)
#   ETCD_VERSION  go.etcd.io/etcd/server/v3 release (default: the one that release requires)
#   NODEGUARD_KUBE_CACHE  output directory (default $HOME/.cache/nodeguard/kube-$KUBE_VERSION)
set -euo pipefail

kube_version=${KUBE_VERSION:-v1.37.2}
cache=${NODEGUARD_KUBE_CACHE:-${HOME}/.cache/nodeguard/kube-${kube_version}}

if [[ -x ${cache}/kube-apiserver && -x ${cache}/etcd ]]; then
	echo "${cache}"
	exit 0
fi

log() { echo "build.sh: $*" >&2; }

# Staging modules are published as v0.<minor>.<patch> for release v1.<minor>.<patch>.
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

# k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them
# with ./staging paths that do not exist in the module zip; point each one it
# requires at the published tag instead.
mapfile -t staging < <(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" {print $1}' "${kube_gomod}" | sort -u)
etcd_version=${ETCD_VERSION:-$(awk '$1 == "go.etcd.io/etcd/server/v3" {print $2; exit}' "${kube_gomod}")}

mkdir -p "${work}/kube" "${work}/etcd" "${cache}.partial"

log "building kube-apiserver ${kube_version} (${#staging[@]} staging modules at ${staging_version})"
(
	cd "${work}/kube"
	go mod init nodeguard.test/kubebuild >/dev/null 2>&1
	go mod edit -require "k8s.io/kubernetes@${kube_version}"
	for m in "${staging[@]}"; do
		go mod edit -replace "${m}=${m}@${staging_version}"
	done
	minor=${kube_version#v1.}
	minor=${minor%%.*}
	pkg=k8s.io/component-base/version
	ldflags="-s -w -X ${pkg}.gitVersion=${kube_version} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor} -X ${pkg}.gitTreeState=clean"
	go build -mod=mod -trimpath -ldflags "${ldflags}" -o "${cache}.partial/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
)

log "building etcd ${etcd_version}"
(
	cd "${work}/etcd"
	go mod init nodeguard.test/etcdbuild >/dev/null 2>&1
	go mod edit -require "go.etcd.io/etcd/server/v3@${etcd_version}"
	go build -mod=mod -trimpath -ldflags "-s -w" -o "${cache}.partial/etcd" go.etcd.io/etcd/server/v3
)

# Publish both binaries at once so a killed build never leaves half a cache.
rm -rf "${cache}"
mv "${cache}.partial" "${cache}"
log "done: ${cache}"
echo "${cache}"
