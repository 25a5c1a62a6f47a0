#!/usr/bin/env bash
# Runs the kubelet's own code of every version in versions.txt.
#
#   versions.sh test      the reference tests against fresh dumps of every
#                         version (make reference-fresh; make reference uses
#                         the dumps committed under testdata/dumps)
#   versions.sh generate  render probes/kubelet/zz_generated_versions.go from
#                         every version's dump and record the dumps in
#                         testdata/dumps (make kubelet-tables)
#
# A dump (./dump, see kubeletref) is built in a module of its own per version:
# ./kubeletref and ./versiondata copied from here, requiring that
# k8s.io/kubernetes release with its staging modules pointed at the matching
# v0.x releases. It does not import nodeguard, whose newer dependencies would
# not build with an older kubelet. The modules are kept under
# NODEGUARD_KUBELETREF_CACHE (default ~/.cache/nodeguard/kubeletref) so that
# only the first run resolves them; the Go build cache does the rest.
#   KUBELET_VERSIONS  overrides the list (space-separated)
set -euo pipefail
shopt -s inherit_errexit

mode=${1:-}
[[ ${mode} == test || ${mode} == generate ]] || { echo "usage: $0 test|generate" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "${here}/../.." && pwd)
cache=${NODEGUARD_KUBELETREF_CACHE:-${HOME}/.cache/nodeguard/kubeletref}
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOWORK=off

pinned=$(awk '$1 == "k8s.io/kubernetes" {print $2; exit}' "${here}/go.mod")
if [[ -n ${KUBELET_VERSIONS:-} ]]; then
	read -r -a versions <<<"${KUBELET_VERSIONS}"
else
	mapfile -t versions < <(grep -v '^#' "${here}/versions.txt" | grep .)
fi
log() { echo "versions.sh: $*" >&2; }

# dump prints kubelet version $1's dump.
dump() {
	local v=$1
	if [[ ${v} == "${pinned}" ]]; then
		(cd "${here}" && go run ./dump)
		return
	fi
	local dir=${cache}/${v}
	mkdir -p "${dir}"
	# The sources are this checkout's, every run; go.mod and go.sum are made once.
	rm -rf "${dir}/src.new" && mkdir "${dir}/src.new"
	(cd "${here}" && tar -cf - dump kubeletref versiondata) | tar -C "${dir}/src.new" -xf -
	if [[ -f ${dir}/src/go.sum ]]; then
		cp "${dir}/src/go.mod" "${dir}/src/go.sum" "${dir}/src.new/"
	else
		log "resolving modules for ${v}"
		local gomod m
		gomod=$(go mod download -json "k8s.io/kubernetes@${v}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
		[[ -f ${gomod} ]] || { log "cannot download k8s.io/kubernetes@${v}"; return 1; }
		(
			cd "${dir}/src.new"
			go mod init github.com/nodeguard/nodeguard/integration/kubeletdefaults >/dev/null 2>&1
			go mod edit -require "k8s.io/kubernetes@${v}"
			# Staging modules are published as v0.<minor>.<patch> for v1.<minor>.<patch>.
			for m in $(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" {print $1}' "${gomod}" | sort -u); do
				go mod edit -replace "${m}=${m}@v0.${v#v1.}"
			done
			# -e: tidy also resolves the tests of dependencies, some of whose
			# modules the proxy does not serve for older releases.
			go mod tidy -e >/dev/null 2>&1
		)
	fi
	rm -rf "${dir}/src" && mv "${dir}/src.new" "${dir}/src"
	(cd "${dir}/src" && go run ./dump)
}

out=$(mktemp -d)
trap 'rm -rf "${out}"' EXIT
for v in "${versions[@]}"; do
	[[ ${mode} == test && ${v} == "${pinned}" ]] && continue # the tests run it live
	log "dumping kubelet ${v}"
	dump "${v}" >"${out}/${v}.json"
done
case ${mode} in
test)
	log "reference tests against kubelet ${pinned} (live) and ${versions[*]} (dumps)"
	(cd "${here}" && NODEGUARD_KUBELET_DUMPS=${out} go test -count=1 ./...)
	;;
generate)
	(cd "${here}" && go run ./render -o "${repo}/probes/kubelet/zz_generated_versions.go" "${out}"/*.json)
	rm -rf "${here}/testdata/dumps" && mkdir -p "${here}/testdata/dumps" && cp "${out}"/*.json "${here}/testdata/dumps/"
	log "wrote probes/kubelet/zz_generated_versions.go and testdata/dumps"
	;;
esac
