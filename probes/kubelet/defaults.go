package kubelet

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
)

// The kubelet's built-in defaults for the fields the checks read. They mirror
// SetDefaults_KubeletConfiguration (k8s.io/kubernetes pkg/kubelet/apis/config/
// v1beta1) and applyLegacyDefaults (cmd/kubelet/app/options); the module under
// integration/kubeletdefaults checks them against that code.

// Legacy command-line defaults, in force when the kubelet runs without
// --config: they predate the config file and are insecure.
const (
	legacyAnonymousAuth     = true
	legacyWebhookAuthn      = false
	legacyAuthorizationMode = kubeletv1beta1.KubeletAuthorizationModeAlwaysAllow
	legacyReadOnlyPort      = 10255
)

// rotateServerCertGate is the feature gate CIS 4.2.11 reads; it is beta and
// on by default since Kubernetes 1.12.
const (
	rotateServerCertGate        = "RotateKubeletServerCertificate"
	rotateServerCertGateDefault = true
)

// setDefaults fills the unset checked fields as the kubelet's versioned
// defaulting does after decoding a config file or merging drop-ins, and
// returns the paths it filled: a zero value written in a file counts as unset.
func setDefaults(kc *kubeletv1beta1.KubeletConfiguration) (filled []string) {
	fill := func(p string) { filled = append(filled, p) }
	if kc.Authentication.Anonymous.Enabled == nil {
		kc.Authentication.Anonymous.Enabled = ptr(false)
		fill("authentication.anonymous.enabled")
	}
	if kc.Authentication.Webhook.Enabled == nil {
		kc.Authentication.Webhook.Enabled = ptr(true)
		fill("authentication.webhook.enabled")
	}
	if kc.Authorization.Mode == "" {
		kc.Authorization.Mode = kubeletv1beta1.KubeletAuthorizationModeWebhook
		fill("authorization.mode")
	}
	if kc.EventRecordQPS == nil {
		kc.EventRecordQPS = ptr[int32](50)
		fill("eventRecordQPS")
	}
	if kc.StreamingConnectionIdleTimeout == (metav1.Duration{}) {
		kc.StreamingConnectionIdleTimeout = metav1.Duration{Duration: 4 * time.Hour}
		fill("streamingConnectionIdleTimeout")
	}
	if kc.PodPidsLimit == nil || *kc.PodPidsLimit < 0 {
		kc.PodPidsLimit = ptr[int64](-1)
		fill("podPidsLimit")
	}
	if kc.MakeIPTablesUtilChains == nil {
		kc.MakeIPTablesUtilChains = ptr(true)
		fill("makeIPTablesUtilChains")
	}
	if kc.SeccompDefault == nil {
		kc.SeccompDefault = ptr(false)
		fill("seccompDefault")
	}
	if kc.Address == "" {
		kc.Address = "0.0.0.0"
		fill("address")
	}
	if kc.Port == 0 {
		kc.Port = 10250
		fill("port")
	}
	return filled
}

// setLegacyDefaults is the flags-only starting point: the versioned defaults
// overridden by the legacy command-line defaults.
func setLegacyDefaults(kc *kubeletv1beta1.KubeletConfiguration) {
	setDefaults(kc)
	kc.Authentication.Anonymous.Enabled = ptr(legacyAnonymousAuth)
	kc.Authentication.Webhook.Enabled = ptr(legacyWebhookAuthn)
	kc.Authorization.Mode = legacyAuthorizationMode
	kc.ReadOnlyPort = legacyReadOnlyPort
}

// legacyDefaulted are the paths whose flags-only default differs.
var legacyDefaulted = map[string]bool{
	"authentication.anonymous.enabled": true,
	"authentication.webhook.enabled":   true,
	"authorization.mode":               true,
	"readOnlyPort":                     true,
}

func ptr[T any](v T) *T { return &v }
