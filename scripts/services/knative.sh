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
# The node's network: a bridge inside the cluster's namespace, nothing routed anywhere else. The node,
# the registry and the relays to the machine's loopback are on .1, Knative's data plane on .2/.3, pods
# from .10 on.
NODE_IP=10.250.0.1
AUTOSCALER_IP=10.250.0.2
ACTIVATOR_IP=10.250.0.3
REGISTRY="$NODE_IP:5000"
REGISTRY_RELAY_PORT="${KNFLOW_KNATIVE_REGISTRY_PORT:-15000}"
INGRESS_PORT="${KNFLOW_KNATIVE_INGRESS_PORT:-17080}"
S3_PORT="${KNFLOW_S3_PORT:-19000}"
AUTOSCALER_NETNS=knflow-kn-autoscaler
ACTIVATOR_NETNS=knflow-kn-activator
# Images and the registry's storage outlive restarts (pushing them again costs a minute).
REGISTRY_DATA="$HOME/.cache/knflow/knative-registry"
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

# The node's runtime from Debian: containerd, runc and the CNI plugins (bridge, host-local). Installed once
# (root; the package lists refreshed only when an install fails), waiting for dpkg's lock while another
# service's install holds it.
node_packages() {
    local missing=()
    command -v containerd >/dev/null || missing+=(containerd)
    command -v runc >/dev/null || missing+=(runc)
    [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local ]] || missing+=(containernetworking-plugins)
    ((${#missing[@]} == 0)) && return 0
    [[ "$(id -u)" == 0 ]] || die "${missing[*]} needed: install them (Debian package names)"
    echo "knative.sh: installing ${missing[*]} with apt-get (first run only)" >&2
    local apt=(apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends)
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" "${missing[@]}" >&2 ||
        { apt-get -o DPkg::Lock::Timeout=600 update -q >&2 && DEBIAN_FRONTEND=noninteractive "${apt[@]}" "${missing[@]}" >&2; } ||
        die "could not install ${missing[*]}"
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

# run NAME NETNS COMMAND...: a daemon in a network namespace, its log and pid file in $BASE. nsenter
# enters the network namespace only (ip netns exec would also remount /sys, hiding the cgroups from the
# kubelet); run_with_hosts uses ip netns exec for its /etc/netns/NETNS/hosts (Knative's service names).
run() {
    local name="$1" netns="$2"
    shift 2
    # setsid: outlive the caller's process group; 9>&-: don't hold the start lock.
    setsid nsenter "--net=/run/netns/$netns" "$@" </dev/null >"$BASE/$name.log" 2>&1 9>&- &
    echo $! >"$BASE/$name.pid"
}
run_with_hosts() {
    local name="$1" netns="$2"
    shift 2
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
    # The API server reaches the kubelet (pod logs) by the node's host name.
    mkdir -p "/etc/netns/$NETNS"
    printf '127.0.0.1 localhost\n%s knflow-node\n' "$NODE_IP" >"/etc/netns/$NETNS/hosts"
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
        # A revision whose pods never become available fails after 45 s instead of Knative's 600: its
        # reconciler reads a crashing container's exit code only when the Deployment changes, which
        # for a crash loop is when the progress deadline passes (the tests' image-that-exits case).
        kubectl -n "$KNATIVE_NAMESPACE" patch configmap config-deployment --type merge \
            -p '{"data":{"registries-skipping-tag-resolving":"*","progress-deadline":"45s"}}'
        # Scale to zero within seconds of the last request (Knative's minimums), not a minute and a half.
        kubectl -n "$KNATIVE_NAMESPACE" patch configmap config-autoscaler --type merge \
            -p '{"data":{"stable-window":"6s","scale-to-zero-grace-period":"6s"}}'
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

# A network namespace with one veth on the node's bridge at IP (Knative's autoscaler and activator: their
# :8080 and :8012 would clash with the webhook's; the autoscaler scrapes pods, the activator proxies to them).
netns_on_bridge() {
    local name="$1" ip="$2" host="kv-${1##*-}"
    netns_up "$name"
    ip netns exec "$NETNS" ip link add "$host" type veth peer name eth0 netns "$name"
    ip netns exec "$NETNS" ip link set "$host" master kn0 up
    ip netns exec "$name" ip addr add "$ip/24" dev eth0
    ip netns exec "$name" ip link set eth0 up
    # ip netns exec mounts /etc/netns/NAME/hosts on /etc/hosts: the cluster's names, without a DNS.
    mkdir -p "/etc/netns/$name"
    printf '127.0.0.1 localhost\n%s autoscaler.%s.svc.cluster.local autoscaler.%s.svc\n' \
        "$AUTOSCALER_IP" "$KNATIVE_NAMESPACE" "$KNATIVE_NAMESPACE" >"/etc/netns/$name/hosts"
    # Every other Service's name resolves to the test ingress's service proxy (knative/cluster_dns.py):
    # the autoscaler probes a revision's public Service by name before it scales to zero.
    printf 'nameserver %s\noptions ndots:1 attempts:1 timeout:1\n' "$NODE_IP" >"/etc/netns/$name/resolv.conf"
}

start_network() {
    ip netns exec "$NETNS" ip link add kn0 type bridge
    ip netns exec "$NETNS" ip addr add "$NODE_IP/24" dev kn0
    ip netns exec "$NETNS" ip link set kn0 up
    netns_on_bridge "$AUTOSCALER_NETNS" "$AUTOSCALER_IP"
    netns_on_bridge "$ACTIVATOR_NETNS" "$ACTIVATOR_IP"
    # The machine's S3 (moto) as build pods see it, and the ways in from the machine.
    relay s3-relay "/run/netns/$NETNS@$NODE_IP:$S3_PORT" "127.0.0.1:$S3_PORT"
    relay registry-relay "127.0.0.1:$REGISTRY_RELAY_PORT" "/run/netns/$NETNS@$REGISTRY"
    relay ingress-relay "127.0.0.1:$INGRESS_PORT" "/run/netns/$NETNS@127.0.0.1:$INGRESS_PORT"
    for name in "$AUTOSCALER_NETNS" "$ACTIVATOR_NETNS"; do
        relay "$name-api-relay" "/run/netns/$name@127.0.0.1:$PORT" "/run/netns/$NETNS@127.0.0.1:$PORT"
    done
}

start_registry() {
    mkdir -p "$REGISTRY_DATA"
    cat >"$BASE/registry.yaml" <<YAML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $REGISTRY_DATA}
  delete: {enabled: true}
http: {addr: "$REGISTRY"}
YAML
    run registry "$NETNS" env OTEL_TRACES_EXPORTER=none "$KNFLOW_OCI_BIN/registry" serve "$BASE/registry.yaml"
    wait_until registry "the registry" curl -fs --max-time 2 "http://127.0.0.1:$REGISTRY_RELAY_PORT/v2/"
}

# containerd and the kubelet of one node (knflow-node, at NODE_IP), pods on the bridge through CNI.
start_node() {
    local d="$BASE/node"
    mkdir -p "$d/cni" "$d/pod-logs"
    cat >"$d/cni/10-knflow.conflist" <<JSON
{"cniVersion": "0.4.0", "name": "knflow", "plugins": [{"type": "bridge", "bridge": "kn0", "isGateway": false,
 "ipMasq": false, "hairpinMode": true, "ipam": {"type": "host-local", "dataDir": "$d/ipam",
 "ranges": [[{"subnet": "10.250.0.0/24", "rangeStart": "10.250.0.10", "rangeEnd": "10.250.0.250"}]]}}]}
JSON
    cat >"$d/containerd.toml" <<TOML
version = 2
root = "$d/containerd/root"
state = "$d/containerd/state"
[grpc]
  address = "$d/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  enable_unprivileged_ports = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/cni"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$REGISTRY"]
    endpoint = ["http://$REGISTRY"]
TOML
    # A previous run's sockets and node state would pass for a live containerd and confuse the kubelet
    # (pods and IP leases of a node that is gone); the image store (containerd/root) is kept: pulls cost.
    rm -rf "$d/containerd.sock" "$d/containerd.sock.ttrpc" "$d/containerd/state" "$d/kubelet" "$d/ipam"
    run containerd "$NETNS" containerd --config "$d/containerd.toml"
    wait_until containerd "containerd" ctr --address "$d/containerd.sock" version
    # containerd 1.6 answers its own API before its CRI service has recovered state; a kubelet that
    # connects in between is told "server is not initialized yet" and exits. The CRI service's last
    # start step is its streaming server, logged once the service answers.
    wait_until containerd "containerd's CRI service" grep -q "Start streaming server" "$BASE/containerd.log"
    cat >"$d/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$d/containerd.sock
address: $NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
podLogsDir: $d/pod-logs
failSwapOn: false
resolvConf: ""
serializeImagePulls: false
maxPods: 40
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%}
imageGCHighThresholdPercent: 100
YAML
    local attempt
    for attempt in 1 2 3; do
        run kubelet "$NETNS" "$KNFLOW_NODE_BIN/kubelet" --config "$d/kubelet.yaml" --kubeconfig "$BASE/kube/kubeconfig" \
            --hostname-override knflow-node --node-ip "$NODE_IP" --root-dir "$d/kubelet" --cert-dir "$d/kubelet-pki"
        sleep 1
        # The kubelet exits at once if the CRI was still starting; only that failure is worth a retry.
        pid_of kubelet >/dev/null || ! grep -q "not initialized yet" "$BASE/kubelet.log" || continue
        break
    done
    wait_until kubelet "the kubelet's node" node_ready
}

node_ready() {
    [[ "$(kubectl get node knflow-node -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == True ]]
}

# Knative's data plane: the autoscaler (scrapes the pods' queue-proxy, scales Deployments) and the
# activator (holds requests while a revision scales from zero), each in its namespace on the bridge; the
# activator's Service has the Endpoints its pod would have.
start_data_plane() {
    # shellcheck disable=SC2046
    run_with_hosts autoscaler "$AUTOSCALER_NETNS" env $(knative_env autoscaler-0) POD_IP="$AUTOSCALER_IP" \
        "$KNFLOW_KNATIVE_BIN/autoscaler"
    # shellcheck disable=SC2046
    run_with_hosts activator "$ACTIVATOR_NETNS" env $(knative_env activator-0) POD_IP="$ACTIVATOR_IP" \
        "$KNFLOW_KNATIVE_BIN/activator"
    kubectl apply --server-side -f - >"$BASE/activator-service.log" 2>&1 <<YAML
apiVersion: v1
kind: Service
metadata: {name: activator-service, namespace: $KNATIVE_NAMESPACE}
spec:
  ports:
  - {name: http, port: 80, targetPort: 8012}
  - {name: http2, port: 81, targetPort: 8013}
  - {name: https, port: 443, targetPort: 8112}
---
apiVersion: v1
kind: Endpoints
metadata: {name: activator-service, namespace: $KNATIVE_NAMESPACE}
subsets:
- addresses: [{ip: $ACTIVATOR_IP}]
  ports: [{name: http, port: 8012}, {name: http2, port: 8013}, {name: https, port: 8112}]
---
apiVersion: v1
kind: Service
metadata: {name: autoscaler, namespace: $KNATIVE_NAMESPACE}
spec:
  ports: [{name: http, port: 8080, targetPort: 8080}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: autoscaler, namespace: $KNATIVE_NAMESPACE}
subsets:
- addresses: [{ip: $AUTOSCALER_IP}]
  ports: [{name: http, port: 8080}]
YAML
    # Listening is ready enough: the autoscaler's :8080 is its stats websocket, the activator's :8012 its proxy.
    wait_until autoscaler "the Knative autoscaler" \
        ip netns exec "$AUTOSCALER_NETNS" curl -s -o /dev/null --max-time 2 http://127.0.0.1:8080/
    wait_until activator "the Knative activator" \
        ip netns exec "$ACTIVATOR_NETNS" curl -s -o /dev/null --max-time 2 http://127.0.0.1:8012/
}

# The images every pod needs: the sandbox (pause) and Knative's queue-proxy, by digest.
push_images() {
    PAUSE_IMAGE="$("$HERE/knative/images.sh" pause "127.0.0.1:$REGISTRY_RELAY_PORT")" || die "building the pause image failed"
    PAUSE_IMAGE="$REGISTRY/${PAUSE_IMAGE#*/}"
    local queue
    queue="$("$HERE/knative/images.sh" queue "127.0.0.1:$REGISTRY_RELAY_PORT")" || die "building the queue-proxy image failed"
    kubectl -n "$KNATIVE_NAMESPACE" patch configmap config-deployment --type merge \
        -p "{\"data\":{\"queue-sidecar-image\":\"$REGISTRY/${queue#*/}\"}}" >/dev/null
}

start_ingress() {
    run ingress "$NETNS" python3 "$HERE/knative/ingress.py" "127.0.0.1:$INGRESS_PORT" "$BASE/kube/kubeconfig" "$NODE_IP"
    wait_until ingress "the test ingress" curl -fs --max-time 2 "http://127.0.0.1:$INGRESS_PORT/healthz"
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

# Every daemon, in the order they stop.
DAEMONS="ingress ingress-relay activator autoscaler controller kubelet containerd kube-scheduler \
kube-controller-manager webhook registry registry-relay s3-relay $AUTOSCALER_NETNS-api-relay \
$ACTIVATOR_NETNS-api-relay controller-api-relay api-relay"

# The containerd shims of the node's pods (started by our containerd, found by its state directory).
stop_shims() {
    local pid
    for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $BASE/node/containerd.sock" || true); do
        kill -9 "$pid" 2>/dev/null || true
    done
    grep -o "$BASE/node/[^ ]*" /proc/mounts 2>/dev/null | sort -ru | xargs -r -n1 umount -l 2>/dev/null || true
}

ready() {
    local name
    for name in $DAEMONS; do
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
    node_packages & local packages=$!
    "$HERE/knative-build.sh" knative & local knative=$!
    "$HERE/knative-build.sh" oci & local oci=$!
    "$HERE/knative-build.sh" node
    wait "$knative" || die "building Knative failed"
    wait "$oci" || die "building the registry and crane failed"
    wait "$packages" || die "the node's packages (containerd, runc, CNI plugins) are missing"
    find "$BASE" -maxdepth 1 -name '*.log' -delete
    start_cluster
    configure
    start_network
    start_registry
    push_images
    start_webhook
    start_kube_controllers
    start_node
    start_controller
    start_data_plane
    start_ingress
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
    for name in $DAEMONS; do stop_one "$name"; done
    # The kubelet's pods outlive it: their containers (containerd's shims) go with containerd's state.
    stop_shims
    if ip netns list | grep -qw "^$NETNS"; then
        ip netns exec "$NETNS" env KNFLOW_SERVICES_DIR="$BASE" KNFLOW_KUBE_PORT="$PORT" \
            KNFLOW_KUBE_ETCD_PORT="$ETCD_PORT" "$HERE/kube.sh" stop 9>&- >/dev/null 2>&1 || true
    fi
    for name in "$CONTROLLER_NETNS" "$AUTOSCALER_NETNS" "$ACTIVATOR_NETNS" "$NETNS"; do
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
    echo "export KNFLOW_TEST_KNATIVE_REGISTRY=$REGISTRY"
    echo "export KNFLOW_TEST_KNATIVE_REGISTRY_PUSH=127.0.0.1:$REGISTRY_RELAY_PORT"
    echo "export KNFLOW_TEST_KNATIVE_INGRESS=http://127.0.0.1:$INGRESS_PORT"
    echo "export KNFLOW_TEST_KNATIVE_S3=http://$NODE_IP:$S3_PORT"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    restart) cmd_stop; cmd_start ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *) echo "usage: $0 start|stop|restart|status|env" >&2; exit 2 ;;
esac
