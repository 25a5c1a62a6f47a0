#!/usr/bin/env bash
# Whole-process timing of `nodeguard scan --only ports` against `ss -H -ltnp`
# on this host with N extra loopback listeners (docs/benchmarks.md).
# Usage: integration/bench/ports.sh [N]   (as root; needs hyperfine)
set -euo pipefail
n=${1:-10000}
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
holder=""
trap 'kill "$holder" 2>/dev/null || true; rm -rf "$tmp"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$tmp/nodeguard" ./cmd/nodeguard  # the light executable, as make build
CGO_ENABLED=0 go build -o "$tmp/listeners" ./integration/bench/listeners
ulimit -n $((n + 1024))
"$tmp/listeners" -n "$n" > "$tmp/ready" &
holder=$!
until grep -q ready "$tmp/ready" 2>/dev/null; do sleep 0.2; done
hyperfine --warmup 5 --runs 50 -N -i \
  'ss -H -ltnp' \
  "$tmp/nodeguard scan --only ports --output json --log-level error" \
  "$tmp/nodeguard scan --only ports --log-level error"
# Peak memory of one scan.
/usr/bin/time -f 'nodeguard scan --only ports: %M KiB max RSS, %e s' \
  "$tmp/nodeguard" scan --only ports --output json --log-level error > /dev/null || true
