#!/usr/bin/env bash
# Start-up and ports figures of docs/benchmarks.md, timed in alternating pairs
# so that the machine's drift falls on both sides alike:
#   - `nodeguard version` against a static hello-world Go binary;
#   - `nodeguard scan --only ports` against `ss -H -ltnp` with N extra
#     loopback listeners.
# Usage: integration/bench/pairs.sh [N listeners] [pairs]   (as root)
set -euo pipefail
n=${1:-10000}
pairs=${2:-40}
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
holder=""
trap 'kill "$holder" 2>/dev/null || true; rm -rf "$tmp"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$tmp/nodeguard" ./cmd/nodeguard # the light executable, as make build
CGO_ENABLED=0 go build -o "$tmp/listeners" ./integration/bench/listeners
CGO_ENABLED=0 go build -o "$tmp/pairs" ./integration/bench/pairs
mkdir "$tmp/hello"
printf 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n' > "$tmp/hello/main.go"
(cd "$tmp/hello" && go mod init hello >/dev/null 2>&1 && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$tmp/hello-bin" .)

# compare LABEL A B times A then B in $pairs alternating pairs after 3 warm-up
# pairs (integration/bench/pairs: fork to reaped exit, no shell in between)
# and prints the medians and the median of the per-pair ratios B/A.
compare() {
	# Word splitting is the point: the commands are plain words.
	# shellcheck disable=SC2086
	"$tmp/pairs" -n "$pairs" -warmup 3 "$1" -- $2 -- $3
}

compare "hello (A) vs nodeguard version (B)" "$tmp/hello-bin" "$tmp/nodeguard version"
ulimit -n $((n + 1024))
"$tmp/listeners" -n "$n" > "$tmp/ready" &
holder=$!
until grep -q ready "$tmp/ready" 2>/dev/null; do sleep 0.2; done
compare "ss -H -ltnp (A) vs scan json (B)" "ss -H -ltnp" "$tmp/nodeguard scan --only ports --output json --log-level error"
compare "ss -H -ltnp (A) vs scan table (B)" "ss -H -ltnp" "$tmp/nodeguard scan --only ports --log-level error"
