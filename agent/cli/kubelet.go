package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"sigs.k8s.io/yaml"

	"github.com/nodeguard/nodeguard/probes/kubelet"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

func init() {
	Register(Command{Name: "kubelet", Summary: "show the kubelet's effective configuration (kubelet effective)", Run: runKubelet})
}

// kubeletEffectiveDoc is the output of `nodeguard kubelet effective`.
type kubeletEffectiveDoc struct {
	Kubelet    string   `json:"kubelet"`
	Args       []string `json:"args"`
	UnitFiles  []string `json:"unitFiles,omitempty"`
	EnvFiles   []string `json:"environmentFiles,omitempty"`
	ConfigFile string   `json:"configFile,omitempty"`
	ConfigDir  string   `json:"configDir,omitempty"`
	DropIns    []string `json:"dropIns,omitempty"`
	Defaults   string   `json:"defaults"`
	// Version is the kubelet version whose flags and defaults were used.
	Version      kubelet.JudgedVersion `json:"version"`
	UnknownFlags []string              `json:"unknownFlags,omitempty"`
	Unknown      []string              `json:"ignoredFields,omitempty"`
	Fields       []kubelet.Field       `json:"fields"`
}

func runKubelet(ctx context.Context, args []string, io IO) int {
	if len(args) == 0 || args[0] != "effective" {
		fmt.Fprintln(io.Stderr, "Usage: nodeguard kubelet effective [--host-root DIR] [--kubelet-version V] [--output yaml|json]")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return ExitOK
		}
		return ExitUsage
	}
	fs := NewFlagSet("kubelet effective", io)
	hostRoot := fs.String("host-root", "/", "the host's root filesystem as mounted in the agent (/host in the DaemonSet)")
	output := fs.String("output", "yaml", "output format: yaml or json")
	version := fs.String("kubelet-version", "", "the kubelet's version (v1.34.2); default: read from its executable")
	if code, ok := ParseFlags(fs, args[1:]); !ok {
		return code
	}
	if *output != "yaml" && *output != "json" {
		fmt.Fprintf(io.Stderr, "nodeguard kubelet effective: --output %q: want yaml or json\n", *output)
		return ExitUsage
	}
	if st, err := os.Stat(*hostRoot); err != nil || !st.IsDir() {
		fmt.Fprintf(io.Stderr, "nodeguard kubelet effective: --host-root %s: not a directory\n", *hostRoot)
		return ExitUsage
	}
	root, err := hostfs.Open(*hostRoot)
	if err != nil {
		fmt.Fprintf(io.Stderr, "nodeguard kubelet effective: %v\n", err)
		return ExitUsage
	}
	defer root.Close()
	e, _, err := kubelet.Find(root, *version, "--kubelet-version")
	if err != nil {
		fmt.Fprintf(io.Stderr, "nodeguard kubelet effective: %v\n", err)
		return ExitUsage
	}
	doc := kubeletEffectiveDoc{
		Kubelet: e.Found, Args: e.Args, UnitFiles: e.UnitFiles, EnvFiles: e.EnvFiles,
		ConfigFile: e.ConfigFile, ConfigDir: e.ConfigDir, DropIns: e.DropIns,
		Defaults: "with --config (config-file defaults)", Fields: e.Fields(),
		Version: e.Version, UnknownFlags: e.UnknownFlags,
	}
	if !e.WithConfig() {
		doc.Defaults = "without --config (legacy command-line defaults)"
	}
	for file, msg := range e.Unknown {
		doc.Unknown = append(doc.Unknown, file+": "+msg)
	}
	sort.Strings(doc.Unknown)
	if doc.Args == nil {
		doc.Args = []string{}
	}
	var data []byte
	if *output == "json" {
		data, err = json.MarshalIndent(doc, "", "  ")
		data = append(data, '\n')
	} else {
		data, err = yaml.Marshal(doc)
	}
	if err != nil {
		fmt.Fprintf(io.Stderr, "nodeguard kubelet effective: %v\n", err)
		return ExitUsage
	}
	io.Stdout.Write(data)
	return ExitOK
}
