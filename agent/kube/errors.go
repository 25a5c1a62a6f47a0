package kube

import (
	"context"
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Values of the reason label of nodeguard_kube_sync_errors_total.
const (
	ReasonUnauthorized    = "Unauthorized"
	ReasonForbidden       = "Forbidden"
	ReasonNodeNotFound    = "NodeNotFound"
	ReasonUnreachable     = "Unreachable"
	ReasonTimeout         = "Timeout"
	ReasonTooManyRequests = "TooManyRequests"
	ReasonServerError     = "ServerError"
	ReasonRejected        = "Rejected"
)

var syncErrorReasons = []string{
	ReasonUnauthorized, ReasonForbidden, ReasonNodeNotFound, ReasonUnreachable,
	ReasonTimeout, ReasonTooManyRequests, ReasonServerError, ReasonRejected,
}

// ErrorReason classifies a failed API call into a bounded set of reasons.
func ErrorReason(err error) string {
	var status apierrors.APIStatus
	switch {
	case apierrors.IsUnauthorized(err):
		return ReasonUnauthorized
	case apierrors.IsForbidden(err):
		return ReasonForbidden
	case apierrors.IsNotFound(err):
		return ReasonNodeNotFound
	case apierrors.IsTooManyRequests(err):
		return ReasonTooManyRequests
	case apierrors.IsTimeout(err), apierrors.IsServerTimeout(err), errors.Is(err, context.DeadlineExceeded):
		return ReasonTimeout
	case apierrors.IsInternalError(err), apierrors.IsServiceUnavailable(err), apierrors.IsUnexpectedServerError(err):
		return ReasonServerError
	case errors.As(err, &status):
		return ReasonRejected // the API server answered, with something else (400, 409, 422...)
	}
	return ReasonUnreachable // transport errors: refused, reset, DNS, TLS
}

// explain is the log line for a kind of failure: what it means and what to do.
func explain(reason string) string {
	switch reason {
	case ReasonUnauthorized:
		return "the API server rejected the agent's credentials (401 Unauthorized); check --kubeconfig or the service account token. Node conditions are retried with backoff; scans and /metrics go on"
	case ReasonForbidden:
		return "the API server denied the agent (403 Forbidden); bind it to the ClusterRole in manifests/rbac.yaml (get nodes, patch nodes/status, create and patch events). Node conditions are retried with backoff; scans and /metrics go on"
	case ReasonNodeNotFound:
		return "the node does not exist in the API; check --node-name (or NODE_NAME). Retrying with backoff"
	case ReasonUnreachable, ReasonTimeout:
		return "the Kubernetes API is unreachable; node conditions are resynced when it returns (backoff with jitter); scans and /metrics go on"
	}
	return "syncing node conditions failed; retrying with backoff"
}
