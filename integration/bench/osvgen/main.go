// Command osvgen writes a synthetic OSV bundle of realistic size for the
// benchmarks of docs/benchmarks.md: every 50th record names a Debian source
// package installed on this machine (from the dpkg status file).
package main

import (
	"flag"
	"log"
	"os"

	"github.com/nodeguard/nodeguard/probes/packages/osv/osvtest"
)

func main() {
	n := flag.Int("n", 100000, "records")
	dir := flag.String("dir", "", "write one file per record into this directory")
	zipFile := flag.String("zip", "", "write one zip archive of one entry per record")
	status := flag.String("dpkg-status", "/var/lib/dpkg/status", "installed packages to name")
	flag.Parse()
	var names []string
	if f, err := os.Open(*status); err == nil {
		names = osvtest.DebianSources(f)
		f.Close()
	}
	var err error
	switch {
	case *dir != "":
		err = osvtest.WriteDir(*dir, *n, names)
	case *zipFile != "":
		err = osvtest.WriteZip(*zipFile, *n, names)
	default:
		log.Fatal("want -dir or -zip")
	}
	if err != nil {
		log.Fatal(err)
	}
}
