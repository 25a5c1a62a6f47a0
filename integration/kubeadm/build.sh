#!/usr/bin/env bash
# Prints the path of kubeadm built from the Go module proxy at the
# k8s.io/kubernetes release the integration tests use, cached beside the other
# Kubernetes binaries by integration/kubeenv/build.sh (only the first run
# builds). KUBE_VERSION and NODEGUARD_KUBE_CACHE are that script's.
set -euo pipefail
dir=$("$(dirname "$0")/../kubeenv/build.sh" kubeadm)
echo "${dir}/kubeadm"
