#!/usr/bin/env bash
# End-to-end test on a kind cluster (cluster.yaml: one control plane, two
# workers): build the image, load it into the nodes, apply the manifests,
# wait for the DaemonSet and the node conditions, check /metrics, then open
# the forbidden kubelet read-only port on a worker and see the agent report
# it (metric and UnexpectedOpenPorts condition) and clear it once closed.
#
# Needs docker, kind and kubectl. KEEP_CLUSTER=1 leaves the cluster running;
# KIND_CLUSTER names it (default nodeguard-e2e).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=assert-lib.sh
. "$here/assert-lib.sh"

cluster=${KIND_CLUSTER:-nodeguard-e2e}
# The tag the overlay (overlay/kustomization.yaml) deploys.
image=nodeguard/nodeguard:kind-e2e
ns=nodeguard
kubectl=(kubectl --context "kind-$cluster")

for tool in docker kind kubectl curl; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done

pf_pid=""
cleanup() {
  [ -n "$pf_pid" ] && kill "$pf_pid" 2>/dev/null
  "${kubectl[@]}" delete pod -n default nodeguard-e2e-forbidden-port --ignore-not-found --wait=false >/dev/null 2>&1 || true
  if [ "${KEEP_CLUSTER:-}" != 1 ]; then
    kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

log "building $image"
docker build -t "$image" \
  --build-arg VERSION="$(git -C "$repo" describe --tags --always --dirty 2>/dev/null || echo dev)" \
  --build-arg REVISION="$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)" \
  --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  "$repo"

if ! kind get clusters | grep -qx "$cluster"; then
  log "creating kind cluster $cluster"
  kind create cluster --name "$cluster" --config "$here/cluster.yaml" --wait 5m
fi
kind load docker-image --name "$cluster" "$image"

log "installing the prometheus-operator CRDs the base refers to"
"${kubectl[@]}" apply --server-side -f "$repo/manifests/testdata/crds/"
"${kubectl[@]}" wait --for condition=established --timeout=60s \
  crd/servicemonitors.monitoring.coreos.com crd/prometheusrules.monitoring.coreos.com

log "applying the manifests (kustomize base + overlay)"
"${kubectl[@]}" apply -k "$here/overlay"
"${kubectl[@]}" rollout status -n "$ns" daemonset/nodeguard --timeout=5m

nodes=$("${kubectl[@]}" get nodes -o jsonpath='{.items[*].metadata.name}')
read -r -a node_list <<<"$nodes"
[ "${#node_list[@]}" -eq 3 ] || fail "expected 3 nodes, got: $nodes"
ready=$("${kubectl[@]}" get daemonset -n "$ns" nodeguard -o jsonpath='{.status.numberReady}')
[ "$ready" -eq 3 ] || fail "$ready of 3 agents ready"

condition() { # NODE TYPE -> status of that condition, empty when absent
  "${kubectl[@]}" get node "$1" -o jsonpath="{.status.conditions[?(@.type==\"$2\")].status}"
}
has_conditions() {
  local t
  for t in UnexpectedOpenPorts InsecureRemoteAccess InsecureKubeletConfig KernelHardeningViolation; do
    [ -n "$(condition "$1" "$t")" ] || return 1
  done
}
for n in "${node_list[@]}"; do
  log "waiting for the agent's conditions on $n"
  retry 180 has_conditions "$n" || fail "node $n has no nodeguard conditions"
done

# The metrics endpoint as the manifests configure it: HTTP or HTTPS (the
# scheme the kubelet's probes use on the same port; the certificate may be
# self-signed, hence curl -k), and with --metrics-auth=kubernetes only for
# tokens the API server allows to get /metrics.
args=$("${kubectl[@]}" get daemonset -n "$ns" nodeguard -o jsonpath='{.spec.template.spec.containers[0].args}')
scheme=$("${kubectl[@]}" get daemonset -n "$ns" nodeguard -o jsonpath='{.spec.template.spec.containers[0].livenessProbe.httpGet.scheme}')
scheme=$(tr '[:upper:]' '[:lower:]' <<<"${scheme:-HTTP}")
auth=()
if [[ "$args" == *--metrics-auth=kubernetes* ]]; then
  log "metrics need a token: a service account allowed to get /metrics"
  "${kubectl[@]}" create serviceaccount -n "$ns" nodeguard-e2e-scraper --dry-run=client -o yaml | "${kubectl[@]}" apply -f -
  "${kubectl[@]}" create clusterrole nodeguard-e2e-metrics --verb=get --non-resource-url=/metrics --dry-run=client -o yaml | "${kubectl[@]}" apply -f -
  "${kubectl[@]}" create clusterrolebinding nodeguard-e2e-metrics --clusterrole=nodeguard-e2e-metrics \
    --serviceaccount="$ns:nodeguard-e2e-scraper" --dry-run=client -o yaml | "${kubectl[@]}" apply -f -
  auth=(-H "Authorization: Bearer $("${kubectl[@]}" create token -n "$ns" nodeguard-e2e-scraper)")
fi

target=$("${kubectl[@]}" get nodes -l '!node-role.kubernetes.io/control-plane' -o jsonpath='{.items[0].metadata.name}')
pod=$("${kubectl[@]}" get pods -n "$ns" -l app.kubernetes.io/name=nodeguard --field-selector "spec.nodeName=$target" -o jsonpath='{.items[0].metadata.name}')
[ -n "$pod" ] || fail "no agent pod on $target"
agent_port=$("${kubectl[@]}" get daemonset -n "$ns" nodeguard -o jsonpath='{.spec.template.spec.containers[0].ports[?(@.name=="metrics")].containerPort}')
port=$((20000 + RANDOM % 10000))
"${kubectl[@]}" port-forward -n "$ns" "pod/$pod" "$port:$agent_port" >/dev/null &
pf_pid=$!
metrics() { curl -fsSk --max-time 10 "${auth[@]}" "$scheme://127.0.0.1:$port/metrics"; }
metrics_ok() { metrics | scan_published; }
log "checking /metrics of $pod on $target"
retry 60 metrics_ok || fail "$pod: /metrics has no published scan"
if [ ${#auth[@]} -gt 0 ]; then
  code=$(curl -sk -o /dev/null -w '%{http_code}' --max-time 10 "$scheme://127.0.0.1:$port/metrics")
  [ "$code" = 401 ] || fail "/metrics without a token answered $code, want 401"
fi
body=$(metrics) || fail "$pod: /metrics failed"
if forbidden_port_open <<<"$body"; then
  fail "$target reports port $FORBIDDEN_PORT open before the test opened it"
fi

log "opening the forbidden port $FORBIDDEN_PORT on $target"
sed "s/NODE/$target/" "$here/forbidden-port-pod.yaml" | "${kubectl[@]}" apply -f -
"${kubectl[@]}" wait -n default --for=condition=Ready pod/nodeguard-e2e-forbidden-port --timeout=3m
port_reported() { metrics | forbidden_port_open; }
retry 120 port_reported || fail "$target: nodeguard_listening_port does not report $FORBIDDEN_PORT"
open_condition() { [ "$(condition "$target" UnexpectedOpenPorts)" = True ]; }
retry 120 open_condition || fail "$target: UnexpectedOpenPorts is not True"

log "closing it again"
"${kubectl[@]}" delete pod -n default nodeguard-e2e-forbidden-port --wait=true --timeout=2m
port_gone() {
  local b
  b=$(metrics) || return 1
  ! forbidden_port_open <<<"$b"
}
retry 120 port_gone || fail "$target: port $FORBIDDEN_PORT still reported after the listener ended"

log "PASS"
