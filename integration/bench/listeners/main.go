// Command listeners holds N listening TCP sockets open on loopback until it is
// killed: the load for the ports benchmarks (docs/benchmarks.md).
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

func main() {
	n := flag.Int("n", 10000, "listeners to open")
	flag.Parse()
	ls := make([]net.Listener, 0, *n)
	for i := 0; i < *n; i++ {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintf(os.Stderr, "listener %d: %v\n", i, err)
			os.Exit(1)
		}
		ls = append(ls, l)
	}
	fmt.Println("ready", len(ls))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	// Without this the listeners are garbage once "ready" is printed, and
	// the first collection (at the latest the runtime's two-minute forced
	// one) closes them all through their finalizers.
	runtime.KeepAlive(ls)
}
