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
mkdir "$tmp/hello"
printf 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n' > "$tmp/hello/main.go"
(cd "$tmp/hello" && go mod init hello >/dev/null 2>&1 && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$tmp/hello-bin" .)

# ms runs a command once and prints its wall time in milliseconds.
ms() {
	local start end
	start=$(date +%s%N)
	"$@" > /dev/null 2>&1 || true
	end=$(date +%s%N)
	echo $(((end - start) / 1000))
}

# compare LABEL A B runs A then B, $pairs times after 3 warm-up pairs, and prints
# the medians and the median of the per-pair ratios B/A.
compare() {
	local label=$1 a=$2 b=$3
	local -a ta=() tb=() r=()
	for i in $(seq $((pairs + 3))); do
		# Word splitting is the point: the commands are plain words, run
		# without a shell in between.
		# shellcheck disable=SC2086
		x=$(ms $a) y=$(ms $b)
		((i > 3)) || continue
		ta+=("$x") tb+=("$y") r+=("$(awk -v x="$x" -v y="$y" 'BEGIN{printf "%.3f", y/x}')")
	done
	med() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
	printf '%-34s A %8.2f ms   B %8.2f ms   B/A median of pairs %s\n' "$label" \
		"$(awk -v u="$(med "${ta[@]}")" 'BEGIN{print u/1000}')" \
		"$(awk -v u="$(med "${tb[@]}")" 'BEGIN{print u/1000}')" "$(med "${r[@]}")"
}

compare "hello (A) vs nodeguard version (B)" "$tmp/hello-bin" "$tmp/nodeguard version"
ulimit -n $((n + 1024))
"$tmp/listeners" -n "$n" > "$tmp/ready" &
holder=$!
until grep -q ready "$tmp/ready" 2>/dev/null; do sleep 0.2; done
compare "ss -H -ltnp (A) vs scan json (B)" "ss -H -ltnp" "$tmp/nodeguard scan --only ports --output json --log-level error"
compare "ss -H -ltnp (A) vs scan table (B)" "ss -H -ltnp" "$tmp/nodeguard scan --only ports --log-level error"
