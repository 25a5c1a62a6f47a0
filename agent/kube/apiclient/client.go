// Package apiclient is the agent's Kubernetes API client: exactly the calls
// nodeguard makes, over client-go's rest.RESTClient, with a scheme that knows
// only the four API groups it uses.
//
// client-go's typed clientset would do the same calls, but linking it brings
// every typed client and k8s.io/client-go/kubernetes/scheme, whose init
// registers all of the API's groups in every process (nodeguard scan and
// version included): a bigger binary, a slower start and more resident memory
// for an agent that talks to four resources. docs/operations.md has the figures.
package apiclient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
)

// The scheme knows the groups below and nothing else. It is built on the
// first New, not at init, so `nodeguard scan` and `version` never pay for it.
var (
	schemeOnce sync.Once
	codecs     serializer.CodecFactory
	params     runtime.ParameterCodec
)

func buildScheme() {
	s := runtime.NewScheme()
	// Status and the option types, as the API server sends and takes them.
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, eventsv1.AddToScheme, authenticationv1.AddToScheme, authorizationv1.AddToScheme,
		openreportsv1alpha1.AddToScheme,
	} {
		utilruntime.Must(add(s))
	}
	codecs = serializer.NewCodecFactory(s)
	params = runtime.NewParameterCodec(s)
}

// Client makes the agent's API calls. All group-versions share one HTTP
// client (one connection pool) and one rate limiter, as the clientset's do,
// so --kube-qps and --kube-burst bound the agent as a whole.
type Client struct {
	host string
	core *rest.RESTClient // /api/v1
	// coreWatch is core without the config's overall Timeout, which would
	// cut every watch after it (and have the informer re-watch every 30s);
	// a watch ends with the timeout the reflector asks the server for.
	coreWatch *rest.RESTClient
	events    *rest.RESTClient // /apis/events.k8s.io/v1
	authn     *rest.RESTClient // /apis/authentication.k8s.io/v1
	authz     *rest.RESTClient // /apis/authorization.k8s.io/v1
	reports   *rest.RESTClient // /apis/openreports.io/v1alpha1 (a CRD: JSON only)
}

// New makes a client for cfg (which it does not change).
func New(cfg *rest.Config) (*Client, error) {
	schemeOnce.Do(buildScheme)
	c := *cfg
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	if c.RateLimiter == nil {
		switch {
		case c.QPS > 0:
			if c.Burst <= 0 {
				return nil, fmt.Errorf("kube client: burst must be positive when QPS (%g) is set", c.QPS)
			}
			c.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(c.QPS, c.Burst)
		case c.QPS == 0: // rest.Config's defaults
			burst := c.Burst
			if burst == 0 {
				burst = rest.DefaultBurst
			}
			c.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(rest.DefaultQPS, burst)
		}
		// A negative QPS means no limit, as in rest.Config.
	}
	httpClient, err := rest.HTTPClientFor(&c)
	if err != nil {
		return nil, err
	}
	// The same connections, without the overall timeout.
	watchClient := *httpClient
	watchClient.Timeout = 0
	out := &Client{host: c.Host}
	for _, g := range []struct {
		into    **rest.RESTClient
		http    *http.Client
		apiPath string
		gv      schema.GroupVersion
		proto   bool
	}{
		// Protobuf where the payloads are big (pod lists and watches,
		// nodes); the small review and Event objects stay JSON.
		{&out.core, httpClient, "/api", corev1.SchemeGroupVersion, true},
		{&out.coreWatch, &watchClient, "/api", corev1.SchemeGroupVersion, true},
		{&out.events, httpClient, "/apis", eventsv1.SchemeGroupVersion, false},
		{&out.authn, httpClient, "/apis", authenticationv1.SchemeGroupVersion, false},
		{&out.authz, httpClient, "/apis", authorizationv1.SchemeGroupVersion, false},
		{&out.reports, httpClient, "/apis", openreportsv1alpha1.SchemeGroupVersion, false},
	} {
		gc := c
		gv := g.gv
		gc.GroupVersion, gc.APIPath = &gv, g.apiPath
		gc.NegotiatedSerializer = codecs.WithoutConversion()
		if g.proto && gc.ContentType == "" {
			gc.ContentType = runtime.ContentTypeProtobuf
			gc.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
		}
		rc, err := rest.RESTClientForConfigAndClient(&gc, g.http)
		if err != nil {
			return nil, err
		}
		*g.into = rc
	}
	return out, nil
}

// Host is the API server's address, for log lines.
func (c *Client) Host() string { return c.host }

// GetNode reads a Node.
func (c *Client) GetNode(ctx context.Context, name string) (*corev1.Node, error) {
	out := &corev1.Node{}
	err := c.core.Get().Resource("nodes").Name(name).
		VersionedParams(&metav1.GetOptions{}, params).Do(ctx).Into(out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PatchNodeStatus applies a strategic merge patch to a Node's status
// subresource and returns the Node the API server stored.
func (c *Client) PatchNodeStatus(ctx context.Context, name string, patch []byte, fieldManager string) (*corev1.Node, error) {
	out := &corev1.Node{}
	err := c.core.Patch(types.StrategicMergePatchType).Resource("nodes").Name(name).SubResource("status").
		VersionedParams(&metav1.PatchOptions{FieldManager: fieldManager}, params).
		Body(patch).Do(ctx).Into(out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListPods lists pods in every namespace.
func (c *Client) ListPods(ctx context.Context, opts metav1.ListOptions) (*corev1.PodList, error) {
	out := &corev1.PodList{}
	err := c.core.Get().Resource("pods").VersionedParams(&opts, params).
		Timeout(timeoutOf(opts)).Do(ctx).Into(out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// WatchPods watches pods in every namespace.
func (c *Client) WatchPods(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	opts.Watch = true
	return c.coreWatch.Get().Resource("pods").VersionedParams(&opts, params).
		Timeout(timeoutOf(opts)).Watch(ctx)
}

// timeoutOf is the client-side timeout a list or watch asks the server for
// (the reflector sets one on its watches), as the typed clients use it.
func timeoutOf(opts metav1.ListOptions) time.Duration {
	if opts.TimeoutSeconds == nil {
		return 0
	}
	return time.Duration(*opts.TimeoutSeconds) * time.Second
}

// CreateEvent creates an events.k8s.io/v1 Event in its namespace.
func (c *Client) CreateEvent(ctx context.Context, ev *eventsv1.Event) (*eventsv1.Event, error) {
	out := &eventsv1.Event{}
	err := c.events.Post().Namespace(ev.Namespace).Resource("events").
		VersionedParams(&metav1.CreateOptions{}, params).Body(ev).Do(ctx).Into(out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PatchEvent applies a strategic merge patch to an Event.
func (c *Client) PatchEvent(ctx context.Context, namespace, name string, patch []byte) (*eventsv1.Event, error) {
	out := &eventsv1.Event{}
	err := c.events.Patch(types.StrategicMergePatchType).Namespace(namespace).Resource("events").Name(name).
		VersionedParams(&metav1.PatchOptions{}, params).Body(patch).Do(ctx).Into(out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CreateTokenReview asks the API server who a token belongs to.
func (c *Client) CreateTokenReview(ctx context.Context, tr *authenticationv1.TokenReview) (*authenticationv1.TokenReview, error) {
	out := &authenticationv1.TokenReview{}
	err := c.authn.Post().Resource("tokenreviews").
		VersionedParams(&metav1.CreateOptions{}, params).Body(tr).Do(ctx).Into(out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CreateSubjectAccessReview asks the API server whether a user may do something.
func (c *Client) CreateSubjectAccessReview(ctx context.Context, sar *authorizationv1.SubjectAccessReview) (*authorizationv1.SubjectAccessReview, error) {
	out := &authorizationv1.SubjectAccessReview{}
	err := c.authz.Post().Resource("subjectaccessreviews").
		VersionedParams(&metav1.CreateOptions{}, params).Body(sar).Do(ctx).Into(out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListNodes lists Nodes (nodeguard report).
func (c *Client) ListNodes(ctx context.Context, opts metav1.ListOptions) (*corev1.NodeList, error) {
	out := &corev1.NodeList{}
	err := c.core.Get().Resource("nodes").VersionedParams(&opts, params).Do(ctx).Into(out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// OpenReportsServed tells whether the API server serves OpenReports'
// ClusterReports (its CRD is installed). A group the server does not know
// answers 404, which is false and no error.
func (c *Client) OpenReportsServed(ctx context.Context) (bool, error) {
	list := &metav1.APIResourceList{}
	body, err := c.reports.Get().AbsPath("/apis", openreportsv1alpha1.GroupName, openreportsv1alpha1.GroupVersion.Version).DoRaw(ctx)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(body, list); err != nil {
		return false, fmt.Errorf("discovery of %s: %w", openreportsv1alpha1.GroupVersion, err)
	}
	for _, r := range list.APIResources {
		if r.Name == "clusterreports" {
			return true, nil
		}
	}
	return false, nil
}

// GetClusterReport reads an OpenReports ClusterReport.
func (c *Client) GetClusterReport(ctx context.Context, name string) (*openreportsv1alpha1.ClusterReport, error) {
	out := &openreportsv1alpha1.ClusterReport{}
	err := c.reports.Get().Resource("clusterreports").Name(name).
		VersionedParams(&metav1.GetOptions{}, params).Do(ctx).Into(out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ApplyClusterReport creates or replaces the fields fieldManager owns in a
// ClusterReport with one server-side apply: one request whether or not the
// object exists. Conflicts with other managers are forced (the agent owns
// its node's report).
func (c *Client) ApplyClusterReport(ctx context.Context, rep *openreportsv1alpha1.ClusterReport, fieldManager string) (*openreportsv1alpha1.ClusterReport, error) {
	body, err := json.Marshal(rep)
	if err != nil {
		return nil, err
	}
	force := true
	out := &openreportsv1alpha1.ClusterReport{}
	err = c.reports.Patch(types.ApplyPatchType).Resource("clusterreports").Name(rep.Name).
		VersionedParams(&metav1.PatchOptions{FieldManager: fieldManager, Force: &force}, params).
		Body(body).Do(ctx).Into(out)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListClusterReports lists ClusterReports (nodeguard report).
func (c *Client) ListClusterReports(ctx context.Context, opts metav1.ListOptions) (*openreportsv1alpha1.ClusterReportList, error) {
	out := &openreportsv1alpha1.ClusterReportList{}
	err := c.reports.Get().Resource("clusterreports").VersionedParams(&opts, params).Do(ctx).Into(out)
	if err != nil {
		return nil, err
	}
	return out, nil
}
