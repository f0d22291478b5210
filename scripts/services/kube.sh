#!/usr/bin/env bash
# A real Kubernetes API server (kube-apiserver + etcd, no nodes, no controllers) with the Knative
# CRDs, for knflow's tests: every object knflow creates is validated by the real schemas, and the
# tests play the Knative and Job controllers by patching status.
#   kube.sh build|start|stop|restart|status|env
# etcd on 127.0.0.1:${KNFLOW_KUBE_ETCD_PORT:-12379} (peer: the port after it), the API server on
# https://127.0.0.1:${KNFLOW_KUBE_PORT:-16443}, RBAC on, static bearer tokens.
# Binaries (kube-apiserver, etcd, and a kubectl of the same release: Debian's is too old for
# `kubectl kustomize` of today's kustomizations) are built from the Go module proxy once per version, cached in
# ~/.cache/knflow/kube-<version>/bin (the first build takes long: see docs/deploy.md);
# state (etcd data, certificates, tokens, logs) lives in
# ${KNFLOW_SERVICES_DIR:-$HOME/.cache/knflow/services}/kube and is wiped on every start.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KUBE_VERSION="${KNFLOW_KUBE_VERSION:-v1.34.4}"
# Staging modules (k8s.io/api, ...) are released as v0.<minor>.<patch> of the same release.
STAGING_VERSION="v0${KUBE_VERSION#v1}"
SERVING_VERSION="${KNFLOW_KNATIVE_SERVING_VERSION:-v0.50.0}"
EVENTING_VERSION="${KNFLOW_KNATIVE_EVENTING_VERSION:-v0.50.0}"
PORT="${KNFLOW_KUBE_PORT:-16443}"
ETCD_PORT="${KNFLOW_KUBE_ETCD_PORT:-12379}"
ETCD_PEER_PORT=$((ETCD_PORT + 1))
URL="https://127.0.0.1:$PORT"
SERVICES_DIR="${KNFLOW_SERVICES_DIR:-$HOME/.cache/knflow/services}"
BASE="$SERVICES_DIR/kube"
CACHE="$HOME/.cache/knflow/kube-$KUBE_VERSION"
BIN="$CACHE/bin"
START_TIMEOUT="${KNFLOW_KUBE_START_TIMEOUT:-90}"
# The namespace and ServiceAccount of the control plane in manifests/base.
KNFLOW_SA_NAMESPACE="knflow"
KNFLOW_SA_NAME="knflow-control-plane"

die() { echo "kube.sh: $*" >&2; exit 1; }

log_tail() {
    echo "---- tail of $1 ----" >&2
    tail -n 40 "$1" 2>/dev/null | cut -c1-400 >&2 || true
}

export GOFLAGS=-mod=mod CGO_ENABLED=0
# A Go older than the module asks for fetches the right toolchain from the module proxy.
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"

apt_install() {
    [[ "$(id -u)" == 0 ]] || die "$* needed: install it (Debian package names)"
    echo "kube.sh: installing $* with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    local apt=(apt-get -o DPkg::Lock::Timeout=600)  # another service's install may hold dpkg's lock: wait
    "${apt[@]}" install -y -q "$@" >&2 || { "${apt[@]}" update -q >&2 && "${apt[@]}" install -y -q "$@" >&2; }
}

ensure_tools() {
    local missing=()
    command -v go >/dev/null || [[ -x /usr/local/go/bin/go ]] || missing+=(golang-go)
    command -v openssl >/dev/null || missing+=(openssl)
    command -v curl >/dev/null || missing+=(curl)
    ((${#missing[@]} == 0)) || apt_install "${missing[@]}"
    command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
}

# The module directory of a Go module version (downloaded into the module cache once).
module_dir() {
    go mod download -json "$1" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p'
}

built() { [[ -x "$BIN/kube-apiserver" && -x "$BIN/etcd" && -x "$BIN/kubectl" ]]; }

# Build kube-apiserver, etcd and kubectl once per Kubernetes version, from a throw-away module that requires
# k8s.io/kubernetes and pins each of its staging modules (listed there at v0.0.0) to the release.
cmd_build() {
    built && return
    ensure_tools
    mkdir -p "$CACHE"
    (
        flock 8
        built && exit 0
        local src="$CACHE/src" gomod started=$SECONDS
        echo "kube.sh: building kube-apiserver, etcd and kubectl $KUBE_VERSION (first run only; long on 2 cores)" >&2
        rm -rf "$src" "$BIN.tmp"
        mkdir -p "$src" "$BIN.tmp"
        gomod="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')"
        [[ -f "$gomod" ]] || die "could not download k8s.io/kubernetes@$KUBE_VERSION"
        local etcd_version
        etcd_version="$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2 }' "$gomod")"
        {
            echo "module knflow.test/kube"
            echo
            echo "go $(awk '$1 == "go" { print $2; exit }' "$gomod")"
            echo
            echo "require ("
            echo "    k8s.io/kubernetes $KUBE_VERSION"
            echo "    go.etcd.io/etcd/server/v3 $etcd_version"
            echo ")"
            echo
            echo "replace ("
            awk -v v="$STAGING_VERSION" '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" { print "    " $1 " => " $1 " " v }' "$gomod" | sort -u
            echo ")"
        } >"$src/go.mod"
        cp "$HERE/kube/tools.go" "$src/tools.go"
        local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION"
        ldflags+=" -X k8s.io/component-base/version.gitMajor=1"
        ldflags+=" -X k8s.io/component-base/version.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2)"
        ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
        ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION"
        (
            cd "$src"
            nice -n 10 go build -trimpath -ldflags "$ldflags" -o "$BIN.tmp/" \
                k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl go.etcd.io/etcd/server/v3
        ) >"$CACHE/build.log" 2>&1 || { log_tail "$CACHE/build.log"; die "go build failed"; }
        # go names a binary after its package path without the major-version suffix: .../server/v3 -> server
        mv "$BIN.tmp/server" "$BIN.tmp/etcd"
        rm -rf "$BIN"
        mv "$BIN.tmp" "$BIN"
        echo "kube.sh: built in $((SECONDS - started)) s into $BIN" >&2
    ) 8>"$CACHE/lock"
}

pid_of() {
    local pid
    pid="$(cat "$BASE/$1.pid" 2>/dev/null)" || return 1
    [[ -n "$pid" ]] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$BASE" || return 1
    echo "$pid"
}

# Alive since we started it. Not pid_of: right after "setsid ... &" the child may not have exec'd
# yet, and its command line is still this script's (a fresh start once failed on that race).
still_running() { kill -0 "$(cat "$BASE/$1.pid")" 2>/dev/null; }

admin_token() { cat "$BASE/admin.token"; }

ready() {
    [[ -f "$BASE/admin.token" ]] || return 1
    [[ "$(curl -sS --max-time 5 --cacert "$BASE/pki/ca.crt" -H "Authorization: Bearer $(admin_token)" \
        "$URL/readyz" 2>/dev/null)" == ok ]]
}

# A CA, a serving certificate for 127.0.0.1 signed by it, the service-account signing key, and
# the static tokens: one admin, one that authenticates as knflow's ServiceAccount (RBAC then
# grants it exactly what manifests/base binds to that ServiceAccount).
write_credentials() {
    local pki="$BASE/pki"
    mkdir -p "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=knflow-test-ca" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
        -keyout "$pki/server.key" -out "$pki/server.csr" 2>/dev/null
    openssl x509 -req -days 3650 -in "$pki/server.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
        -CAcreateserial -out "$pki/server.crt" -extfile <(printf '%s\n' \
            "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
            "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth") 2>/dev/null
    openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
    openssl rand -hex 24 >"$BASE/admin.token"
    openssl rand -hex 24 >"$BASE/knflow.token"
    local sa="system:serviceaccount:$KNFLOW_SA_NAMESPACE:$KNFLOW_SA_NAME"
    {
        echo "$(admin_token),knflow-test-admin,knflow-test-admin,\"system:masters\""
        echo "$(cat "$BASE/knflow.token"),$sa,knflow-test-sa,\"system:serviceaccounts,system:serviceaccounts:$KNFLOW_SA_NAMESPACE,system:authenticated\""
    } >"$BASE/tokens.csv"
    cat >"$BASE/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: knflow-test
  cluster: {server: "$URL", certificate-authority: "$pki/ca.crt"}
users:
- name: admin
  user: {token: "$(admin_token)"}
contexts:
- name: knflow-test
  context: {cluster: knflow-test, user: admin}
current-context: knflow-test
EOF
}

start_etcd() {
    # setsid: outlive the caller's process group (make, pytest); 9>&-: don't hold the start lock.
    setsid "$BIN/etcd" --name knflow-test --data-dir "$BASE/etcd" \
        --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
        --initial-cluster "knflow-test=http://127.0.0.1:$ETCD_PEER_PORT" \
        --unsafe-no-fsync --log-level warn </dev/null >"$BASE/etcd.log" 2>&1 9>&- &
    echo $! >"$BASE/etcd.pid"
    local deadline=$((SECONDS + 30))
    until curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"'; do
        still_running etcd || { log_tail "$BASE/etcd.log"; die "etcd exited during start"; }
        ((SECONDS < deadline)) || { log_tail "$BASE/etcd.log"; die "etcd not healthy within 30 s"; }
        sleep 0.2
    done
}

start_apiserver() {
    local pki="$BASE/pki"
    setsid "$BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
        --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$PORT" \
        --cert-dir "$BASE/certs" --tls-cert-file "$pki/server.crt" --tls-private-key-file "$pki/server.key" \
        --service-cluster-ip-range 10.0.0.0/24 --authorization-mode RBAC --token-auth-file "$BASE/tokens.csv" \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --service-account-key-file "$pki/sa.key" --service-account-signing-key-file "$pki/sa.key" \
        --api-audiences https://kubernetes.default.svc.cluster.local \
        --allow-privileged=true --enable-priority-and-fairness=false --profiling=false \
        </dev/null >"$BASE/kube-apiserver.log" 2>&1 9>&- &
    echo $! >"$BASE/kube-apiserver.pid"
    local deadline=$((SECONDS + START_TIMEOUT))
    until ready; do
        still_running kube-apiserver || { log_tail "$BASE/kube-apiserver.log"; die "kube-apiserver exited during start"; }
        ((SECONDS < deadline)) \
            || { log_tail "$BASE/kube-apiserver.log"; die "kube-apiserver not ready within ${START_TIMEOUT}s"; }
        sleep 0.3
    done
}

# Knative's CRDs straight from its Go modules (read at start, never committed).
apply_crds() {
    local serving eventing
    serving="$(module_dir "knative.dev/serving@$SERVING_VERSION")"
    eventing="$(module_dir "knative.dev/eventing@$EVENTING_VERSION")"
    [[ -d "$serving" && -d "$eventing" ]] || die "could not download the Knative modules"
    local k=("$BIN/kubectl" --kubeconfig "$BASE/kubeconfig")
    "${k[@]}" apply --server-side -f "$serving/config/core/300-resources/" -f "$eventing/config/core/resources/" \
        >"$BASE/crds.log" 2>&1 || { log_tail "$BASE/crds.log"; die "applying the Knative CRDs failed"; }
    "${k[@]}" wait --for condition=Established --timeout 60s crd --all >>"$BASE/crds.log" 2>&1 \
        || { log_tail "$BASE/crds.log"; die "the Knative CRDs were not Established within 60 s"; }
}

cmd_start() {
    mkdir -p "$BASE"
    exec 9>"$BASE/lock"
    flock 9
    if pid_of etcd >/dev/null && pid_of kube-apiserver >/dev/null && ready; then
        echo "kube: already running on $URL" >&2
        return
    fi
    stop_all
    if curl -sk --max-time 2 "$URL/" >/dev/null 2>&1; then
        die "something else already answers on $URL: set KNFLOW_KUBE_PORT to a free port"
    fi
    ensure_tools
    cmd_build
    rm -rf "$BASE/etcd" "$BASE/certs" "$BASE/pki"
    write_credentials
    start_etcd
    start_apiserver
    apply_crds
    echo "kube: started on $URL (logs: $BASE)" >&2
}

stop_one() {
    local pid
    pid="$(pid_of "$1")" || return 0
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
    rm -f "$BASE/$1.pid"
}

stop_all() { stop_one kube-apiserver; stop_one etcd; }

cmd_stop() {
    [[ -d "$BASE" ]] || return 0
    exec 9>"$BASE/lock"
    flock 9
    if pid_of etcd >/dev/null || pid_of kube-apiserver >/dev/null; then
        stop_all
        echo "kube: stopped" >&2
    fi
}

cmd_status() {
    if pid_of kube-apiserver >/dev/null && ready; then
        echo "kube: running on $URL"
        return 0
    fi
    echo "kube: not running"
    return 1
}

cmd_env() {
    echo "export KNFLOW_TEST_KUBE_URL=$URL"
    echo "export KNFLOW_TEST_KUBE_CA_FILE=$BASE/pki/ca.crt"
    echo "export KNFLOW_TEST_KUBE_TOKEN_FILE=$BASE/admin.token"
    echo "export KNFLOW_TEST_KUBE_KNFLOW_TOKEN_FILE=$BASE/knflow.token"
    echo "export KNFLOW_TEST_KUBECONFIG=$BASE/kubeconfig"
    echo "export KNFLOW_TEST_KUBECTL=$BIN/kubectl"
}

case "${1:-}" in
    build) cmd_build ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    restart) cmd_stop; cmd_start ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *) echo "usage: $0 build|start|stop|restart|status|env" >&2; exit 2 ;;
esac
