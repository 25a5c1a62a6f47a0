#!/usr/bin/env bash
# Installs the binaries and the unit the Vagrantfile copied to /tmp/nodeguard-e2e
# and starts the service. Runs as root in the VM.
set -euo pipefail
src=/tmp/nodeguard-e2e

# assert.sh fetches /metrics with curl; the minimal box may lack it.
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl; }

# The unit runs nodeguard, which executes nodeguard-agent from its own directory.
install -m 0755 "$src/nodeguard" /usr/local/bin/nodeguard
install -m 0755 "$src/nodeguard-agent" /usr/local/bin/nodeguard-agent
install -m 0644 "$src/nodeguard.service" /etc/systemd/system/nodeguard.service
systemctl daemon-reload
systemd-analyze verify /etc/systemd/system/nodeguard.service
# Type=notify: this returns once the agent sent READY=1 (first scan published),
# and fails if it did not within TimeoutStartSec.
systemctl enable --now nodeguard.service
