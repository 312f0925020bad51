#!/usr/bin/env bash
# The whole performance report (issue 10) from one run of one command: every
# figure below comes from the same release build, on the same machine, in one
# sitting, each server in its own process.
#
#   1. where a small call's instructions go, by stage (bench/profile.sh, callgrind)
#   2. a small query under wrk at 1, 8 and 32 connections: Conexor direct, behind
#      nginx, in agent mode (`conexor agent` in its own process), DBHub direct and
#      behind nginx, and the floor (sqlx in-process inside the same read-only
#      transaction) (bench/http.sh --agent --floor); then CPU per call of the
#      server and of the agent (bench/cpu-per-call.sh), and the small query with
#      power-loss durability
#   3. 1,000-row and 10,000-row answers, same set-up, with the floor
#   4. cold start (bench/coldstart.sh)
#   5. cost as the work grows: schemas of 1,000 and 10,000 tables, 500 named
#      tools, an audit chain exported and verified, 10,000 keys in 1,000
#      workspaces, 500 MCP sessions (bench/growth.sh)
#   6. load and faults: 200 sessions, SIGKILL, PostgreSQL restart, agent killed and
#      cut off, clients that never read (bench/load.sh)
#
# Usage:
#   bench/report.sh [--out FILE] [--duration S] [--audit-records N] [--load-duration S]
#                   [--skip part,part]   (parts: profile,small,cpusplit,powerloss,rows,coldstart,growth,load)
#
# Builds the release binaries once (conexor, conexor-bench, conexor-growth), copies
# them aside so that nothing rebuilds them mid-run, and runs the parts in order.
# Run it on a machine that is otherwise idle: it takes about 30 minutes, and a
# build or another benchmark running beside it makes the wall-clock figures
# meaningless (the callgrind counts are not affected). As root (load.sh needs
# network namespaces; PostgreSQL runs as user postgres).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly COMMAND="bench/report.sh${*:+ $*}"
log() { printf 'bench-report: %s\n' "$*" >&2; }
die() { printf 'bench-report: ERROR: %s\n' "$*" >&2; exit 1; }

out=
duration=10
audit_records=1000000
load_duration=60
skip=,
while (($#)); do
  case $1 in
    --out) out=$(realpath -m "$2"); shift ;;
    --duration) duration=$2; shift ;;
    --audit-records) audit_records=$2; shift ;;
    --load-duration) load_duration=$2; shift ;;
    --skip) skip=",$2,"; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done
cd "$ROOT"
wanted() { [[ $skip != *",$1,"* ]]; }

log "building the release binaries once"
cargo build --release --locked -p conexor -p conexor-bench >&2
bins=$(mktemp -d /tmp/conexor-bench-report.XXXXXX)
trap 'rm -rf "$bins"' EXIT
cp target/release/conexor target/release/conexor-bench target/release/conexor-growth "$bins/"
bin="$bins/conexor"

started=$(date -u '+%Y-%m-%d %H:%M UTC')
parts="$bins/parts"
mkdir -p "$parts"
run_part() { # name command...
  local name=$1
  shift
  log "part $name: $*"
  local t0=$SECONDS rc=0
  "$@" >"$parts/$name.md" 2>"$parts/$name.log" || rc=$?
  if ((rc == 0)); then
    log "part $name done in $((SECONDS - t0)) s"
  else
    log "part $name FAILED (exit status $rc) after $((SECONDS - t0)) s; its log ends:"
    tail -n 20 "$parts/$name.log" >&2
    printf '\n**Part %s failed** (exit status %s); its log ended:\n\n```\n%s\n```\n' \
      "$name" "$rc" "$(tail -n 20 "$parts/$name.log")" >>"$parts/$name.md"
  fi
}

wanted profile && run_part profile bench/profile.sh --bin "$bin" --calls 200
wanted small && run_part small bench/http.sh --bin "$bin" --duration "$duration" --concurrency 1,8,32 \
  --agent --floor --bench-bin "$bins/conexor-bench"
# Agent mode's cost: CPU per call of the server and of the agent, beside direct mode.
wanted cpusplit && run_part cpusplit bench/cpu-per-call.sh --bin "$bin" --rounds 2
# The same small query with an fsync per audit commit (the server's and the
# agent's), for the power-loss target: within 0.5 ms of the floor plus one fsync.
wanted powerloss && run_part powerloss env CONEXOR_BENCH_DURABILITY=power-loss bench/http.sh --bin "$bin" \
  --duration "$duration" --concurrency 1,8 --no-dbhub --agent --floor --bench-bin "$bins/conexor-bench"
if wanted rows; then
  run_part rows1000 bench/http.sh --bin "$bin" --duration "$duration" --concurrency 1,8 --rows 1000 \
    --floor --bench-bin "$bins/conexor-bench"
  run_part rows10000 bench/http.sh --bin "$bin" --duration "$duration" --concurrency 1,8 --rows 10000 \
    --floor --bench-bin "$bins/conexor-bench"
fi
wanted coldstart && run_part coldstart bench/coldstart.sh --bin "$bin" --runs 5
wanted growth && run_part growth bench/growth.sh --bin "$bin" --growth-bin "$bins/conexor-growth" \
  --tables 1000,10000 --named-tools 500 --audit-records "$audit_records" \
  --auth-workspaces 1000 --auth-keys-per-workspace 10 --sessions 500
wanted load && run_part load bench/load.sh --bin "$bin" --duration "$load_duration"

{
  echo "## Performance report (issue 10), one run of \`$COMMAND\`"
  echo
  echo "- Started $started, finished $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git rev-parse --short=12 HEAD)$([[ -n $(git status --porcelain) ]] && echo ' (uncommitted changes)')"
  echo "- Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), kernel $(uname -r); $(rustc --version); release build"
  echo "- Peers and tools: DBHub (bench/package.json), PostgreSQL $(pg_config --version 2>/dev/null | awk '{print $2}'), $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2), $(valgrind --version 2>/dev/null)"
  echo
  for part in profile small cpusplit powerloss rows1000 rows10000 coldstart growth load; do
    [[ -f $parts/$part.md ]] || continue
    # Each part's own heading goes one level down.
    sed -e 's/^### /#### /' -e 's/^## /### /' "$parts/$part.md"
    echo
  done
} | tee ${out:+"$out"}
