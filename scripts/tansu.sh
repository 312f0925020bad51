#!/usr/bin/env bash
# Prints the path of the tansu broker (a Kafka-compatible broker from
# crates.io) the Kafka tests run, building it once into the cache when it is
# missing: `cargo install` takes 10-15 minutes on 2 cores, so it is done
# once per machine and never in a warm run.
#
#   scripts/tansu.sh            # -> ~/.cache/conexor/tansu-0.6.0-dynostore-libsql/bin/tansu
set -euo pipefail
VERSION=0.6.0
FEATURES=dynostore,libsql
CACHE="${CONEXOR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/conexor}"
ROOT="$CACHE/tansu-$VERSION-${FEATURES//,/-}"
BIN="$ROOT/bin/tansu"
if [[ ! -x "$BIN" ]]; then
  echo "tansu: building tansu $VERSION into $ROOT once (10-15 minutes on 2 cores)" >&2
  # memory:// storage needs dynostore; sqlite:// (SCRAM users outlive a
  # restart, so a broker can demand authentication) needs libsql.
  cargo install tansu --version "$VERSION" --locked --features "$FEATURES" --root "$ROOT" \
    --target-dir "$CACHE/tansu-target" >&2
fi
echo "$BIN"
