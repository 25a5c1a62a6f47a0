// Command dump prints, as JSON, what nodeguard's kubelet model takes from the
// kubelet version this module is built with (see kubeletref). versions.sh
// runs it against each version of versions.txt.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/nodeguard/nodeguard/integration/kubeletdefaults/kubeletref"
)

func main() {
	v, err := kubeletref.Dump()
	if err == nil {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(v)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dump:", err)
		os.Exit(1)
	}
}
