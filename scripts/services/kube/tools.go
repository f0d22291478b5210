//go:build tools

// Package tools pins the programs kube.sh builds: the throw-away module
// that kube.sh generates around this file requires them, so `go build` can
// name their main packages. Never imported by anything.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
