#!/usr/bin/env bash
# Installs the LiteLLM proxy test peer (litellm[proxy]==1.106.0, no database) into its own virtual
# environment, so its pins never constrain the exporter's. Idempotent; fast when already installed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
want="1.106.0"
stamp="$venv/.requirements.sha256"
req_sum="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"

# LiteLLM fetches its model cost map from the internet at import time unless told not to.
export LITELLM_LOCAL_MODEL_COST_MAP=True

installed() {
  [ -x "$venv/bin/python" ] || return 1
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$req_sum" ] || return 1
  # Reading the metadata is instant; importing the proxy takes ~10 s, so that is done once, below.
  [ "$("$venv/bin/python" -c 'from importlib.metadata import version; print(version("litellm"))' 2>/dev/null)" = "$want" ]
}

if installed; then
  exit 0
fi

PYTHON="${PYTHON:-python3}"
[ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! { "$venv/bin/pip" install -q --disable-pip-version-check --upgrade pip \
       && "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"; } >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
"$venv/bin/python" -c 'import litellm.proxy.proxy_server' >/dev/null
echo "$req_sum" > "$stamp"
echo "litellm peer: installed litellm[proxy]==$want into $venv"
