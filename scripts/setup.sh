#!/usr/bin/env bash
# Set up a fresh machine: system packages (as root, when missing) and a venv with zero_nb.
# Idempotent and quick on a machine that has everything.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${ZERO_NB_VENV:-.venv}
EXTRAS=${ZERO_NB_EXTRAS:-test}
# dev setups also get package.json's pinned tools (TypeScript checks js/); users need no npm
case ",$EXTRAS," in *,dev,*) dev=1 ;; *) dev=0 ;; esac

need_apt=()
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
command -v unshare >/dev/null 2>&1 || need_apt+=(util-linux)
declare -A binary_of=([coturn]=turnserver [nftables]=nft [chromium]=chromium [janus]=janus)
[ "$dev" = 0 ] || command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
for pkg in ${ZERO_NB_APT_EXTRA:-}; do
  command -v "${binary_of[$pkg]:-$pkg}" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: apt-get install ${need_apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: please install with apt: ${need_apt[*]}" >&2
  fi
fi

if ! "$VENV/bin/python" -c '' >/dev/null 2>&1; then  # missing, or its interpreter is gone
  python3 -m venv --clear "$VENV"
fi
# pip only when something changed since the last install into this venv (resolving every
# dependency takes about a minute): pyproject.toml, the extras, the interpreter or this
# checkout's path; or when the venv no longer holds a consistent install (a package
# removed or broken, zero_nb not importable from here). ZERO_NB_REINSTALL=1 forces it.
stamp="$VENV/.zero_nb-installed-$EXTRAS"
want="$(sha256sum pyproject.toml | cut -d' ' -f1) [$EXTRAS] $("$VENV/bin/python" -VV | tr '\n' ' ') $PWD"
installed() {
  [ "${ZERO_NB_REINSTALL:-0}" != 1 ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] &&
    (here=$(pwd -P) && py=$(realpath -s "$VENV/bin/python") && cd / && "$py" -c '
import os, sys, zero_nb  # from /: not the checkout on sys.path, but what the venv installed
sys.exit(os.path.dirname(os.path.dirname(os.path.realpath(zero_nb.__file__))) != sys.argv[1])
' "$here") >/dev/null 2>&1 &&
    "$VENV/bin/python" -m pip check >/dev/null 2>&1
}
if installed; then
  echo "setup: $VENV already has zero_nb[$EXTRAS] for this pyproject.toml: pip skipped"
else
  rm -f "$stamp"
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$VENV/bin/python" -m pip install -q -e ".[$EXTRAS]"
  echo "$want" > "$stamp"
fi
# npm ci only when package-lock.json changed since the last install (it wipes node_modules)
if [ "$dev" = 1 ] && ! cmp -s package-lock.json node_modules/.zero_nb-lock; then
  if command -v npm >/dev/null 2>&1; then
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.zero_nb-lock
  else
    echo "setup: npm is missing: the JS type check (tests/unit/test_js_layout.py) will fail" >&2
  fi
fi
echo "setup: ready ($VENV)"
