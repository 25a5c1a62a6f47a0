# shellcheck shell=bash
# Assertions shared by integration/kind/run.sh and the Vagrant VM
# (integration/vagrant/assert.sh): each takes a /metrics body on stdin.
# Sourced, not run.

# The port the ports policy forbids on every node (kubelet read-only port).
FORBIDDEN_PORT=10255

# log prints a progress line to stderr.
log() { printf '== %s\n' "$*" >&2; }

# fail prints why and exits.
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

# retry SECONDS CMD...: runs CMD every 3s until it succeeds or SECONDS pass.
retry() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 3
  done
}

# scan_published: the agent has finished a scan and exported findings.
scan_published() {
  local body
  body=$(cat)
  grep -q '^nodeguard_last_scan_timestamp_seconds ' <<<"$body" &&
    grep -q '^nodeguard_findings{' <<<"$body"
}

# forbidden_port_open: nodeguard_listening_port reports FORBIDDEN_PORT as not
# allowed with severity critical, which is what the NodeguardUnexpectedOpenPort
# alert fires on (manifests/alerts/nodeguard.rules.yaml).
forbidden_port_open() {
  grep '^nodeguard_listening_port{' |
    grep "port=\"$FORBIDDEN_PORT\"" |
    grep 'allowed="false"' |
    grep 'severity="critical"' |
    grep -q ' 1$'
}
