// Command pause is the sandbox image of the test node's pods (containerd's sandbox_image): it holds
// the pod's namespaces open and exits on SIGTERM or SIGINT. knative.sh builds it: no registry
// serves the upstream pause image here.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	<-signals
}
