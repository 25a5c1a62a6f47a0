package kube

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/nodeguard/nodeguard/agent/kube/apiclient"
	"github.com/nodeguard/nodeguard/integration/kubeenv"
)

// The package's API tests run against a real kube-apiserver and etcd
// (integration/kubeenv); client-go's clientset is only used to arrange and
// check, as an administrator would with kubectl.

type testAPI struct {
	env   *kubeenv.Env
	admin kubernetes.Interface
}

func startAPI(t *testing.T) *testAPI {
	t.Helper()
	env := kubeenv.Start(t)
	return &testAPI{env: env, admin: env.Client(t, env.Admin)}
}

// client is the agent's client for a kubeconfig (the admin's when empty);
// reqs, when not nil, records every request it sends.
func (a *testAPI) client(t *testing.T, kubeconfig string, reqs *requestLog) *apiclient.Client {
	t.Helper()
	if kubeconfig == "" {
		kubeconfig = a.env.Admin
	}
	cfg := a.env.RESTConfig(t, kubeconfig)
	if reqs != nil {
		cfg.WrapTransport = reqs.wrap
	}
	return newClient(t, cfg)
}

func newClient(t *testing.T, cfg *rest.Config) *apiclient.Client {
	t.Helper()
	c, err := apiclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (a *testAPI) createNode(t *testing.T, name string, labels map[string]string, conds ...corev1.NodeCondition) {
	t.Helper()
	ctx := context.Background()
	n, err := a.admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(conds) == 0 {
		return
	}
	n.Status.Conditions = conds
	if _, err := a.admin.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// createNamespace makes a namespace pods can be created in.
func (a *testAPI) createNamespace(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	if _, err := a.admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// No controller manager here to make the namespace's default service account.
	if _, err := a.admin.CoreV1().ServiceAccounts(name).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// userWith returns a kubeconfig of a new user granted exactly rules.
func (a *testAPI) userWith(t *testing.T, user string, rules ...rbacv1.PolicyRule) string {
	t.Helper()
	ctx := context.Background()
	if _, err := a.admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: user}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: user},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: user}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return a.env.Kubeconfig(t, user)
}

// events lists the Events in a namespace about the object named regarding.
func (a *testAPI) events(t *testing.T, namespace, regarding string) []eventsv1.Event {
	t.Helper()
	list, err := a.admin.EventsV1().Events(namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == regarding {
			out = append(out, e)
		}
	}
	return out
}

func (a *testAPI) conditionOf(t *testing.T, node string, typ corev1.NodeConditionType) *corev1.NodeCondition {
	t.Helper()
	n, err := a.admin.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == typ {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

// requestLog records the requests a client sends.
type requestLog struct {
	mu   sync.Mutex
	reqs []*url.URL
	verb []string
}

func (l *requestLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		l.mu.Lock()
		l.reqs = append(l.reqs, r.URL)
		l.verb = append(l.verb, r.Method)
		l.mu.Unlock()
		return rt.RoundTrip(r)
	})
}

// take returns "METHOD /path" of each request since the last take.
func (l *requestLog) take() []string {
	var out []string
	for _, u := range l.takeURLs() {
		out = append(out, u.method+" "+u.Path)
	}
	return out
}

type loggedRequest struct {
	method string
	*url.URL
}

func (l *requestLog) takeURLs() []loggedRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []loggedRequest
	for i, u := range l.reqs {
		out = append(out, loggedRequest{l.verb[i], u})
	}
	l.reqs, l.verb = nil, nil
	return out
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
