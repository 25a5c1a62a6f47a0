package clusterbox

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/nodeguard/nodeguard/integration/agentproc"
)

// scrapeConfig is the Prometheus job prometheus-operator generates from the
// ServiceMonitor (endpoints discovery, keep the Service's selected labels
// and the named port, the operator's target labels, then the user's
// relabelings). Fields the translation does not know fail the test, so the
// two cannot drift apart silently. Debian's Prometheus is built without
// kubernetes_sd_configs: sdURL serves what it would discover (endpoints
// role, the same __meta_kubernetes_* labels) for http_sd_configs.
func (b *box) scrapeConfig(tokenFile, sdURL string) string {
	t := b.t
	raw, err := os.ReadFile(filepath.Join(b.repo, "manifests", "servicemonitor.yaml"))
	must(t, err)
	var sm monitoringv1.ServiceMonitor
	must(t, yaml.UnmarshalStrict(raw, &sm))
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("servicemonitor.yaml: %d endpoints; the translation handles one", len(sm.Spec.Endpoints))
	}
	ep := sm.Spec.Endpoints[0]
	if ep.Authorization == nil || ep.Authorization.Credentials == nil || ep.TLSConfig == nil || ep.Port == "" {
		t.Fatalf("servicemonitor.yaml: the endpoint lacks authorization, tlsConfig or port: %+v", ep)
	}
	var keep []string
	for k, v := range sm.Spec.Selector.MatchLabels {
		l := sanitize(k)
		keep = append(keep, fmt.Sprintf(`      - {action: keep, source_labels: [__meta_kubernetes_service_label_%s, __meta_kubernetes_service_labelpresent_%s], regex: "(%s);true"}`, l, l, v))
	}
	var relabel []string
	for _, r := range ep.RelabelConfigs {
		var src []string
		for _, s := range r.SourceLabels {
			src = append(src, string(s))
		}
		relabel = append(relabel, fmt.Sprintf(`      - {action: %s, source_labels: [%s], target_label: %s}`,
			strings.ToLower(strOr(r.Action, "replace")), strings.Join(src, ", "), r.TargetLabel))
	}
	return fmt.Sprintf(`
  - job_name: serviceMonitor/%s/%s/0
    # kubernetes_sd_configs: [{role: endpoints, namespaces: {names: [%s]}}]
    http_sd_configs: [{url: %q, refresh_interval: 5s}]
    scheme: %s
    metrics_path: %s
    scrape_interval: %s
    scrape_timeout: %s
    authorization: {type: %s, credentials_file: %s}
    tls_config: {insecure_skip_verify: %v}
    relabel_configs:
%s
      - {action: keep, source_labels: [__meta_kubernetes_endpoint_port_name], regex: %s}
      - {source_labels: [__meta_kubernetes_namespace], target_label: namespace}
      - {source_labels: [__meta_kubernetes_service_name], target_label: service}
      - {source_labels: [__meta_kubernetes_pod_name], target_label: pod}
      - {source_labels: [__meta_kubernetes_pod_container_name], target_label: container}
      - {source_labels: [__meta_kubernetes_service_name], target_label: job}
      - {target_label: endpoint, replacement: %s}
%s
`, sm.Namespace, sm.Name, strings.Join(sm.Spec.NamespaceSelector.MatchNames, ", "), sdURL+"?namespaces="+strings.Join(sm.Spec.NamespaceSelector.MatchNames, ","),
		ep.Scheme.String(), ep.Path, ep.Interval, ep.ScrapeTimeout, ep.Authorization.Type, tokenFile,
		ep.TLSConfig.InsecureSkipVerify != nil && *ep.TLSConfig.InsecureSkipVerify,
		strings.Join(keep, "\n"), ep.Port, ep.Port, strings.Join(relabel, "\n"))
}

// endpointsSD is Prometheus's kubernetes endpoints discovery as an HTTP SD
// endpoint: one target per address and port of the Endpoints of the
// namespaces asked for, with the meta labels kubernetes_sd would set.
func (b *box) endpointsSD(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	type group struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	groups := []group{}
	for _, ns := range strings.Split(r.URL.Query().Get("namespaces"), ",") {
		eps, err := b.admin.CoreV1().Endpoints(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		for _, ep := range eps.Items {
			svc, err := b.admin.CoreV1().Services(ns).Get(ctx, ep.Name, metav1.GetOptions{})
			if err != nil {
				continue
			}
			for _, sub := range ep.Subsets {
				for _, addr := range append(sub.Addresses, sub.NotReadyAddresses...) {
					for _, port := range sub.Ports {
						l := map[string]string{
							"__meta_kubernetes_namespace":          ns,
							"__meta_kubernetes_service_name":       svc.Name,
							"__meta_kubernetes_endpoints_name":     ep.Name,
							"__meta_kubernetes_endpoint_port_name": port.Name,
						}
						for k, v := range svc.Labels {
							l["__meta_kubernetes_service_label_"+sanitize(k)] = v
							l["__meta_kubernetes_service_labelpresent_"+sanitize(k)] = "true"
						}
						if addr.NodeName != nil {
							l["__meta_kubernetes_endpoint_node_name"] = *addr.NodeName
						}
						if ref := addr.TargetRef; ref != nil && ref.Kind == "Pod" {
							l["__meta_kubernetes_pod_name"] = ref.Name
							if pod, err := b.admin.CoreV1().Pods(ns).Get(ctx, ref.Name, metav1.GetOptions{}); err == nil {
								l["__meta_kubernetes_pod_node_name"] = pod.Spec.NodeName
								for _, c := range pod.Spec.Containers {
									for _, cp := range c.Ports {
										if cp.ContainerPort == port.Port {
											l["__meta_kubernetes_pod_container_name"] = c.Name
										}
									}
								}
							}
						}
						groups = append(groups, group{Targets: []string{net.JoinHostPort(addr.IP, fmt.Sprint(port.Port))}, Labels: l})
					}
				}
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(groups)
}

func strOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func sanitize(label string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, label)
}

// monitoring is Prometheus and Alertmanager (Debian's) on the host, and the
// webhook receiver Alertmanager pages.
type monitoring struct {
	promAddr string
	hook     *httptest.Server
	mu       sync.Mutex
	alerts   []map[string]any
}

func (b *box) startMonitoring(scraperToken string) *monitoring {
	t := b.t
	prom := lookTool(t, "prometheus", "prometheus")
	am := lookTool(t, "prometheus-alertmanager", "prometheus-alertmanager")
	m := &monitoring{}
	m.hook = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n struct {
			Alerts []map[string]any `json:"alerts"`
		}
		if err := json.NewDecoder(r.Body).Decode(&n); err == nil {
			m.mu.Lock()
			m.alerts = append(m.alerts, n.Alerts...)
			m.mu.Unlock()
		}
	}))
	t.Cleanup(m.hook.Close)
	amAddr := fmt.Sprintf("127.0.0.1:%d", agentproc.FreePort(t))
	amCfg := filepath.Join(b.dir, "alertmanager.yml")
	must(t, os.WriteFile(amCfg, []byte(fmt.Sprintf(`route:
  receiver: hook
  group_by: ['...']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{url: %q, send_resolved: true}]
`, m.hook.URL)), 0o644))
	amp := b.start("alertmanager", false, am, "--config.file="+amCfg, "--storage.path="+filepath.Join(b.dir, "am-data"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=")
	sd := httptest.NewServer(http.HandlerFunc(b.endpointsSD))
	t.Cleanup(sd.Close)
	tokenFile := filepath.Join(b.dir, "scraper-token")
	must(t, os.WriteFile(tokenFile, []byte(scraperToken), 0o600))
	m.promAddr = fmt.Sprintf("127.0.0.1:%d", agentproc.FreePort(t))
	promCfg := filepath.Join(b.dir, "prometheus.yml")
	must(t, os.WriteFile(promCfg, []byte(fmt.Sprintf(`global:
  evaluation_interval: 1s
rule_files: [%s]
alerting:
  alertmanagers: [{static_configs: [{targets: [%q]}]}]
scrape_configs:%s`, filepath.Join(b.repo, "manifests", "alerts", "nodeguard.rules.yaml"), amAddr, b.scrapeConfig(tokenFile, sd.URL))), 0o644))
	pp := b.start("prometheus", false, prom, "--config.file="+promCfg, "--storage.tsdb.path="+filepath.Join(b.dir, "prom-data"),
		"--web.listen-address="+m.promAddr)
	for _, p := range []struct {
		part *part
		addr string
	}{{amp, amAddr}, {pp, m.promAddr}} {
		b.waitFor(p.part, "ready", 60*time.Second, func() error { return httpOK("http://" + p.addr + "/-/ready") })
	}
	return m
}

func httpOK(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	return nil
}

// targetUp waits for Prometheus to scrape the agent successfully.
func (b *box) targetUp(m *monitoring) {
	b.waitFor(b.partByName("prometheus"), "the agent's target up in Prometheus", 90*time.Second, func() error {
		resp, err := http.Get("http://" + m.promAddr + "/api/v1/targets")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var r struct {
			Data struct {
				ActiveTargets []struct {
					Labels    map[string]string `json:"labels"`
					Health    string            `json:"health"`
					LastError string            `json:"lastError"`
				} `json:"activeTargets"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			return err
		}
		for _, tg := range r.Data.ActiveTargets {
			if tg.Labels["job"] == "nodeguard" && tg.Labels["node"] == nodeName && tg.Health == "up" {
				return nil
			}
		}
		return fmt.Errorf("targets: %+v", r.Data.ActiveTargets)
	})
}

// awaitAlert waits for a firing alert for the port at the webhook.
func (b *box) awaitAlert(m *monitoring, port string, timeout time.Duration) map[string]any {
	var found map[string]any
	b.waitFor(b.partByName("alertmanager"), "NodeguardUnexpectedOpenPort for port "+port+" at the webhook", timeout, func() error {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, a := range m.alerts {
			l, _ := a["labels"].(map[string]any)
			if a["status"] == "firing" && l["alertname"] == "NodeguardUnexpectedOpenPort" && l["port"] == port {
				found = a
				return nil
			}
		}
		return fmt.Errorf("%d alerts received", len(m.alerts))
	})
	return found
}

// metricsStatus is the agent's answer to GET /metrics with a token ("" for
// none), from the host to the pod's IP.
func metricsStatus(podIP string, port int, token string) (int, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, err := http.NewRequest(http.MethodGet, "https://"+net.JoinHostPort(podIP, fmt.Sprint(port))+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// scraperToken is the token the controller put in the ServiceMonitor's Secret.
func (b *box) scraperToken() string {
	var token string
	b.waitFor(b.partByName("kube-controller-manager"), "the scraper's token Secret filled", 60*time.Second, func() error {
		s, err := b.admin.CoreV1().Secrets(agentNS).Get(context.Background(), "nodeguard-scraper-token", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(s.Data["token"]) == 0 {
			return fmt.Errorf("no token yet")
		}
		token = string(s.Data["token"])
		return nil
	})
	return token
}

// unboundToken is a valid token of a ServiceAccount bound to nothing.
func (b *box) unboundToken() string {
	ctx := context.Background()
	_, err := b.admin.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "unbound"}}, metav1.CreateOptions{})
	must(b.t, err)
	tr, err := b.admin.CoreV1().ServiceAccounts("default").CreateToken(ctx, "unbound", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	must(b.t, err)
	return tr.Status.Token
}
