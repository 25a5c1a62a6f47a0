// Package all links every probe into the binary.
package all

import (
	_ "github.com/nodeguard/nodeguard/probes/ports"
)
