#!/usr/bin/env bash
# Regenerates the stock kubeadm node trees under probes/controlplane/testdata
# from kubeadm's own code: kubeadm (integration/kubeadm/build.sh) writes its
# real files with `kubeadm init phase ... --rootfs`, in private mount and UTS
# namespaces so the node's hostname is the node name (as on a real node) and
# nothing outside the temporary root is touched. Needs root (unshare).
#
#   kubeadm-control-plane: certs, kubeconfigs, static pods, local etcd, kubelet-start
#   kubeadm-worker: what a joined worker keeps: the CA certificate, kubelet.conf
#                   and the kubelet's files
#
# The file modes kubeadm chose go to each tree's .modes (Git keeps none).
set -euo pipefail
cd "$(dirname "$0")/../.."

kubeadm=$(./integration/kubeadm/build.sh)
version=$("${kubeadm}" version -o short)
out=probes/controlplane/testdata
work=$(mktemp -d)
trap 'rm -rf "${work}"' EXIT

config() { # node-name
	cat <<-YAML
	apiVersion: kubeadm.k8s.io/v1beta4
	kind: InitConfiguration
	localAPIEndpoint:
	  advertiseAddress: 10.0.0.10
	  bindPort: 6443
	nodeRegistration:
	  name: $1
	  criSocket: unix:///run/containerd/containerd.sock
	---
	apiVersion: kubeadm.k8s.io/v1beta4
	kind: ClusterConfiguration
	kubernetesVersion: ${version}
	controlPlaneEndpoint: 10.0.0.10:6443
	networking:
	  podSubnet: 10.244.0.0/16
	  serviceSubnet: 10.96.0.0/12
	YAML
}

phases() { # rootfs node-name phase...
	local root=$1 node=$2
	shift 2
	# A host has /etc and /var/lib already, at 0755.
	install -d -m 0755 "${root}/etc" "${root}/var" "${root}/var/lib"
	config "${node}" >"${root}/kubeadm.yaml"
	for ph in "$@"; do
		# shellcheck disable=SC2086,SC2016 # a phase is words; $1 expands in the inner sh
		unshare --mount --uts sh -c 'hostname "$1"; shift; exec "$@"' sh "${node}" \
			"${kubeadm}" init phase ${ph} --rootfs "${root}" --config /kubeadm.yaml >/dev/null
	done
	rm "${root}/kubeadm.yaml"
}

modes() { # tree
	{
		echo "# Written by integration/kubeadm/tree.sh: the modes kubeadm ${version} gave its"
		echo "# files (all root:root). path mode [uid:gid]; see probetest.ModesFile"
		(cd "$1" && find etc var -mindepth 1 -printf '%P\n' | sort | while read -r p; do
			for top in etc var; do [[ -e ${top}/${p} ]] && printf '%s %04o\n' "${top}/${p}" "0$(stat -c %a "${top}/${p}")"; done
		done)
	} | awk '!seen[$0]++' >"$1/.modes"
}

cp_root=${work}/control-plane
phases "${cp_root}" cp-1 "certs all" "kubeconfig all" "control-plane all" "etcd local" "kubelet-start"

w_root=${work}/worker
phases "${w_root}" worker-1 "certs ca" "kubeconfig kubelet" "kubelet-start"
# A worker receives the CA certificate on join, never its key.
rm "${w_root}/etc/kubernetes/pki/ca.key"

for t in control-plane worker; do
	dst=${out}/kubeadm-${t}
	rm -rf "${dst}"
	cp -a "${work}/${t}" "${dst}"
	# Git keeps no empty directory: mark the ones kubeadm made.
	find "${dst}" -mindepth 1 -type d -empty -exec touch {}/.keep \;
	modes "${dst}"
	sed -i '/\/\.keep /d' "${dst}/.modes"
done
echo "tree.sh: wrote ${out}/kubeadm-control-plane and ${out}/kubeadm-worker (kubeadm ${version})" >&2
