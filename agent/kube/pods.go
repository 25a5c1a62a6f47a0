package kube

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/nodeguard/nodeguard/agent/kube/apiclient"
)

const containerIDIndex = "containerID"

// PodIndex names the pod and container of a container id, from an informer
// on the pods of this node only (field selector spec.nodeName), so the agent
// never holds the cluster's pods. It implements runtime.PodResolver.
type PodIndex struct {
	informer cache.SharedIndexInformer
	log      zerolog.Logger
	synced   atomic.Bool
	errOnce  sync.Map // reason -> struct{}: one log line per kind of failure
}

// NewPodIndex makes the index of node's pods; Run fills it.
func NewPodIndex(client *apiclient.Client, node string, log zerolog.Logger) (*PodIndex, error) {
	if client == nil || node == "" {
		return nil, errors.New("kube: pod index needs a client and a node name")
	}
	onNode := fields.OneTermEqualSelector("spec.nodeName", node).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = onNode
			list, err := client.ListPods(ctx, o)
			if err != nil {
				return nil, err // not a typed nil in the interface
			}
			return list, nil
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = onNode
			return client.WatchPods(ctx, o)
		},
	}
	inf := cache.NewSharedIndexInformerWithOptions(lw, &corev1.Pod{}, cache.SharedIndexInformerOptions{
		Indexers: cache.Indexers{containerIDIndex: podContainerIDs},
	})
	// Only names and container ids are looked up: keep the cache small on
	// nodes with many pods.
	if err := inf.SetTransform(trimPod); err != nil {
		return nil, err
	}
	p := &PodIndex{informer: inf, log: log.With().Str("component", "pods").Logger()}
	// client-go retries a failed list or watch itself with backoff; say once
	// per kind of failure what it means (klog's own lines go to debug).
	if err := inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		reason := ErrorReason(err)
		ev := p.log.Debug()
		if _, seen := p.errOnce.LoadOrStore(reason, struct{}{}); !seen {
			ev = p.log.Warn()
		}
		ev.Err(err).Str("reason", reason).Msg("listing this node's pods failed; runtime events lack pod names until it succeeds (needs list and watch on pods)")
	}); err != nil {
		return nil, err
	}
	return p, nil
}

// Run fills the index until ctx ends, and returns once the informer has stopped.
func (p *PodIndex) Run(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		p.informer.RunWithContext(ctx)
		close(done)
	}()
	if cache.WaitForCacheSync(ctx.Done(), p.informer.HasSynced) {
		p.synced.Store(true)
		p.log.Info().Int("pods", len(p.informer.GetStore().ListKeys())).Msg("pod informer synced: runtime events name their pods")
	}
	<-done
}

// Synced reports whether the first list has been read.
func (p *PodIndex) Synced() bool { return p.synced.Load() }

// Lookup names the pod and container of a container id (64 hex, without a
// runtime prefix).
func (p *PodIndex) Lookup(containerID string) (namespace, pod, container string, ok bool) {
	if containerID == "" {
		return "", "", "", false
	}
	objs, err := p.informer.GetIndexer().ByIndex(containerIDIndex, containerID)
	if err != nil {
		return "", "", "", false
	}
	for _, o := range objs {
		po, isPod := o.(*corev1.Pod)
		if !isPod {
			continue
		}
		for _, st := range allStatuses(po) {
			if StripRuntimePrefix(st.ContainerID) == containerID {
				return po.Namespace, po.Name, st.Name, true
			}
		}
	}
	return "", "", "", false
}

// StripRuntimePrefix turns a container status's containerID
// ("containerd://<id>", "cri-o://<id>", "docker://<id>") into the bare id the
// cgroup names carry.
func StripRuntimePrefix(id string) string {
	if _, rest, found := strings.Cut(id, "://"); found {
		return rest
	}
	return id
}

func allStatuses(p *corev1.Pod) []corev1.ContainerStatus {
	var out []corev1.ContainerStatus
	out = append(out, p.Status.InitContainerStatuses...)
	out = append(out, p.Status.ContainerStatuses...)
	// kubectl debug's ephemeral containers: where shells are most expected.
	return append(out, p.Status.EphemeralContainerStatuses...)
}

func podContainerIDs(obj any) ([]string, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	var ids []string
	for _, st := range allStatuses(p) {
		if id := StripRuntimePrefix(st.ContainerID); id != "" {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// trimPod keeps what Lookup needs.
func trimPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil // a tombstone on delete
	}
	trim := func(in []corev1.ContainerStatus) []corev1.ContainerStatus {
		if len(in) == 0 {
			return nil
		}
		out := make([]corev1.ContainerStatus, len(in))
		for i, st := range in {
			out[i] = corev1.ContainerStatus{Name: st.Name, ContainerID: st.ContainerID}
		}
		return out
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion},
		Spec:       corev1.PodSpec{NodeName: p.Spec.NodeName},
		Status: corev1.PodStatus{
			InitContainerStatuses:      trim(p.Status.InitContainerStatuses),
			ContainerStatuses:          trim(p.Status.ContainerStatuses),
			EphemeralContainerStatuses: trim(p.Status.EphemeralContainerStatuses),
		},
	}, nil
}
