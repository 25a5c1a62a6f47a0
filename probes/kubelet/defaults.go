package kubelet

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubeletv1beta1 "github.com/nodeguard/nodeguard/probes/kubelet/internal/config/v1beta1"
)

// The kubelet's built-in defaults for the fields the checks read come from
// the version's table (SetDefaults_KubeletConfiguration in k8s.io/kubernetes
// pkg/kubelet/apis/config/v1beta1, and NewKubeletConfiguration's legacy
// defaults without --config); which fields count as unset is the same in
// every version, and the module under integration/kubeletdefaults checks
// both against each version's code.

// rotateServerCertGate is the feature gate CIS 4.2.11 reads.
const rotateServerCertGate = "RotateKubeletServerCertificate"

// setDefaults fills the unset checked fields as the kubelet's versioned
// defaulting does after decoding a config file or merging drop-ins, and
// returns the paths it filled: a zero value written in a file counts as unset.
func setDefaults(kc *kubeletv1beta1.KubeletConfiguration, d *defaultsTable) (filled []string) {
	fill := func(p string) { filled = append(filled, p) }
	if kc.Authentication.Anonymous.Enabled == nil {
		kc.Authentication.Anonymous.Enabled = ptr(d.AnonymousAuth)
		fill("authentication.anonymous.enabled")
	}
	if kc.Authentication.Webhook.Enabled == nil {
		kc.Authentication.Webhook.Enabled = ptr(d.WebhookAuthn)
		fill("authentication.webhook.enabled")
	}
	if kc.Authorization.Mode == "" {
		kc.Authorization.Mode = kubeletv1beta1.KubeletAuthorizationMode(d.AuthorizationMode)
		fill("authorization.mode")
	}
	if kc.EventRecordQPS == nil {
		kc.EventRecordQPS = ptr(d.EventRecordQPS)
		fill("eventRecordQPS")
	}
	if kc.StreamingConnectionIdleTimeout == (metav1.Duration{}) {
		kc.StreamingConnectionIdleTimeout = metav1.Duration{Duration: d.StreamingConnectionIdleTimeout}
		fill("streamingConnectionIdleTimeout")
	}
	if kc.PodPidsLimit == nil || *kc.PodPidsLimit < 0 {
		kc.PodPidsLimit = ptr(d.PodPidsLimit)
		fill("podPidsLimit")
	}
	if kc.MakeIPTablesUtilChains == nil {
		kc.MakeIPTablesUtilChains = ptr(d.MakeIPTablesUtilChains)
		fill("makeIPTablesUtilChains")
	}
	if kc.SeccompDefault == nil {
		kc.SeccompDefault = ptr(d.SeccompDefault)
		fill("seccompDefault")
	}
	if kc.Address == "" {
		kc.Address = d.Address
		fill("address")
	}
	if kc.Port == 0 {
		kc.Port = d.Port
		fill("port")
	}
	return filled
}

// setLegacyDefaults is the flags-only starting point: the versioned defaults
// overridden by the legacy command-line defaults.
func setLegacyDefaults(kc *kubeletv1beta1.KubeletConfiguration, t *versionTable) {
	setDefaults(kc, &t.Legacy)
	kc.Authentication.Anonymous.Enabled = ptr(t.Legacy.AnonymousAuth)
	kc.Authentication.Webhook.Enabled = ptr(t.Legacy.WebhookAuthn)
	kc.Authorization.Mode = kubeletv1beta1.KubeletAuthorizationMode(t.Legacy.AuthorizationMode)
	kc.ReadOnlyPort = t.Legacy.ReadOnlyPort
}

// legacyDefaulted are the paths whose flags-only default differs.
var legacyDefaulted = map[string]bool{
	"authentication.anonymous.enabled": true,
	"authentication.webhook.enabled":   true,
	"authorization.mode":               true,
	"readOnlyPort":                     true,
}

func ptr[T any](v T) *T { return &v }
