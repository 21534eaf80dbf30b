#!/usr/bin/env bash
# Set up and run the main job: JupyterLab on the quickstart notebook (which starts a signaling
# server and bots itself). `scripts/run.sh serve [--port P ...]` runs only the signaling server
# and web client instead.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = serve ]; then
  shift
  scripts/setup.sh
  exec .venv/bin/zero-nb serve "$@"
fi
ZERO_NB_EXTRAS=lab scripts/setup.sh
root=(); [ "$(id -u)" = 0 ] && root=(--allow-root)
exec .venv/bin/jupyter lab --ServerApp.ip=127.0.0.1 "${root[@]}" "$@" notebooks/01_quickstart.ipynb
