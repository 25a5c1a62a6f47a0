package kube

import (
	"errors"
	"fmt"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ErrNoConfig means neither a kubeconfig nor an in-cluster service account
// was found: the agent is not on a Kubernetes node it can talk to.
var ErrNoConfig = errors.New("no Kubernetes API configuration: not running in a pod, and neither --kubeconfig nor KUBECONFIG is set")

// RESTConfig finds the API: --kubeconfig, else the pod's service account,
// else $KUBECONFIG.
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		cfg, err := rest.InClusterConfig()
		if err == nil {
			return cfg, nil
		}
		if !errors.Is(err, rest.ErrNotInCluster) {
			return nil, fmt.Errorf("in-cluster configuration: %w", err)
		}
		kubeconfig = os.Getenv("KUBECONFIG")
		if kubeconfig == "" {
			return nil, ErrNoConfig
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	return cfg, nil
}
