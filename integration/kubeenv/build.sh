#!/usr/bin/env bash
# Builds Kubernetes binaries from the Go module proxy for the integration
# tests (no release tarballs are reachable here) and caches them so only the
# first run pays. Prints the directory holding the binaries on stdout.
#
#   build.sh                 kube-apiserver and etcd (integration/kubeenv)
#   build.sh node            also kubelet, kube-controller-manager,
#                            kube-scheduler and kubectl (integration/clusterbox)
#   build.sh kubeadm         also kubeadm (integration/kubeadm)
#
#   KUBE_VERSION  k8s.io/kubernetes release (default v1.37.2, matching client-go v0.37.x)
#   ETCD_VERSION  go.etcd.io/etcd/server/v3 release (default: the one that release requires)
#   NODEGUARD_KUBE_CACHE  output directory (default $HOME/.cache/nodeguard/kube-$KUBE_VERSION)
set -euo pipefail

kube_version=${KUBE_VERSION:-v1.37.2}
cache=${NODEGUARD_KUBE_CACHE:-${HOME}/.cache/nodeguard/kube-${kube_version}}

kube_cmds=(kube-apiserver)
for group in "$@"; do
	case ${group} in
	node) kube_cmds+=(kubelet kube-controller-manager kube-scheduler kubectl) ;;
	kubeadm) kube_cmds+=(kubeadm) ;;
	*)
		echo "build.sh: unknown group ${group} (want node or kubeadm)" >&2
		exit 2
		;;
	esac
done

# Only what is missing is built, so adding "node" later reuses the apiserver.
missing=()
for b in "${kube_cmds[@]}"; do
	[[ -x ${cache}/${b} ]] || missing+=("${b}")
done
need_etcd=true
[[ -x ${cache}/etcd ]] && need_etcd=false
if [[ ${#missing[@]} -eq 0 && ${need_etcd} == false ]]; then
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

mkdir -p "${work}/kube" "${work}/etcd" "${work}/out" "${cache}"

if [[ ${#missing[@]} -gt 0 ]]; then
	log "building ${missing[*]} ${kube_version} (${#staging[@]} staging modules at ${staging_version})"
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
		# kubectl lives in its staging module, the rest in k8s.io/kubernetes/cmd.
		pkgs=()
		for b in "${missing[@]}"; do
			case ${b} in
			kubectl) pkgs+=(k8s.io/kubernetes/cmd/kubectl) ;;
			*) pkgs+=("k8s.io/kubernetes/cmd/${b}") ;;
			esac
		done
		go build -mod=mod -trimpath -ldflags "${ldflags}" -o "${work}/out/" "${pkgs[@]}"
	)
fi

if [[ ${need_etcd} == true ]]; then
	log "building etcd ${etcd_version}"
	(
		cd "${work}/etcd"
		go mod init nodeguard.test/etcdbuild >/dev/null 2>&1
		go mod edit -require "go.etcd.io/etcd/server/v3@${etcd_version}"
		go build -mod=mod -trimpath -ldflags "-s -w" -o "${work}/out/etcd" go.etcd.io/etcd/server/v3
	)
fi

# Publish each binary with a rename only once all are built, so a killed
# build never leaves a half-written binary in the cache.
for f in "${work}"/out/*; do
	mv "${f}" "${cache}/$(basename "${f}")"
done
log "done: ${cache}"
echo "${cache}"
