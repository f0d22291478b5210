#!/usr/bin/env bash
# Start the test services and print their env lines on stdout:
#   eval "$(scripts/services/up.sh)"
# PostgreSQL and the Kubernetes API server (kube.sh: its first run builds it, ~11 min on 2 cores)
# always; Kafka only with KNFLOW_WITH_KAFKA=1 (it costs a JVM and ~0.5 GB).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

services=(postgres kube)
if [[ "${KNFLOW_WITH_KAFKA:-0}" == 1 ]]; then services+=(kafka); fi

for s in "${services[@]}"; do "$HERE/$s.sh" start >&2; done
for s in "${services[@]}"; do "$HERE/$s.sh" env; done
