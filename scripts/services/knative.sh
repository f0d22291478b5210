#!/usr/bin/env bash
# A real Knative Serving for knflow's tests: its webhook admits or refuses every object knflow writes,
# its controller reconciles Services into Configurations, Revisions and Deployments.
#   knative.sh start|stop|restart|status|env
# The cluster is a kube-apiserver + etcd of its own (kube.sh's, with other ports and state: the shared
# API server of the other tests keeps no webhook that could refuse their objects), run in a network
# namespace of its own (`ip netns`, named knflow-kn): every Knative process binds :8080 (probes), and
# nothing of it may take a port of the machine. The tests reach the API server through a loopback
# relay (knative/relay.py) on https://127.0.0.1:${KNFLOW_KNATIVE_KUBE_PORT:-17443}.
# Inside the namespace: etcd, the API server and the Knative webhook (reached by the API server through
# a Service of type ExternalName pointing at 127.0.0.1 with an explicit port); the controller runs in a
# namespace of its own too (its probes' :8080 would clash with the webhook's), with a relay to the API.
# Binaries: knative-build.sh (cached per version under ~/.cache/knflow/). State, logs, pid files:
# ${KNFLOW_SERVICES_DIR:-$HOME/.cache/knflow/services}/knative, wiped on every start.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SERVING_VERSION="${KNFLOW_KNATIVE_SERVING_VERSION:-v0.50.0}"
PORT="${KNFLOW_KNATIVE_KUBE_PORT:-17443}"
ETCD_PORT="${KNFLOW_KNATIVE_ETCD_PORT:-13379}"
WEBHOOK_PORT=8443
SERVICES_DIR="${KNFLOW_SERVICES_DIR:-$HOME/.cache/knflow/services}"
BASE="$SERVICES_DIR/knative"
NETNS=knflow-kn
CONTROLLER_NETNS=knflow-kn-controller
START_TIMEOUT="${KNFLOW_KNATIVE_START_TIMEOUT:-180}"
KNATIVE_NAMESPACE=knative-serving

die() { echo "knative.sh: $*" >&2; exit 1; }
log_tail() { echo "---- tail of $1 ----" >&2; tail -n 40 "$1" 2>/dev/null | cut -c1-400 >&2 || true; }

eval "$("$HERE/knative-build.sh" env)"
export GOFLAGS=-mod=mod GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"

# The same API server as kube.sh's, with this cluster's ports and state directory.
kube() {
    KNFLOW_SERVICES_DIR="$BASE" KNFLOW_KUBE_PORT="$PORT" KNFLOW_KUBE_ETCD_PORT="$ETCD_PORT" "$HERE/kube.sh" "$@"
}
kube_env_value() { kube env | sed -n "s/^export $1=//p"; }
kubectl() { "$(kube_env_value KNFLOW_TEST_KUBECTL)" --kubeconfig "$BASE/kube/kubeconfig" "$@"; }

module_dir() { go mod download -json "$1" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p'; }
# knative.dev/networking and knative.dev/caching at the versions serving requires (their CRDs).
required_dir() {
    local version
    version="$(awk -v m="$2" '$1 == m { print $2 }' "$1/go.mod")"
    module_dir "$2@$version"
}

pid_of() {
    local pid
    pid="$(cat "$BASE/$1.pid" 2>/dev/null)" || return 1
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

netns_up() {
    ip netns list | grep -qw "^$1" || ip netns add "$1"
    ip netns exec "$1" ip link set lo up
}

# run NAME NETNS COMMAND...: a daemon in a network namespace, its log and pid file in $BASE.
run() {
    local name="$1" netns="$2"
    shift 2
    # setsid: outlive the caller's process group; 9>&-: don't hold the start lock.
    setsid ip netns exec "$netns" "$@" </dev/null >"$BASE/$name.log" 2>&1 9>&- &
    echo $! >"$BASE/$name.pid"
}

# relay NAME LISTEN CONNECT: a loopback relay between namespaces (see knative/relay.py).
relay() {
    local name="$1"
    setsid python3 "$HERE/knative/relay.py" "$2" "$3" </dev/null >"$BASE/$name.log" 2>&1 9>&- &
    echo $! >"$BASE/$name.pid"
}

# wait_until NAME WHAT COMMAND...: until COMMAND succeeds; fails when the daemon NAME exits meanwhile.
wait_until() {
    local name="$1" what="$2" deadline=$((SECONDS + START_TIMEOUT))
    shift 2
    until "$@" >/dev/null 2>&1; do
        pid_of "$name" >/dev/null || { log_tail "$BASE/$name.log"; die "$what exited during start"; }
        ((SECONDS < deadline)) || { log_tail "$BASE/$name.log"; die "$what not ready within ${START_TIMEOUT}s"; }
        sleep 0.5
    done
}

start_cluster() {
    netns_up "$NETNS"
    # kube.sh builds (once), then starts etcd and the API server on loopback inside the namespace.
    ip netns exec "$NETNS" env KNFLOW_SERVICES_DIR="$BASE" KNFLOW_KUBE_PORT="$PORT" \
        KNFLOW_KUBE_ETCD_PORT="$ETCD_PORT" "$HERE/kube.sh" start 9>&- >"$BASE/kube-start.log" 2>&1 \
        || { log_tail "$BASE/kube-start.log"; die "the API server did not start"; }
    relay api-relay "127.0.0.1:$PORT" "/run/netns/$NETNS@127.0.0.1:$PORT"
    wait_until api-relay "the relay to the API server" kubectl get --raw /readyz
}

# The knative-serving namespace with what the webhook and the controller read: every ConfigMap of
# config/core/configmaps, config-network, the (empty) webhook-certs Secret the webhook fills, the
# networking CRDs and caching's Image CRD, and the webhook configurations with an explicit port.
configure() {
    local serving networking caching
    serving="$(module_dir "knative.dev/serving@$SERVING_VERSION")"
    networking="$(required_dir "$serving" knative.dev/networking)"
    caching="$(required_dir "$serving" knative.dev/caching)"
    [[ -d "$serving" && -d "$networking" && -d "$caching" ]] || die "could not download the Knative modules"
    {
        kubectl create namespace "$KNATIVE_NAMESPACE"
        kubectl apply --server-side -f "$serving/config/core/configmaps/" -f "$networking/config/config-network.yaml" \
            -f "$serving/config/core/webhooks/secret.yaml"
        # No tag resolution: knflow deploys by digest, and the test registry is not the controller's to reach.
        kubectl -n "$KNATIVE_NAMESPACE" patch configmap config-deployment --type merge \
            -p '{"data":{"registries-skipping-tag-resolving":"*"}}'
        kubectl apply --server-side -f "$networking/config/ingress.yaml" -f "$networking/config/serverlessservice.yaml" \
            -f "$networking/config/certificate.yaml" -f "$networking/config/domain-claim.yaml" -f "$caching/config/image.yaml"
        kubectl wait --for condition=Established --timeout 60s crd --all
        kubectl -n "$KNATIVE_NAMESPACE" create service externalname webhook --external-name 127.0.0.1 \
            --tcp "443:$WEBHOOK_PORT"
        local hook
        for hook in defaulting resource-validation configmap-validation; do
            echo "---"
            sed "/^\s*namespace: $KNATIVE_NAMESPACE\$/a\\      port: $WEBHOOK_PORT" "$serving/config/core/webhooks/$hook.yaml"
        done | kubectl apply --server-side -f -
    } >"$BASE/configure.log" 2>&1 || { log_tail "$BASE/configure.log"; die "configuring knative-serving failed"; }
}

knative_env() {
    echo "SYSTEM_NAMESPACE=$KNATIVE_NAMESPACE" "POD_NAME=$1" "CONFIG_LOGGING_NAME=config-logging" \
        "CONFIG_OBSERVABILITY_NAME=config-observability" "KUBECONFIG=$BASE/kube/kubeconfig"
}

# The webhook answers: it refuses a Service that Knative forbids (the schema allows it).
webhook_refuses() {
    local out
    out="$(kubectl create --dry-run=server -f - 2>&1 <<EOF || true
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: probe, namespace: default}
spec:
  template:
    spec:
      containerConcurrency: 1001
      containers: [{image: "registry.test/probe@sha256:0000000000000000000000000000000000000000000000000000000000000000"}]
EOF
)"
    grep -q "containerConcurrency" <<<"$out"
}

start_webhook() {
    # shellcheck disable=SC2046
    run webhook "$NETNS" env $(knative_env webhook-0) WEBHOOK_NAME=webhook WEBHOOK_PORT="$WEBHOOK_PORT" \
        "$KNFLOW_KNATIVE_BIN/webhook"
    wait_until webhook "the Knative webhook" webhook_refuses
}

# kube-controller-manager (Deployments, ReplicaSets, Jobs, Endpoints, ServiceAccounts, garbage collection)
# and kube-scheduler, beside the API server, as the admin.
start_kube_controllers() {
    local pki="$BASE/kube/pki" kubeconfig="$BASE/kube/kubeconfig"
    run kube-controller-manager "$NETNS" "$KNFLOW_NODE_BIN/kube-controller-manager" --kubeconfig "$kubeconfig" \
        --bind-address 127.0.0.1 --cert-dir "$BASE/controller-manager-certs" --leader-elect=false \
        --service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
        --controllers '*' --concurrent-deployment-syncs 2 --node-monitor-grace-period 40s
    run kube-scheduler "$NETNS" "$KNFLOW_NODE_BIN/kube-scheduler" --kubeconfig "$kubeconfig" \
        --bind-address 127.0.0.1 --cert-dir "$BASE/scheduler-certs" --leader-elect=false
    wait_until kube-controller-manager "kube-controller-manager" \
        ip netns exec "$NETNS" curl -fsk --max-time 2 https://127.0.0.1:10257/healthz
    wait_until kube-scheduler "kube-scheduler" ip netns exec "$NETNS" curl -fsk --max-time 2 https://127.0.0.1:10259/healthz
}

start_controller() {
    netns_up "$CONTROLLER_NETNS"
    relay controller-api-relay "/run/netns/$CONTROLLER_NETNS@127.0.0.1:$PORT" "/run/netns/$NETNS@127.0.0.1:$PORT"
    wait_until controller-api-relay "the controller's relay to the API server" \
        ip netns exec "$CONTROLLER_NETNS" curl -fsk --max-time 2 "https://127.0.0.1:$PORT/readyz"
    # shellcheck disable=SC2046
    run controller "$CONTROLLER_NETNS" env $(knative_env controller-0) "$KNFLOW_KNATIVE_BIN/controller"
    wait_until controller "the Knative controller" \
        ip netns exec "$CONTROLLER_NETNS" curl -fs --max-time 2 http://127.0.0.1:8080/readiness
}

ready() {
    local name
    for name in webhook controller api-relay controller-api-relay kube-controller-manager kube-scheduler; do
        pid_of "$name" >/dev/null || return 1
    done
    kubectl get --raw /readyz >/dev/null 2>&1
}

cmd_start() {
    mkdir -p "$BASE"
    exec 9>"$BASE/lock"
    flock 9
    if ready; then
        echo "knative: already running on https://127.0.0.1:$PORT" >&2
        return
    fi
    stop_all
    "$HERE/knative-build.sh" knative & local build=$!
    "$HERE/knative-build.sh" node
    wait "$build" || die "building Knative failed"
    find "$BASE" -maxdepth 1 -name '*.log' -delete
    start_cluster
    configure
    start_webhook
    start_kube_controllers
    start_controller
    echo "knative: started on https://127.0.0.1:$PORT (logs: $BASE)" >&2
}

stop_one() {
    local pid
    pid="$(pid_of "$1")" || { rm -f "$BASE/$1.pid"; return 0; }
    # ip netns exec execs the program: the pid is the program's own.
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
    rm -f "$BASE/$1.pid"
}

stop_all() {
    local name
    for name in controller kube-scheduler kube-controller-manager webhook controller-api-relay api-relay; do
        stop_one "$name"
    done
    if ip netns list | grep -qw "^$NETNS"; then
        ip netns exec "$NETNS" env KNFLOW_SERVICES_DIR="$BASE" KNFLOW_KUBE_PORT="$PORT" \
            KNFLOW_KUBE_ETCD_PORT="$ETCD_PORT" "$HERE/kube.sh" stop 9>&- >/dev/null 2>&1 || true
    fi
    for name in "$CONTROLLER_NETNS" "$NETNS"; do
        if ip netns list | grep -qw "^$name"; then ip netns del "$name"; fi
    done
}

cmd_stop() {
    [[ -d "$BASE" ]] || return 0
    exec 9>"$BASE/lock"
    flock 9
    stop_all
    echo "knative: stopped" >&2
}

cmd_status() {
    if ready; then
        echo "knative: running on https://127.0.0.1:$PORT"
        return 0
    fi
    echo "knative: not running"
    return 1
}

cmd_env() {
    echo "export KNFLOW_TEST_KNATIVE_URL=https://127.0.0.1:$PORT"
    echo "export KNFLOW_TEST_KNATIVE_CA_FILE=$BASE/kube/pki/ca.crt"
    echo "export KNFLOW_TEST_KNATIVE_TOKEN_FILE=$BASE/kube/admin.token"
    echo "export KNFLOW_TEST_KNATIVE_KNFLOW_TOKEN_FILE=$BASE/kube/knflow.token"
    echo "export KNFLOW_TEST_KNATIVE_KUBECONFIG=$BASE/kube/kubeconfig"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    restart) cmd_stop; cmd_start ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *) echo "usage: $0 start|stop|restart|status|env" >&2; exit 2 ;;
esac
