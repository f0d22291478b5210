#!/usr/bin/env bash
# The test node's images, assembled without a container engine (crane appends layers made with tar)
# and pushed to the cluster's registry; each prints its reference by digest.
#   images.sh pause|queue|python|runtime|builder REGISTRY
# REGISTRY is where to push, from here (the loopback relay to the cluster's registry, 127.0.0.1:15000).
# Every image has os/arch in its config (containerd needs it) and runs as UID 65532 unless it must not.
#   pause    the sandbox image (knative/pause, built with go)
#   queue    Knative's queue-proxy (the queue binary of knative-build.sh)
#   python   this machine's CPython (the interpreter, its standard library and the shared libraries it
#            loads), at the same path, so venvs made here run there
#   runtime  python + a venv of knflow's sdk and function-runtime from this checkout (knflow-runtime)
#   builder  runtime + crane + knative/builder.py: the build Job's image in the tests (Kaniko's sources
#            are not served here: it builds the same context the same way, minus RUN steps)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
eval "$("$HERE/../knative-build.sh" env)"
CRANE="$KNFLOW_OCI_BIN/crane"
UV="$(command -v uv || echo "$HOME/.local/bin/uv")"
PYTHON_HOME="$(python3 -c 'import sys; print(sys.base_prefix)')"
PYTHON_VERSION="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

die() { echo "images.sh: $*" >&2; exit 1; }

# push IMAGE_TAG BASE|"" LAYER.tar... -- MUTATE_FLAGS...: append the layers, set the config, print the digest ref.
push() {
    local ref="$1" base="$2" layers=()
    shift 2
    while (($#)) && [[ "$1" != -- ]]; do layers+=(-f "$1"); shift; done
    shift || true
    if [[ -n "$base" ]]; then
        "$CRANE" append --insecure -b "$base" "${layers[@]}" -t "$ref" >/dev/null
    else
        "$CRANE" append --insecure "${layers[@]}" -t "$ref" >/dev/null
    fi
    "$CRANE" mutate --insecure --set-platform linux/amd64 "$@" -t "$ref" "$ref" >/dev/null
    echo "${ref%:*}@$("$CRANE" digest --insecure "$ref")"
}

# A tar of the listed absolute paths (relative to /), owned by root, reproducible enough.
tar_paths() {
    local out="$1"
    shift
    # Each path once, as the file itself: no hard links (a file listed twice would become a link to
    # itself), no symbolic links (/lib64/ld-linux-x86-64.so.2 points into a /usr/lib not all copied).
    printf '%s\n' "$@" | sed 's|^/||' | sort -u \
        | tar -C / --owner=0 --group=0 --numeric-owner --dereference --hard-dereference --no-recursion -cf "$out" -T -
}

passwd_layer() {
    mkdir -p "$WORK/etc-root/etc" "$WORK/etc-root/tmp"
    printf 'root:x:0:0:root:/root:/bin/false\nnonroot:x:65532:65532:nonroot:/home/nonroot:/bin/false\n' \
        >"$WORK/etc-root/etc/passwd"
    printf 'root:x:0:\nnonroot:x:65532:\n' >"$WORK/etc-root/etc/group"
    chmod 1777 "$WORK/etc-root/tmp"
    tar -C "$WORK/etc-root" --owner=0 --group=0 --numeric-owner -cf "$WORK/etc.tar" etc tmp
}

image_pause() {
    mkdir -p "$WORK/pause-root"
    (cd "$HERE/pause" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$WORK/pause-root/pause" .)
    tar -C "$WORK/pause-root" --owner=0 --group=0 --numeric-owner -cf "$WORK/pause.tar" pause
    push "$1/knflow-test/pause:latest" "" "$WORK/pause.tar" -- --entrypoint /pause --user 65532
}

image_queue() {
    mkdir -p "$WORK/queue-root/ko-app"
    cp "$KNFLOW_KNATIVE_BIN/queue" "$WORK/queue-root/ko-app/queue"
    passwd_layer
    tar -C "$WORK/queue-root" --owner=0 --group=0 --numeric-owner -cf "$WORK/queue.tar" ko-app
    push "$1/knflow-test/queue:latest" "" "$WORK/etc.tar" "$WORK/queue.tar" -- --entrypoint /ko-app/queue --user 65532
}

# shared_libraries FILE...: the shared libraries these executables and extension modules load.
shared_libraries() {
    # (ldd heads each file's list with "FILE:" when given several.)
    ldd "$@" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\/.*[^:]$/ { print $1 }' | sort -u
}

image_python() {
    local libs binary="$PYTHON_HOME/bin/python$PYTHON_VERSION"
    # The shared libraries the interpreter and its extension modules load (libc, libssl, libffi, ...).
    libs="$(shared_libraries "$binary" "$PYTHON_HOME"/lib/python"$PYTHON_VERSION"/lib-dynload/*.so)"
    local files=("$binary" "$PYTHON_HOME/bin/python3" "$PYTHON_HOME"/lib/libpython*.so*)
    mapfile -t stdlib < <(cd / && find "${PYTHON_HOME#/}/lib/python$PYTHON_VERSION" \
        \( -name site-packages -o -name test -o -name tests -o -name idlelib -o -name tkinter \
        -o -name turtledemo -o -name ensurepip -o -name lib2to3 -o -name 'config-*' \) -prune -o -type f -print)
    for lib in $libs; do files+=("$lib" "$(readlink -f "$lib")"); done
    tar_paths "$WORK/python.tar" "${files[@]}" "${stdlib[@]/#//}"
    passwd_layer
    push "$1/knflow-test/python:$PYTHON_VERSION" "" "$WORK/etc.tar" "$WORK/python.tar" -- \
        --entrypoint "$binary" --user 65532 --env "PATH=$PYTHON_HOME/bin:/usr/bin:/bin"
}

# knflow's venv (sdk + function-runtime of this checkout, the workspace's pins) at /opt/knflow.
image_runtime() {
    local base venv="$WORK/venv-root/opt/knflow"
    base="$(image_python "$1")"
    mkdir -p "$WORK/venv-root/app"
    python3 -c "import tomllib; print('\n'.join(tomllib.load(open('$ROOT/pyproject.toml', 'rb'))['tool']['uv']['constraint-dependencies']))" \
        >"$WORK/constraints.txt"
    "$UV" venv -q --python "$PYTHON_HOME/bin/python$PYTHON_VERSION" "$venv"
    # --no-sources: the workspace's sources would install the sdk (a dependency of the runtime) editable,
    # a .pth pointing into this checkout, which the image does not have ("No module named 'knflow'").
    "$UV" pip install -q --no-sources --python "$venv/bin/python" -c "$WORK/constraints.txt" --compile-bytecode \
        "$ROOT/sdk" "$ROOT/function-runtime"
    tar -C "$WORK/venv-root" --owner=0 --group=0 --numeric-owner -cf "$WORK/venv.tar" opt
    tar -C "$WORK/venv-root" --owner=65532 --group=65532 --numeric-owner -cf "$WORK/app.tar" app
    # What the venv's extension modules load beyond the interpreter's (httptools: libpthread.so.0).
    local lib libs=() modules
    mapfile -t modules < <(find "$venv" -name '*.so')
    for lib in $(shared_libraries "${modules[@]}"); do libs+=("$lib" "$(readlink -f "$lib")"); done
    tar_paths "$WORK/libs.tar" "${libs[@]}"
    push "$1/knflow-test/runtime:latest" "$base" "$WORK/libs.tar" "$WORK/venv.tar" "$WORK/app.tar" -- \
        --entrypoint /opt/knflow/bin/python,-m,knflow_runtime --user 65532:65532 --workdir /app \
        --env PATH=/opt/knflow/bin:/usr/bin:/bin --env PYTHONUNBUFFERED=1 --env PYTHONDONTWRITEBYTECODE=1 \
        --env KNFLOW_CODE_PATH=/app
}

image_builder() {
    local base
    base="$(image_runtime "$1")"
    mkdir -p "$WORK/builder-root/opt/knflow-builder"
    cp "$CRANE" "$WORK/builder-root/opt/knflow-builder/crane"
    cp "$HERE/builder.py" "$WORK/builder-root/opt/knflow-builder/builder.py"
    tar -C "$WORK/builder-root" --owner=0 --group=0 --numeric-owner -cf "$WORK/builder.tar" opt
    push "$1/knflow-test/builder:latest" "$base" "$WORK/builder.tar" -- \
        --entrypoint /opt/knflow/bin/python,/opt/knflow-builder/builder.py --user 65532:65532 --env HOME=/tmp
}

[[ $# == 2 ]] || die "usage: images.sh pause|queue|python|runtime|builder REGISTRY"
case "$1" in
    pause | queue | python | runtime | builder) "image_$1" "$2" ;;
    *) die "unknown image $1" ;;
esac
