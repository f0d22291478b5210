#!/usr/bin/env bash
# An S3 endpoint for knflow's tests: moto's server (the `moto[server]` package in the project venv).
#   s3.sh start|stop|restart|status|env
# Listens on 127.0.0.1:${KNFLOW_S3_PORT:-19000}; any access key is accepted.
# State (pid file, log) lives in ${KNFLOW_SERVICES_DIR:-$HOME/.cache/knflow/services}/s3.
# moto keeps objects in memory: a restart empties every bucket.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PORT="${KNFLOW_S3_PORT:-19000}"
SERVICES_DIR="${KNFLOW_SERVICES_DIR:-$HOME/.cache/knflow/services}"
DIR="$SERVICES_DIR/s3"
URL="http://127.0.0.1:$PORT"
MOTO="${KNFLOW_MOTO_SERVER:-$ROOT/.venv/bin/moto_server}"
START_TIMEOUT="${KNFLOW_S3_START_TIMEOUT:-30}"

die() { echo "s3.sh: $*" >&2; exit 1; }

log_tail() {
    echo "---- tail of $DIR/moto.log ----" >&2
    tail -n 40 "$DIR/moto.log" >&2 2>/dev/null || true
}

# An S3 answer (a 404 for a bucket that does not exist) means up: it costs moto nothing (its
# /moto-api/data.json would serialise every bucket and object, slower as the state grows). A 5xx is a broken
# server, e.g. one whose venv was deleted under it (a checkout removed): its lazy imports fail.
ready() {
    local code
    code="$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "$URL/knflow-ready-probe" 2>/dev/null || true)"
    [[ "$code" =~ ^[1-4][0-9][0-9]$ ]]
}
answers() {
    local code
    code="$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "$URL/knflow-ready-probe" 2>/dev/null || true)"
    [[ "$code" =~ ^[1-5][0-9][0-9]$ ]]
}

pid_alive() { [[ -f "$DIR/moto.pid" ]] && kill -0 "$(cat "$DIR/moto.pid")" 2>/dev/null; }

cmd_start() {
    [[ -x "$MOTO" ]] || die "$MOTO not found: run 'uv sync' (moto[server] is in the dev dependency group)"
    mkdir -p "$DIR"
    # Serialise concurrent "start"s (e.g. several test workers).
    exec 9>"$DIR/lock"
    flock 9
    if pid_alive; then
        if ready; then
            echo "s3: already running on $URL" >&2
            return
        fi
        answers || die "moto (pid $(cat "$DIR/moto.pid")) is running but not answering on $URL (port changed? run stop first)"
        echo "s3: moto (pid $(cat "$DIR/moto.pid")) answers 5xx: restarting it" >&2
        stop_server
    fi
    if answers; then
        die "something else already answers on $URL: set KNFLOW_S3_PORT to a free port"
    fi
    # setsid: the server outlives this script and the test session that started it;
    # 9>&-: it must not inherit (and so hold) the start lock.
    setsid "$MOTO" -H 127.0.0.1 -p "$PORT" >"$DIR/moto.log" 2>&1 </dev/null 9>&- &
    echo $! >"$DIR/moto.pid"
    local deadline=$((SECONDS + START_TIMEOUT))
    until ready; do
        if ! pid_alive; then
            log_tail
            die "moto_server exited during start"
        fi
        if ((SECONDS >= deadline)); then
            log_tail
            die "moto_server did not answer on $URL within ${START_TIMEOUT}s"
        fi
        sleep 0.2
    done
    echo "s3: started on $URL (log: $DIR/moto.log)" >&2
}

# The server of the pid file, gone (the caller holds the lock).
stop_server() {
    if pid_alive; then
        local pid
        pid="$(cat "$DIR/moto.pid")"
        kill "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
        echo "s3: stopped" >&2
    fi
    rm -f "$DIR/moto.pid"
}

cmd_stop() {
    [[ -d "$DIR" ]] || return 0
    exec 9>"$DIR/lock"
    flock 9
    stop_server
}

cmd_status() {
    if pid_alive && ready; then
        echo "s3: running on $URL"
        return 0
    fi
    echo "s3: not running"
    return 1
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    restart) cmd_stop; cmd_start ;;
    status) cmd_status ;;
    env) echo "export KNFLOW_TEST_S3_ENDPOINT=$URL" ;;
    *) echo "usage: $0 start|stop|restart|status|env" >&2; exit 2 ;;
esac
