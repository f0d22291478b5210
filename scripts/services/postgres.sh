#!/usr/bin/env bash
# Throw-away PostgreSQL cluster for knflow's tests.
#   postgres.sh start|stop|restart|status|env
# Listens on 127.0.0.1:${KNFLOW_PG_PORT:-15432}, trust auth, user "postgres".
# State lives in ${KNFLOW_SERVICES_DIR:-$HOME/.cache/knflow/services}/postgres.
#
# Durability: tests run with fsync off (a throw-away cluster: a crash loses nothing that matters, and
# each CREATE DATABASE would otherwise flush its copy). KNFLOW_PG_DURABLE=1 (`make bench`) runs it as in
# production: fsync and full-page writes on, every commit flushed to disk. Both settings take a reload,
# not a restart: `start` converges a running server to the mode asked for.
set -euo pipefail

PORT="${KNFLOW_PG_PORT:-15432}"
SERVICES_DIR="${KNFLOW_SERVICES_DIR:-$HOME/.cache/knflow/services}"
BASE="$SERVICES_DIR/postgres"
URL="postgresql://postgres@127.0.0.1:$PORT/postgres"
START_TIMEOUT="${KNFLOW_PG_START_TIMEOUT:-30}"
if [[ "${KNFLOW_PG_DURABLE:-0}" == 1 ]]; then FSYNC=on; else FSYNC=off; fi

die() { echo "postgres.sh: $*" >&2; exit 1; }

# Directory holding the newest PostgreSQL server binaries, installing them if needed.
find_bindir() {
    local d
    d="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n1 || true)"
    if [[ -n "$d" && -x "$d/initdb" ]]; then echo "$d"; return; fi
    if command -v initdb >/dev/null 2>&1; then dirname "$(readlink -f "$(command -v initdb)")"; return; fi
    return 1
}

bindir() {
    local d
    if d="$(find_bindir)"; then echo "$d"; return; fi
    [[ "$(id -u)" == 0 ]] || die "initdb not found; install the Debian package 'postgresql'"
    echo "postgres.sh: installing postgresql with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    # The package lists may be missing or stale on a fresh machine: update only if needed.
    # Waits for dpkg's lock while another service's install holds it (they start together).
    local apt=(apt-get -o DPkg::Lock::Timeout=600)
    "${apt[@]}" install -y -q postgresql >&2 || { "${apt[@]}" update -q >&2 && "${apt[@]}" install -y -q postgresql >&2; }
    find_bindir || die "initdb still not found after installing postgresql"
}

# PostgreSQL refuses to run as root: as root, run the server tools as "postgres".
as_pg() {
    if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Resolve the real cluster directory. $HOME is usually mode 700 for root, so the
# "postgres" user cannot reach $BASE there; then $BASE becomes a symlink to a
# private directory under /tmp (named after $BASE so distinct setups don't clash).
cluster_dir() {
    mkdir -p "$SERVICES_DIR"
    if [[ ! -e "$BASE" ]]; then
        if [[ "$(id -u)" == 0 ]] && ! as_pg test -x "$SERVICES_DIR"; then
            local tmp
            tmp="/tmp/knflow-postgres-$(printf %s "$BASE" | md5sum | cut -c1-12)"
            mkdir -p "$tmp"
            ln -sfn "$tmp" "$BASE"
        else
            mkdir -p "$BASE"
        fi
    fi
    local real
    real="$(readlink -f "$BASE")"
    mkdir -p "$real"
    if [[ "$(id -u)" == 0 ]]; then chown postgres: "$real"; fi
    chmod 700 "$real"
    echo "$real"
}

is_running() {
    local dir="$1" bin="$2"
    [[ -f "$dir/data/PG_VERSION" ]] && as_pg "$bin/pg_ctl" status -D "$dir/data" >/dev/null 2>&1
}

# Uses the caller's $bin. -U postgres: without it each probe logs "role root does not exist".
ready() { "$bin/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -t 2; }

log_tail() {
    echo "---- tail of $1 ----" >&2
    tail -n 40 "$1" >&2 2>/dev/null || true
}

cmd_start() {
    local bin dir
    bin="$(bindir)"
    dir="$(cluster_dir)"
    # Serialise concurrent "start"s (e.g. several test workers).
    exec 9>"$dir/lock"
    flock 9
    if is_running "$dir" "$bin"; then
        if ready; then
            echo "postgres: already running on 127.0.0.1:$PORT" >&2
            apply_durability "$dir" "$bin"
            return
        fi
        die "a cluster is running from $dir/data but not answering on port $PORT (port changed? run stop first)"
    fi
    # A cluster made by another major version is useless: it is throw-away, so re-create it.
    local major
    major="$("$bin/postgres" --version | sed -E 's/.* ([0-9]+)[.].*/\1/')"
    if [[ -f "$dir/data/PG_VERSION" && "$(cat "$dir/data/PG_VERSION")" != "$major" ]]; then
        echo "postgres: re-creating cluster made by another major version" >&2
        rm -rf "$dir/data"
    fi
    if [[ ! -f "$dir/data/PG_VERSION" ]]; then
        rm -rf "$dir/data"
        as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C --no-sync \
            >"$dir/initdb.log" 2>&1 || { log_tail "$dir/initdb.log"; die "initdb failed"; }
        # Trust for local sockets and 127.0.0.1 only (replaces initdb's default file).
        cat >"$dir/data/pg_hba.conf" <<'EOF'
local all         all                trust
host  all         all  127.0.0.1/32  trust
local replication all                trust
host  replication all  127.0.0.1/32  trust
EOF
        chown --reference="$dir/data" "$dir/data/pg_hba.conf"
    fi
    mkdir -p "$dir/sock"
    if [[ "$(id -u)" == 0 ]]; then chown postgres: "$dir/sock"; fi
    write_durability "$dir" || true
    # Not fsync nor full_page_writes here: options on the command line would beat the reloadable file.
    local opts="-p $PORT -k $dir/sock -c listen_addresses=127.0.0.1"
    opts+=" -c synchronous_commit=on -c max_connections=300"
    # pg_ctl -w waits for the server to finish starting (and notices if it dies);
    # 9>&-: the server must not inherit (and so hold) the start lock.
    as_pg "$bin/pg_ctl" start -w -t "$START_TIMEOUT" -D "$dir/data" -l "$dir/postgres.log" \
        -o "$opts" >/dev/null 9>&- \
        || { log_tail "$dir/postgres.log"; die "postgres failed to start or was not ready within ${START_TIMEOUT}s"; }
    # Then make sure it answers on the TCP port the tests use.
    local deadline=$((SECONDS + 10))
    until ready; do
        if ((SECONDS >= deadline)); then
            log_tail "$dir/postgres.log"
            die "postgres started but does not answer on 127.0.0.1:$PORT"
        fi
        sleep 0.2
    done
    echo "postgres: started on 127.0.0.1:$PORT (data: $dir/data, fsync $FSYNC)" >&2
    apply_durability "$dir" "$bin"
}

# The durability settings in a file postgresql.conf includes; 0 if the file changed.
write_durability() {
    local dir="$1" conf="$1/data/knflow-durability.conf" want
    want="fsync = $FSYNC"$'\n'"full_page_writes = $FSYNC"
    if ! grep -q "knflow-durability.conf" "$dir/data/postgresql.conf"; then
        echo "include_if_exists = 'knflow-durability.conf'" >>"$dir/data/postgresql.conf"
    fi
    [[ -f "$conf" && "$(cat "$conf")" == "$want" ]] && return 1
    printf '%s\n' "$want" >"$conf"
    if [[ "$(id -u)" == 0 ]]; then chown postgres: "$conf"; fi
}

# Make the running server use the asked durability: a reload, or a restart for a server started by an
# older version of this script (fsync on its command line, which a reload cannot change).
apply_durability() {
    local dir="$1" bin="$2" deadline
    if write_durability "$dir"; then as_pg "$bin/pg_ctl" reload -D "$dir/data" >/dev/null; fi
    deadline=$((SECONDS + 5))
    until [[ "$(show fsync)" == "$FSYNC" ]]; do
        if ((SECONDS >= deadline)); then
            [[ -z "${RESTARTED:-}" ]] || die "fsync is still not $FSYNC after a restart (set elsewhere?)"
            RESTARTED=1
            echo "postgres: fsync is not $FSYNC after a reload: restarting" >&2
            as_pg "$bin/pg_ctl" stop -D "$dir/data" -m fast -w -t 30 >/dev/null
            exec 9>&-
            cmd_start
            return
        fi
        sleep 0.1
    done
}

show() { "$bin/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -Atc "SHOW $1" 2>/dev/null || true; }

cmd_stop() {
    local bin dir
    bin="$(find_bindir)" || return 0  # nothing installed, nothing running
    [[ -e "$BASE" ]] || return 0
    dir="$(readlink -f "$BASE")"
    [[ -d "$dir" ]] || return 0
    exec 9>"$dir/lock"
    flock 9
    if is_running "$dir" "$bin"; then
        as_pg "$bin/pg_ctl" stop -D "$dir/data" -m fast -w -t 30 >/dev/null
        echo "postgres: stopped" >&2
    fi
}

cmd_status() {
    local bin dir
    if bin="$(find_bindir)" && [[ -e "$BASE" ]] && dir="$(readlink -f "$BASE")" \
        && is_running "$dir" "$bin" && ready; then
        echo "postgres: running on 127.0.0.1:$PORT (data: $dir/data)"
        return 0
    fi
    echo "postgres: not running"
    return 1
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    restart) cmd_stop; cmd_start ;;
    status) cmd_status ;;
    env) echo "export KNFLOW_TEST_POSTGRES_URL=$URL" ;;
    *) echo "usage: $0 start|stop|restart|status|env" >&2; exit 2 ;;
esac
