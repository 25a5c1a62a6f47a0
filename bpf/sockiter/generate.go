// Package sockiter lists the sockets every process holds open with a BPF
// task_file iterator.
//
// Unlike nodeguard's other programs (bpf/c, built with bpf2go and relocated
// by cilium/ebpf's CO-RE loader), this one is assembled at load time from
// the offsets this kernel's BTF gives (program.go): it is small, and a CO-RE
// load decodes the whole kernel BTF, 15-25 ms on every start of a one-shot
// `nodeguard scan`, more than the iterator saves it over walking /proc.
package sockiter
