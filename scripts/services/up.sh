#!/usr/bin/env bash
# Start the test services and print their env lines on stdout:
#   eval "$(scripts/services/up.sh)"
# PostgreSQL, the Kubernetes API server (kube.sh: its first run builds it, ~11 min on 2 cores) and the
# cluster with a real Knative Serving (knative.sh: its first run builds Knative, ~6 min more beside it)
# always; Kafka too with KNFLOW_WITH_KAFKA=1 (it costs a JVM and ~0.5 GB; tests start it on demand
# otherwise). The services start side by side: on a fresh machine the Go build of the API server
# overlaps the downloads of the others.
# Every service listens below 32768, outside Linux's ephemeral range (32768-60999): a client's own
# port (a reconnect loop while a broker restarts, say) can never take a service's port before it binds.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOGS="$(mktemp -d)"
trap 'rm -rf "$LOGS"' EXIT

services=(postgres kube knative)
if [[ "${KNFLOW_WITH_KAFKA:-0}" == 1 ]]; then services+=(kafka); fi

pids=()
for s in "${services[@]}"; do
    "$HERE/$s.sh" start >"$LOGS/$s.log" 2>&1 &
    pids+=($!)
done
failed=0
for i in "${!services[@]}"; do
    if ! wait "${pids[$i]}"; then
        echo "up.sh: ${services[$i]} did not start:" >&2
        tail -n 40 "$LOGS/${services[$i]}.log" >&2
        failed=1
    else
        cat "$LOGS/${services[$i]}.log" >&2
    fi
done
[[ "$failed" == 0 ]] || exit 1
for s in "${services[@]}"; do "$HERE/$s.sh" env; done
