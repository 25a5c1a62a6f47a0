// Command pairs times two commands in alternating pairs (A, then B, n times
// after a few warm-up pairs) so that the machine's drift falls on both alike,
// and prints the medians and the median of the per-pair ratios B/A. Each run
// is timed from just before its fork to the return of its wait, output to
// /dev/null and no shell in between, as hyperfine -N does; a shell timer
// (date +%s%N around the command) would add the fork and exec of date, about
// 2 ms, to both sides. The figures of docs/benchmarks.md; see pairs.sh.
//
// Usage: pairs [-n 40] [-warmup 3] LABEL -- A... -- B...
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

func main() {
	n := flag.Int("n", 40, "timed pairs")
	warmup := flag.Int("warmup", 3, "untimed pairs first")
	flag.Parse()
	args := flag.Args()
	if *n < 1 || *warmup < 0 || len(args) < 5 || args[1] != "--" {
		fmt.Fprintln(os.Stderr, "usage: pairs [-n N] [-warmup W] LABEL -- A... -- B...")
		os.Exit(2)
	}
	label, rest := args[0], args[2:]
	i := slices.Index(rest, "--")
	if i < 1 || i == len(rest)-1 {
		fmt.Fprintln(os.Stderr, "pairs: want two commands, each after --")
		os.Exit(2)
	}
	a, b := rest[:i], rest[i+1:]
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var ta, tb, ratio []float64
	for round := range *warmup + *n {
		x, y := run(a, devnull), run(b, devnull)
		if round < *warmup {
			continue
		}
		ta, tb, ratio = append(ta, x), append(tb, y), append(ratio, y/x)
	}
	fmt.Printf("%-34s A %8.2f ms   B %8.2f ms   B/A median of pairs %.3f\n",
		label, median(ta), median(tb), median(ratio))
}

// run returns cmd's wall time in milliseconds, from fork to reaped exit. A
// command that fails still counts: nodeguard scan exits 1 on findings.
func run(cmd []string, out *os.File) float64 {
	c := exec.Command(cmd[0], cmd[1:]...)
	c.Stdout, c.Stderr = out, out
	start := time.Now()
	if err := c.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "pairs: %s: %v\n", strings.Join(cmd, " "), err)
		os.Exit(1)
	}
	c.Wait()
	return float64(time.Since(start).Nanoseconds()) / 1e6
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
