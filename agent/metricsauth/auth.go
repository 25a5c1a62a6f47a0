package metricsauth

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/util/cache"
)

// Defaults of Delegating. A granted scrape is remembered for a minute (a
// revoked binding takes effect within that); a denial only briefly, so a
// newly granted Prometheus is not locked out for long.
const (
	DefaultAllowTTL  = time.Minute
	DefaultDenyTTL   = 10 * time.Second
	DefaultCacheSize = 256
	reviewTimeout    = 10 * time.Second
)

// Reviewer asks the API server about a token and what its user may do;
// apiclient.Client is one.
type Reviewer interface {
	CreateTokenReview(ctx context.Context, tr *authenticationv1.TokenReview) (*authenticationv1.TokenReview, error)
	CreateSubjectAccessReview(ctx context.Context, sar *authorizationv1.SubjectAccessReview) (*authorizationv1.SubjectAccessReview, error)
}

// Delegating lets the API server decide who may read an endpoint: the
// bearer token must pass a TokenReview, and its user must be allowed the
// request's verb on the request's path (non-resource URL) by a
// SubjectAccessReview. Requests to /metrics map to "get /metrics", exactly
// what a ClusterRole with nonResourceURLs ["/metrics"] and verb get grants.
type Delegating struct {
	Client Reviewer
	// Audiences, when set, are the token audiences the agent accepts; empty
	// means the API server's own audiences.
	Audiences []string
	AllowTTL  time.Duration
	DenyTTL   time.Duration
	Log       zerolog.Logger

	cache *cache.LRUExpireCache
}

// NewDelegating is a Delegating with the default TTLs and a cache of
// cacheSize decisions (least recently used evicted first).
func NewDelegating(client Reviewer, cacheSize int, log zerolog.Logger) *Delegating {
	if cacheSize < 1 {
		cacheSize = DefaultCacheSize
	}
	return &Delegating{
		Client: client, AllowTTL: DefaultAllowTTL, DenyTTL: DefaultDenyTTL, Log: log,
		cache: cache.NewLRUExpireCache(cacheSize),
	}
}

// decision is what a token may do on one verb and path.
type decision struct {
	status int // http.StatusOK, StatusUnauthorized or StatusForbidden
	user   string
	reason string
}

// Wrap protects next.
func (d *Delegating) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		verb, ok := verbOf(r.Method)
		if !ok {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		token, ok := bearerToken(r)
		if !ok {
			unauthorized(w)
			return
		}
		dec, err := d.decide(r.Context(), token, verb, r.URL.Path)
		if err != nil {
			d.Log.Error().Err(err).Str("path", r.URL.Path).Msg("cannot review a metrics request with the API server")
			http.Error(w, "cannot verify the request with the Kubernetes API", http.StatusServiceUnavailable)
			return
		}
		switch dec.status {
		case http.StatusOK:
			next.ServeHTTP(w, r)
		case http.StatusUnauthorized:
			unauthorized(w)
		default:
			http.Error(w, "Forbidden: "+dec.user+" may not "+verb+" "+r.URL.Path, http.StatusForbidden)
		}
	})
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="nodeguard"`)
	http.Error(w, "Unauthorized", http.StatusUnauthorized)
}

// verbOf maps the HTTP method to the authorization verb, as the API server
// does for non-resource requests; a metrics endpoint only serves reads.
func verbOf(method string) (string, bool) {
	switch method {
	case http.MethodGet, http.MethodHead:
		return "get", true
	}
	return "", false
}

func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// decide returns the cached decision or asks the API server. Errors (the API
// server unreachable) are not cached: the next scrape asks again.
func (d *Delegating) decide(ctx context.Context, token, verb, path string) (decision, error) {
	// The cache is keyed by a digest: raw tokens are not kept around.
	sum := sha256.Sum256([]byte(token + "\x00" + verb + "\x00" + path))
	key := string(sum[:])
	if v, ok := d.cache.Get(key); ok {
		return v.(decision), nil
	}
	dec, err := d.review(ctx, token, verb, path)
	if err != nil {
		return decision{}, err
	}
	ttl := d.DenyTTL
	if dec.status == http.StatusOK {
		ttl = d.AllowTTL
	}
	d.cache.Add(key, dec, ttl)
	ev := d.Log.Info()
	if dec.status == http.StatusOK {
		ev = d.Log.Debug()
	}
	ev.Int("status", dec.status).Str("user", dec.user).Str("reason", dec.reason).Str("path", path).Msg("metrics request reviewed")
	return dec, nil
}

func (d *Delegating) review(ctx context.Context, token, verb, path string) (decision, error) {
	ctx, cancel := context.WithTimeout(ctx, reviewTimeout)
	defer cancel()
	tr, err := d.Client.CreateTokenReview(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: d.Audiences},
	})
	if err != nil {
		return decision{}, err
	}
	if !tr.Status.Authenticated {
		return decision{status: http.StatusUnauthorized, reason: tr.Status.Error}, nil
	}
	if len(d.Audiences) > 0 && !intersects(d.Audiences, tr.Status.Audiences) {
		return decision{status: http.StatusUnauthorized, user: tr.Status.User.Username, reason: "token audiences do not match"}, nil
	}
	u := tr.Status.User
	extra := make(map[string]authorizationv1.ExtraValue, len(u.Extra))
	for k, v := range u.Extra {
		extra[k] = authorizationv1.ExtraValue(v)
	}
	sar, err := d.Client.CreateSubjectAccessReview(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User: u.Username, UID: u.UID, Groups: u.Groups, Extra: extra,
			NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: path, Verb: verb},
		},
	})
	if err != nil {
		return decision{}, err
	}
	if !sar.Status.Allowed || sar.Status.Denied {
		return decision{status: http.StatusForbidden, user: u.Username, reason: sar.Status.Reason}, nil
	}
	return decision{status: http.StatusOK, user: u.Username, reason: sar.Status.Reason}, nil
}

func intersects(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}
