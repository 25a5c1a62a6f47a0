#!/bin/sh
# Agent-level figures: peak RSS under a 200,000-event storm, and listen() to
# nodeguard_listening_port latency. Needs root, python3, curl.
set -eu
# Build first: go build -o /tmp/ng-runtime ./cmd/nodeguard-agent && go test -c -o /tmp/rt.test ./agent/anomaly
NG=${NG:-/tmp/ng-runtime}; RT=${RT:-/tmp/rt.test}; M=http://127.0.0.1:19809/metrics
$NG run --listen 127.0.0.1:19809 --interval 1h 2>/dev/null & agent=$!
trap 'kill $agent' EXIT
until curl -sf http://127.0.0.1:19809/readyz >/dev/null; do sleep 0.2; done # programs loaded
sleep 3
echo "RSS idle: $(grep VmRSS /proc/$agent/status)"
NODEGUARD_STORM_HELPER=200000 $RT -test.run '^$'
sleep 3
echo "after storm: $(grep VmHWM /proc/$agent/status) $(grep VmRSS /proc/$agent/status)"
curl -s $M | grep -E '^nodeguard_(bpf_events_lost_total|runtime_events_total)'
python3 - <<'PY'
import socket, time, urllib.request
lat = []
for i in range(10):
    s = socket.socket(); s.bind(("0.0.0.0", 0)); t0 = time.time(); s.listen(1)
    port = s.getsockname()[1]
    while f'port="{port}"' not in urllib.request.urlopen("http://127.0.0.1:19809/metrics").read().decode():
        time.sleep(0.01)
    lat.append(time.time() - t0); s.close(); time.sleep(0.3)
print("listen->nodeguard_listening_port: max %.3fs median %.3fs" % (max(lat), sorted(lat)[5]))
PY
