#!/usr/bin/env bash
# Installs the official MCP TypeScript SDK (pinned by tests/ts/package-lock.json)
# into .cache/ts-sdk with `npm ci`, once; prints that directory on stdout.
# A snippet placed there resolves `@modelcontextprotocol/sdk` from it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$ROOT/.cache/ts-sdk"
stamp="$(sha256sum "$ROOT/tests/ts/package-lock.json" | cut -d' ' -f1)"
if [[ ! -f "$dir/.stamp" || "$(cat "$dir/.stamp")" != "$stamp" ]]; then
  command -v npm >/dev/null || { echo "ts-sdk: npm not found (apt-get install nodejs npm)" >&2; exit 1; }
  mkdir -p "$dir"
  cp "$ROOT/tests/ts/package.json" "$ROOT/tests/ts/package-lock.json" "$dir/"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$stamp" >"$dir/.stamp"
fi
echo "$dir"
