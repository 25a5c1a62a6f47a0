#!/bin/sh
# Regenerates the committed BPF objects and Go bindings from bpf/c and fails
# when they differ from what is committed (CI), or just regenerates (-w).
# Needs clang, llvm (llvm-strip) and libbpf-dev (the bpf/*.h headers).
# vmlinux.h is regenerated only on request (VMLINUX=1), from this kernel's BTF
# with bpftool: it describes one kernel and CO-RE adapts to the others.
set -eu
cd "$(dirname "$0")/.."
if [ "${VMLINUX:-0}" = 1 ]; then
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > bpf/c/vmlinux.h
fi
go generate ./bpf/...
if [ "${1:-}" != "-w" ]; then
	if ! git diff --exit-code --stat -- bpf/; then
		echo "bpf/: generated files differ from the committed ones; run bpf/regenerate.sh -w and commit" >&2
		exit 1
	fi
	untracked=$(git ls-files --others --exclude-standard -- bpf/)
	if [ -n "$untracked" ]; then
		echo "bpf/: untracked generated files: $untracked" >&2
		exit 1
	fi
fi
