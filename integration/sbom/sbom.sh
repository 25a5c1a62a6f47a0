#!/usr/bin/env bash
# Writes a CycloneDX JSON SBOM of a built nodeguard binary: the main module
# and every module linked into it, with the versions `go version -m` shows
# (cyclonedx-gomod reads the same build information the Go linker embeds).
# Usage: sbom.sh BINARY OUTPUT [VERSION]      (`make sbom` runs it)
set -euo pipefail

# Pinned: the SBOM format must not change under us between releases.
tool=github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 BINARY OUTPUT [VERSION]" >&2
  exit 2
fi
binary=$1 output=$2 version=${3:-}
[ -x "$binary" ] || { echo "$0: $binary: not an executable (run make build)" >&2; exit 2; }

args=(bin -json -output "$output")
[ -n "$version" ] && args+=(-version "$version")
exec "${GO:-go}" run "$tool" "${args[@]}" "$binary"
