// Package bpf holds nodeguard's eBPF programs, compiled by bpf2go. The
// generated runtime_bpfel.go and runtime_bpfel.o are committed so that a
// plain `go build` needs no clang; regenerate.sh rebuilds them and fails when
// the committed files differ.
package bpf

//go:generate go tool bpf2go -go-package bpf -output-stem runtime -target bpfel -cflags "-O2 -g -Wall -Werror" Runtime c/runtime.c
