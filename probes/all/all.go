// Package all links every probe into the binary.
package all

import (
	_ "github.com/nodeguard/nodeguard/probes/accounts"
	_ "github.com/nodeguard/nodeguard/probes/binaries"
	_ "github.com/nodeguard/nodeguard/probes/controlplane"
	_ "github.com/nodeguard/nodeguard/probes/kmod"
	_ "github.com/nodeguard/nodeguard/probes/kubelet"
	_ "github.com/nodeguard/nodeguard/probes/packages"
	_ "github.com/nodeguard/nodeguard/probes/ports"
	_ "github.com/nodeguard/nodeguard/probes/release"
	_ "github.com/nodeguard/nodeguard/probes/services"
	_ "github.com/nodeguard/nodeguard/probes/sshd"
	_ "github.com/nodeguard/nodeguard/probes/sysctl"
)
