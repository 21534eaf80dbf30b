#!/usr/bin/env bash
# Set up and run the main job: the zero_nb signaling server (and web client) on port 8765.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/zero-nb serve "$@"
