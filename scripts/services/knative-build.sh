#!/usr/bin/env bash
# Build, once per version, the programs of a real Knative node for knflow's tests, from the Go
# module proxy (nothing else is reachable here), cached under ~/.cache/knflow/:
#   knative-<serving version>/bin   webhook controller queue activator autoscaler (knative.dev/serving)
#   oci-<versions>/bin              registry (distribution v3) and crane (go-containerregistry)
#   kube-<version>/node-bin         kube-controller-manager kube-scheduler kubelet (k8s.io/kubernetes,
#                                   the release kube.sh builds the API server of)
#   knative-build.sh [knative|oci|node|all]   (default all; each part is a no-op once cached)
# Builds run niced with `go build -p 1`: they overlap the rest of `make test`'s start on 2 cores.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SERVING_VERSION="${KNFLOW_KNATIVE_SERVING_VERSION:-v0.50.0}"
KUBE_VERSION="${KNFLOW_KUBE_VERSION:-v1.34.4}"
REGISTRY_VERSION="${KNFLOW_REGISTRY_VERSION:-v3.1.2}"
CRANE_VERSION="${KNFLOW_CRANE_VERSION:-v0.22.1}"
CACHE_ROOT="$HOME/.cache/knflow"
KNATIVE_BIN="$CACHE_ROOT/knative-$SERVING_VERSION/bin"
OCI_BIN="$CACHE_ROOT/oci-registry-$REGISTRY_VERSION-crane-$CRANE_VERSION/bin"
NODE_BIN="$CACHE_ROOT/kube-$KUBE_VERSION/node-bin"

die() { echo "knative-build.sh: $*" >&2; exit 1; }
log_tail() { echo "---- tail of $1 ----" >&2; tail -n 40 "$1" 2>/dev/null | cut -c1-400 >&2 || true; }

export GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || die "go is needed (Debian: golang-go); kube.sh installs it"

# Every program named (a package path, a @version allowed) is built in DIR.
all_there() {
    local dir="$1" p
    shift
    for p in "$@"; do [[ -x "$dir/$(basename "${p%@*}")" ]] || return 1; done
}

# go install PKG@VERSION... into DEST once, under a lock; NAME is what the log says.
install_once() {
    local dest="$1" name="$2"
    shift 2
    all_there "$dest" "$@" && return 0
    mkdir -p "$(dirname "$dest")"
    (
        flock 8
        all_there "$dest" "$@" && exit 0
        local started=$SECONDS log
        log="$(dirname "$dest")/build.log"
        echo "knative-build.sh: building $name (first run only)" >&2
        rm -rf "$dest.tmp"
        mkdir -p "$dest.tmp"
        : >"$log"
        # One go install per module: it takes several packages only of one module version.
        local module
        for module in $(printf '%s\n' "$@" | sed 's|/cmd/[^@]*@|@|' | sort -u); do
            GOBIN="$dest.tmp" nice -n 10 go install -p 1 -trimpath -ldflags "-s -w" \
                $(printf '%s\n' "$@" | awk -v m="$module" '{ p = $0; sub(/\/cmd\/[^@]*@/, "@", p); if (p == m) print $0 }') \
                >>"$log" 2>&1 || { log_tail "$log"; die "building $name failed"; }
        done
        rm -rf "$dest"
        mv "$dest.tmp" "$dest"
        echo "knative-build.sh: $name built in $((SECONDS - started)) s into $dest" >&2
    ) 8>"$(dirname "$dest").lock"
}

build_knative() {
    local s="knative.dev/serving/cmd"
    install_once "$KNATIVE_BIN" "Knative Serving $SERVING_VERSION" \
        "$s/webhook@$SERVING_VERSION" "$s/controller@$SERVING_VERSION" "$s/queue@$SERVING_VERSION" \
        "$s/activator@$SERVING_VERSION" "$s/autoscaler@$SERVING_VERSION"
}

build_oci() {
    install_once "$OCI_BIN" "the OCI registry and crane" \
        "github.com/distribution/distribution/v3/cmd/registry@$REGISTRY_VERSION" \
        "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION"
}

# The node's programs come from the same throw-away module kube.sh writes for the API server (its
# staging replaces cannot be expressed with go install), after that build: they share most packages.
build_node() {
    local names=(kube-controller-manager kube-scheduler kubelet)
    all_there "$NODE_BIN" "${names[@]}" && return 0
    "$HERE/kube.sh" build
    local cache="$CACHE_ROOT/kube-$KUBE_VERSION"
    (
        flock 8
        all_there "$NODE_BIN" "${names[@]}" && exit 0
        local started=$SECONDS ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION"
        ldflags+=" -X k8s.io/component-base/version.gitMajor=1"
        ldflags+=" -X k8s.io/component-base/version.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2)"
        ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
        echo "knative-build.sh: building ${names[*]} $KUBE_VERSION (first run only)" >&2
        rm -rf "$NODE_BIN.tmp"
        mkdir -p "$NODE_BIN.tmp"
        cp "$HERE/kube/node_tools.go" "$cache/src/node_tools.go"
        (
            cd "$cache/src"
            nice -n 10 go build -p 1 -trimpath -ldflags "$ldflags" -o "$NODE_BIN.tmp/" \
                k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
                k8s.io/kubernetes/cmd/kubelet
        ) >"$cache/node-build.log" 2>&1 || { log_tail "$cache/node-build.log"; die "building the node failed"; }
        rm -rf "$NODE_BIN"
        mv "$NODE_BIN.tmp" "$NODE_BIN"
        echo "knative-build.sh: node built in $((SECONDS - started)) s into $NODE_BIN" >&2
    ) 8>"$cache/node.lock"
}

case "${1:-all}" in
    knative) build_knative ;;
    oci) build_oci ;;
    node) build_node ;;
    all) build_knative; build_oci; build_node ;;
    env)
        echo "export KNFLOW_KNATIVE_BIN=$KNATIVE_BIN"
        echo "export KNFLOW_OCI_BIN=$OCI_BIN"
        echo "export KNFLOW_NODE_BIN=$NODE_BIN"
        ;;
    *) echo "usage: $0 [knative|oci|node|all|env]" >&2; exit 2 ;;
esac
