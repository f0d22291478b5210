#!/usr/bin/env bash
# Debian's Chromium for the web UI's browser tests (tests/e2e/ui): installed once, idempotently.
#   chromium.sh          install if missing, then print `export KNFLOW_CHROMIUM=/path`
# Playwright (PyPI) drives it through its own driver; `playwright install` (a browser download) is
# never used. Installing needs root (apt-get); without it a missing browser is an error naming the package.
set -euo pipefail

die() { echo "chromium.sh: $*" >&2; exit 1; }

find_chromium() {
    local c
    for c in /usr/bin/chromium /usr/bin/chromium-browser; do
        if [[ -x "$c" ]]; then echo "$c"; return; fi
    done
    return 1
}

if ! path="$(find_chromium)"; then
    [[ "$(id -u)" == 0 ]] || die "chromium not found; install the Debian package 'chromium'"
    echo "chromium.sh: installing chromium with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    # The package lists may be missing or stale on a fresh machine: update only if needed.
    # Waits for dpkg's lock rather than failing while another install (a test service's) holds it.
    apt=(apt-get -o DPkg::Lock::Timeout=600)
    "${apt[@]}" install -y -q chromium >&2 || { "${apt[@]}" update -q >&2 && "${apt[@]}" install -y -q chromium >&2; }
    path="$(find_chromium)" || die "chromium still not found after installing the package"
fi
echo "export KNFLOW_CHROMIUM=$path"
