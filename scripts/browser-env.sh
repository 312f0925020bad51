#!/usr/bin/env bash
# Prepares the dashboard's browser tests: Debian's Chromium (installed with
# apt when missing) and playwright-core pinned by tests/browser/package-lock.json
# (installed with `npm ci` into .cache/browser, once; it downloads no browser).
# Prints that directory on stdout.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ ! -x /usr/bin/chromium ]]; then
  echo "browser-env: installing Debian's chromium" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >&2
fi
dir="$ROOT/.cache/browser"
stamp="$(sha256sum "$ROOT/tests/browser/package-lock.json" | cut -d' ' -f1)"
if [[ ! -f "$dir/.stamp" || "$(cat "$dir/.stamp")" != "$stamp" ]]; then
  command -v npm >/dev/null || { echo "browser-env: npm not found (apt-get install nodejs npm)" >&2; exit 1; }
  mkdir -p "$dir"
  cp "$ROOT/tests/browser/package.json" "$ROOT/tests/browser/package-lock.json" "$dir/"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$stamp" >"$dir/.stamp"
fi
echo "$dir"
