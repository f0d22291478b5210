"""Functions on a Kubernetes cluster: the ``knative`` backend, the ``kaniko`` builder, custom triggers as
ContainerSources, over a small client of the Kubernetes API (``kubernetes``)."""
