#!/usr/bin/env bash
# Builds the real Go binaries the binaries probe is tested against, from the
# Go module proxy, and caches them so only the first run pays (about 1 min):
# runc before and after the fix of CVE-2024-21626, and govulncheck, the
# reference the test compares with. Prints the cache directory on stdout.
#
#   NODEGUARD_GOBIN_CACHE  output directory (default $HOME/.cache/nodeguard/gobinaries)
set -euo pipefail

cache=${NODEGUARD_GOBIN_CACHE:-${HOME}/.cache/nodeguard/gobinaries}
runc_versions=(v1.1.11 v1.1.12)
vuln_version=v1.10.0

build() { # name module version cgo
	local out=${cache}/$1-$3
	[[ -x ${out}/$1 ]] && return 0
	mkdir -p "${out}.tmp"
	# runc's nsenter is C: it needs cgo (and a C compiler); its default
	# seccomp tag would also need libseccomp, so it is left out.
	CGO_ENABLED=$4 GOBIN=${out}.tmp GOFLAGS="-mod=mod -buildvcs=false" GOWORK=off \
		go install -trimpath "$2@$3" >&2
	rm -rf "${out}" && mv "${out}.tmp" "${out}"
}

for v in "${runc_versions[@]}"; do
	build runc github.com/opencontainers/runc "${v}" 1
done
build govulncheck golang.org/x/vuln/cmd/govulncheck "${vuln_version}" 0
echo "${cache}"
