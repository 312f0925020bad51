#!/usr/bin/env bash
# Short fuzzing run for CI (fuzz/README.md): installs cargo-fuzz when missing
# (into ~/.cache/conexor/cargo-fuzz, owned by this script; the instrumented
# build goes to ~/.cache/conexor/fuzz-target), builds every fuzz target
# once, then runs each over its committed corpus (fuzz/corpus/<target>) for
# a few seconds. Fails on any crash, panic, failed property or timeout.
#
#   scripts/fuzz.sh [--seconds N] [--replay] [target...]
#
#   --seconds N  fuzzing time per target after the corpus is replayed (default 5)
#   --replay     also run `cargo test` in fuzz/: every committed corpus and
#                regression input through the same checks, without cargo-fuzz
#
# The committed corpora are only read: new inputs go to a temporary directory.
# A crashing input is kept in fuzz/artifacts/<target>/ (ignored by git).
# Needs only stable Rust: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export RUSTC_BOOTSTRAP=1
started=$SECONDS
step() { printf '\n==> %s (%ss)\n' "$*" "$((SECONDS - started))" >&2; }

SECONDS_EACH=5
REPLAY=0
TARGETS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECONDS_EACH="$2"; shift 2 ;;
        --seconds=*) SECONDS_EACH="${1#*=}"; shift ;;
        --replay) REPLAY=1; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) TARGETS+=("$1"); shift ;;
    esac
done

CARGO_FUZZ_VERSION=0.13.2
# Kept outside the checkout so that a fresh clone on the same machine (as CI
# uses) pays the install and the instrumented build once.
CACHE="${CONEXOR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/conexor}"
TOOLS="$CACHE/cargo-fuzz"
export CARGO_TARGET_DIR="$CACHE/fuzz-target"
CARGO_FUZZ="$TOOLS/bin/cargo-fuzz"
if ! "$CARGO_FUZZ" --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    step "install cargo-fuzz $CARGO_FUZZ_VERSION into $TOOLS"
    cargo install --locked --root "$TOOLS" --version "$CARGO_FUZZ_VERSION" cargo-fuzz
fi
export PATH="$TOOLS/bin:$PATH"

if [ ${#TARGETS[@]} -eq 0 ]; then
    mapfile -t TARGETS < <(cargo fuzz list)
fi

# -s none: every Conexor crate forbids unsafe code, so AddressSanitizer adds
# cost and little else; panics, failed properties, debug assertions and
# overflow checks (on in cargo fuzz's default build) are the findings.
FLAGS=(-s none)

step "build ${#TARGETS[@]} fuzz targets"
cargo fuzz build "${FLAGS[@]}"

WORK="$(mktemp -d /tmp/conexor-fuzz-XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
failed=()
for t in "${TARGETS[@]}"; do
    step "fuzz $t for ${SECONDS_EACH}s over fuzz/corpus/$t"
    mkdir -p "$WORK/$t" "fuzz/corpus/$t"
    dict=()
    [ -f "fuzz/dict/$t.dict" ] && dict=("-dict=fuzz/dict/$t.dict")
    if ! cargo fuzz run "${FLAGS[@]}" "$t" "$WORK/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "${dict[@]}" >"$WORK/$t.log" 2>&1; then
        tail -n 60 "$WORK/$t.log" >&2
        failed+=("$t")
    else
        grep -E '^stat::number_of_executed_units|^Done ' "$WORK/$t.log" >&2 || true
    fi
done

if [ "$REPLAY" = 1 ]; then
    step "replay the committed corpora with cargo test (fuzz/tests/replay.rs)"
    cargo test --locked --manifest-path fuzz/Cargo.toml --test replay || failed+=(replay)
fi

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing failed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
step "fuzzing ok: ${TARGETS[*]}"
