//go:build tools

// Package tools pins the node programs knative-build.sh builds from kube.sh's throw-away module
// (kube-controller-manager, kube-scheduler, kubelet). Never imported by anything.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
