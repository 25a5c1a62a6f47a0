// Package kernels boots other Linux kernels (Debian's linux-image packages)
// under qemu and runs the eBPF rule tests of agent/anomaly inside each, so a
// change to the BPF programs is checked against the verifiers of the kernels
// nodes run, not only against the kernel of the machine running the tests.
// The harness is TestKernelMatrix; docs/kernels.md records its last run.
package kernels
