package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestErrorReason(t *testing.T) {
	nodes := schema.GroupResource{Resource: "nodes"}
	refused := &url.Error{Op: "Get", URL: "https://127.0.0.1:6443", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}
	for _, c := range []struct {
		err  error
		want string
	}{
		{apierrors.NewUnauthorized("bad token"), ReasonUnauthorized},
		{apierrors.NewForbidden(nodes, "n1", errors.New("no")), ReasonForbidden},
		{apierrors.NewNotFound(nodes, "n1"), ReasonNodeNotFound},
		{apierrors.NewTooManyRequests("slow down", 1), ReasonTooManyRequests},
		{apierrors.NewServiceUnavailable("starting"), ReasonServerError},
		{apierrors.NewInternalError(errors.New("etcd")), ReasonServerError},
		{apierrors.NewTimeoutError("slow", 1), ReasonTimeout},
		{fmt.Errorf("get: %w", context.DeadlineExceeded), ReasonTimeout},
		{apierrors.NewBadRequest("bad patch"), ReasonRejected},
		{refused, ReasonUnreachable},
	} {
		if got := ErrorReason(c.err); got != c.want {
			t.Errorf("ErrorReason(%v) = %s, want %s", c.err, got, c.want)
		}
	}
}

func TestRoleFromLabels(t *testing.T) {
	for labels, want := range map[string]string{
		"node-role.kubernetes.io/control-plane": "control-plane",
		"node-role.kubernetes.io/master":        "control-plane",
		"node-role.kubernetes.io/worker":        "worker",
		"":                                      "worker",
	} {
		r, reason := RoleFromLabels(map[string]string{labels: ""})
		if string(r) != want || reason == "" {
			t.Errorf("labels %q: %s (%s), want %s", labels, r, reason, want)
		}
	}
}
