// Package metricsauth secures the agent's /metrics endpoint: HTTPS with a
// certificate reloaded when its files change (or a self-signed one kept in
// memory), and delegated authentication and authorization as kube-rbac-proxy
// does it: a TokenReview of the bearer token, then a SubjectAccessReview for
// the request's verb on the non-resource URL, with decisions cached briefly.
package metricsauth
