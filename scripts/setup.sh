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

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q -e ".[$EXTRAS]"
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
