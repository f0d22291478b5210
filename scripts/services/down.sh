#!/usr/bin/env bash
# Stop every test service (a service that isn't running is skipped); data is kept.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

status=0
for s in kafka postgres knative kube s3; do "$HERE/$s.sh" stop || status=1; done
exit "$status"
