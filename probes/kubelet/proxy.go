package kubelet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/nodeguard/nodeguard/probes"
	"github.com/nodeguard/nodeguard/probes/model/catalog"
	"github.com/nodeguard/nodeguard/probes/model/finding"
	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// kube-proxy's metrics default (cmd/kube-proxy, pkg/proxy/apis/config/v1alpha1).
const proxyMetricsDefault = "127.0.0.1:10249"

// proxyChecks are CIS 4.1.3/4.1.4 (kube-proxy kubeconfig) and 4.3.1 (metrics
// bind address), read from the running kube-proxy.
func proxyChecks(env *probes.Env, access Access) []finding.Finding {
	metricsE, kubeconfigE := catalog.Get("kubelet.proxy-metrics-bind"), catalog.Get("kubelet.proxy-kubeconfig-permissions")
	pid, args := findProxy(env.Root)
	if pid == 0 {
		const title, msg = "kube-proxy is not running", "no kube-proxy process on this host"
		return []finding.Finding{skip(kubeconfigE, title, msg), skip(metricsE, title, msg)}
	}
	flags := map[string]string{}
	for i := 1; i < len(args); i++ {
		a, ok := strings.CutPrefix(args[i], "--")
		if !ok {
			continue
		}
		k, v, hasVal := strings.Cut(a, "=")
		if !hasVal && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			v, i = args[i+1], i+1
		}
		flags[strings.ReplaceAll(k, "_", "-")] = v
	}
	var out []finding.Finding
	metrics, metricsSrc := flags["metrics-bind-address"], "flag --metrics-bind-address"
	kubeconfig, kubeconfigSrc := flags["kubeconfig"], "flag --kubeconfig"
	if cfgPath := flags["config"]; cfgPath != "" {
		// With --config, kube-proxy ignores these flags.
		metrics, metricsSrc, kubeconfig, kubeconfigSrc = "", "", "", ""
		hostPath, data, err := readProxyConfig(env.Root, cfgPath)
		if err != nil {
			f := finding.ErrorFinding(Name, metricsE.ID, "kube-proxy configuration could not be read", err)
			f.References = metricsE.Refs()
			return append(out, f)
		}
		var cfg struct {
			MetricsBindAddress string `json:"metricsBindAddress"`
			ClientConnection   struct {
				Kubeconfig string `json:"kubeconfig"`
			} `json:"clientConnection"`
		}
		if err := yaml.Unmarshal(data, &cfg); err != nil {
			f := finding.ErrorFinding(Name, metricsE.ID, "kube-proxy configuration could not be read",
				fmt.Errorf("kube-proxy config %s: %w", hostPath, err))
			f.References = metricsE.Refs()
			return append(out, f)
		}
		if cfg.MetricsBindAddress != "" {
			metrics, metricsSrc = cfg.MetricsBindAddress, "file "+hostPath
		}
		if cfg.ClientConnection.Kubeconfig != "" {
			kubeconfig, kubeconfigSrc = cfg.ClientConnection.Kubeconfig, "file "+hostPath
		}
	}
	if metrics == "" {
		metrics, metricsSrc = proxyMetricsDefault, "kube-proxy default"
	}
	host := metrics
	if h, _, err := net.SplitHostPort(metrics); err == nil {
		host = h
	}
	ip := net.ParseIP(host)
	loop := host == "localhost" || (ip != nil && ip.IsLoopback())
	f := metricsE.Finding(finding.Fail, fmt.Sprintf("kube-proxy (pid %d) serves metrics on %s (%s)", pid, metrics, metricsSrc))
	f.Evidence = finding.EvidenceOf(map[string]string{"metricsBindAddress": metrics, "metricsBindAddress.source": metricsSrc, "pid": strconv.Itoa(pid)})
	if loop {
		f.Status, f.Remediation = finding.Pass, ""
	}
	out = append(out, f)
	if kubeconfig == "" {
		return append(out, skip(kubeconfigE, "kube-proxy has no kubeconfig file", "kube-proxy uses in-cluster credentials"))
	}
	p, err := hostProxyPath(env.Root, kubeconfig)
	if err != nil {
		return append(out, skip(kubeconfigE, "kube-proxy kubeconfig not on the host",
			fmt.Sprintf("%s (%s) is inside the kube-proxy container and not found under the host root", kubeconfig, kubeconfigSrc)))
	}
	return append(out, CheckFile(env.Root, FileCheck{ID: "kubelet.proxy-kubeconfig", What: whatProxyKubeconfig, Path: p,
		MaxMode: maxProxyKubeconfig, Access: access})...)
}

func findProxy(root *hostfs.Root) (int, []string) {
	names, err := root.ReadDirNames("/proc")
	if err != nil {
		return 0, nil
	}
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		comm, err := root.ReadFileLimit("/proc/"+n+"/comm", 64)
		if err != nil || string(bytes.TrimSpace(comm)) != "kube-proxy" {
			continue
		}
		data, err := root.ReadFileLimit("/proc/"+n+"/cmdline", 1<<20)
		if err != nil {
			continue
		}
		return pid, ParseProcCmdline(data)
	}
	return 0, nil
}

// hostProxyPath finds a kube-proxy file on the host: at its own path, or,
// for kubeadm's DaemonSet, in the ConfigMap volume the kubelet mounted it from.
func hostProxyPath(root *hostfs.Root, p string) (string, error) {
	if _, err := root.Stat(p); err == nil {
		return p, nil
	}
	matches, _ := root.Glob("/var/lib/kubelet/pods/*/volumes/kubernetes.io~configmap/*/" + path.Base(p))
	if len(matches) > 0 {
		return matches[0], nil
	}
	return "", fmt.Errorf("%s: not found on the host", p)
}

func readProxyConfig(root *hostfs.Root, p string) (string, []byte, error) {
	hp, err := hostProxyPath(root, p)
	if err != nil {
		return p, nil, fmt.Errorf("kube-proxy config (--config) %w", err)
	}
	data, err := root.ReadFile(hp)
	if err != nil {
		return hp, nil, fmt.Errorf("kube-proxy config (--config): %w", err)
	}
	if !json.Valid(data) && len(bytes.TrimSpace(data)) == 0 {
		return hp, nil, fmt.Errorf("kube-proxy config %s is empty", hp)
	}
	return hp, data, nil
}
