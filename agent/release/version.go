// Package release carries the build's version, set by the Makefile with
// -ldflags "-X github.com/nodeguard/nodeguard/agent/release.Version=...".
package release

import "runtime"

// Version is the release; "dev" for untagged builds.
var Version = "dev"

// GoVersion is the toolchain that built the binary.
func GoVersion() string { return runtime.Version() }
