// Package sockiter lists the sockets every process holds open with a BPF
// task_file iterator. The generated sockiter_bpf{el,eb}.{go,o} are committed so
// that a plain `go build` needs no clang; bpf/regenerate.sh rebuilds them and
// fails when the committed files differ. Both byte orders are built: the
// ports probe, which imports this package, runs on big-endian nodes too.
package sockiter

//go:generate go tool bpf2go -go-package sockiter -output-stem sockiter -target bpfel,bpfeb -cflags "-O2 -g -Wall -Werror" SockIter ../c/sockiter.c
