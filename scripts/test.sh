#!/usr/bin/env bash
# Set up and run the whole test suite. Media tests open WebRTC, which gathers candidates on
# every interface: the suite runs inside a private network namespace where only `lo` exists,
# so no packet can leave loopback. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# coturn: the TURN relay tests; nftables, openssl: the firewalled kernel (UDP dropped, TURN over
# TCP/TLS with a self-signed certificate); chromium: the browser tests; janus: the SFU tests;
# socat: the remote-Jupyter harness (tests/browser/remote.py); firefox-esr: the second browser
# (driven by puppeteer-core from package.json)
ZERO_NB_APT_EXTRA="${ZERO_NB_APT_EXTRA:-} ${ZERO_NB_TEST_APT:-coturn nftables openssl chromium janus socat firefox-esr}" ZERO_NB_EXTRAS=dev \
  scripts/setup.sh
VENV=${ZERO_NB_VENV:-.venv}
"$VENV/bin/ruff" check .
"$VENV/bin/mypy" zero_nb
# the whole suite (no pytest arguments, as CI runs it) first checks the declared versions: the
# lowest Python with the lowest allowed dependencies, and the newest with the newest
[ $# -gt 0 ] || ZERO_NB_VENV="$VENV" scripts/matrix.sh
if [ "$(id -u)" = 0 ]; then ns=(unshare -n); else ns=(unshare -rn); fi
exec "${ns[@]}" sh -c 'ip link set lo up && exec "$0" -m pytest "$@"' "$VENV/bin/python" "$@"
