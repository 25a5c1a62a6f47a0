#!/usr/bin/env bash
# Checks nodeguard running as the systemd service (integration/vagrant). Runs
# as root in the VM; assert-lib.sh is the kind test's.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../kind/assert-lib.sh
. "$here/assert-lib.sh"

metrics_url=http://127.0.0.1:9809/metrics
listener=nodeguard-e2e-forbidden-port

prop() { systemctl show -P "$1" nodeguard.service; }

cleanup() { systemctl stop "$listener" 2>/dev/null || true; }
trap cleanup EXIT

log "service state"
[ "$(prop ActiveState)" = active ] || fail "nodeguard.service is $(prop ActiveState)/$(prop SubState)"
[ "$(prop Type)" = notify ] || fail "Type=$(prop Type), want notify"
# A Type=notify service is only active after READY=1; the agent's STATUS= says
# what the last scan found.
[[ "$(prop StatusText)" == "last scan "* ]] || fail "StatusText '$(prop StatusText)': no scan status from sd_notify"
[ "$(prop WatchdogUSec)" != 0 ] || fail "the watchdog is off"
[ "$(prop NRestarts)" = 0 ] || fail "the agent restarted $(prop NRestarts) times (watchdog or crash)"
systemd-analyze security nodeguard.service | tail -n 1

metrics() { curl -fsS --max-time 10 "$metrics_url"; }
metrics | scan_published || fail "/metrics has no published scan"
body=$(metrics)
if forbidden_port_open <<<"$body"; then
  fail "port $FORBIDDEN_PORT reported open before the test opened it"
fi

log "opening the forbidden port $FORBIDDEN_PORT"
# systemd-socket-activate ships with systemd: it listens and does nothing more.
systemd-run --unit="$listener" --quiet /usr/bin/systemd-socket-activate -l "$FORBIDDEN_PORT" /bin/cat
listening() { ss -Hltn "sport = :$FORBIDDEN_PORT" | grep -q .; }
retry 30 listening || fail "the listener did not open port $FORBIDDEN_PORT"
# A restart rescans at once, and returns only after READY=1 (the new scan).
systemctl restart nodeguard.service
metrics | forbidden_port_open || fail "nodeguard_listening_port does not report port $FORBIDDEN_PORT"

log "closing it again"
systemctl stop "$listener"
systemctl restart nodeguard.service
body=$(metrics)
if forbidden_port_open <<<"$body"; then
  fail "port $FORBIDDEN_PORT still reported after the listener ended"
fi
log "PASS"
