#!/usr/bin/env bash
# What pyproject.toml declares, tested for real: the unit tests and one mesh media test on the
# lowest Python it allows with the lowest allowed direct dependencies (uv --resolution
# lowest-direct), and on the newest Python here with the newest releases. scripts/test.sh runs
# it; ZERO_NB_MATRIX="3.10:lowest-direct 3.13:highest" (the default) names the legs, "none"
# skips it. Interpreters come from pyenv or PATH (never downloaded), packages from PyPI; the
# tests run in a private network namespace where only loopback exists, like the main suite.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${ZERO_NB_VENV:-.venv}
LEGS=${ZERO_NB_MATRIX:-3.10:lowest-direct 3.13:highest}
[ "$LEGS" = none ] && exit 0
TESTS=(tests/unit "tests/integration/test_mesh.py::test_two_bots_see_each_others_colour")
export UV_PYTHON_DOWNLOADS=never
uv="$VENV/bin/uv"
[ -x "$uv" ] || { echo "matrix: $uv is missing: run scripts/setup.sh with the dev extras" >&2; exit 1; }

find_python() {  # the newest installed patch release of Python $1
  local found=""
  if command -v pyenv >/dev/null 2>&1; then
    found=$(ls -d "$(pyenv root)/versions/$1".*/bin/"python$1" 2>/dev/null | sort -V | tail -1)
  fi
  [ -n "$found" ] || found=$(command -v "python$1" || true)
  echo "$found"
}

if [ "$(id -u)" = 0 ]; then ns=(unshare -n); else ns=(unshare -rn); fi
for leg in $LEGS; do
  version=${leg%%:*} resolution=${leg#*:}
  python=$(find_python "$version")
  if [ -z "$python" ]; then
    echo "matrix: no Python $version here (pyenv install $version, or ZERO_NB_MATRIX=none)" >&2
    exit 1
  fi
  env=".matrix/py$version-$resolution"
  rm -rf "$env"
  "$uv" venv -q --seed -p "$python" "$env"
  "$uv" pip install -q -p "$env/bin/python" --resolution "$resolution" -e ".[test]"
  echo "matrix: Python $version, $resolution: $("$uv" pip list -p "$env/bin/python" 2>/dev/null |
    awk '$1 ~ /^(aiortc|aioice|av|numpy|websockets)$/ {printf "%s %s  ", $1, $2}')"
  "${ns[@]}" sh -c 'ip link set lo up && exec "$0" -m pytest -q -p no:cacheprovider "$@"' \
    "$env/bin/python" "${TESTS[@]}"
done
