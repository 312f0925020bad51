#!/usr/bin/env bash
# Create or update the Python virtualenv used by the real-MCP-client tests
# (tests/python/). Prints the venv's python path on stdout as its only line;
# progress goes to stderr so callers can do:
#     PY="$(scripts/python-env.sh)"
#
# Env:
#   CONEXOR_VENV   venv directory (default: .venv at the repo root; gitignored)
#   PYTHON         interpreter used to create the venv (default: python3)
#
# A second run is fast: if every requirement is already satisfied in the venv
# (checked with importlib.metadata, no network) pip is not invoked at all.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${CONEXOR_VENV:-$repo_root/.venv}"
python="${PYTHON:-python3}"

# Requirements. mcp 2.x is the current line on PyPI (2.3.0 when this was
# written): it has `from mcp import Client` and streamable_http_client(url,
# http_client=...). Pin the major so a 3.x release cannot break the tests
# silently.
reqs=(
  "mcp>=2.3,<3"
  "cryptography>=42"
  "httpx>=0.27"
  "pytest>=8"
  "moto[server]>=5,<6"
  "pyarrow>=15"
  "kafka-python>=2.2"    # the Kafka tests produce with a standard client
  "fastavro>=1.9"        # and frame Avro values as Confluent's serializer does
)

log() { printf 'python-env: %s\n' "$*" >&2; }

if [[ ! -x "$venv/bin/python" ]]; then
  log "creating venv at $venv"
  "$python" -m venv "$venv" >&2 ||
    { log "ERROR: '$python -m venv' failed (on Debian's own python3: apt-get install python3-venv)"; exit 1; }
fi
vpy="$venv/bin/python"

# Are all requirements already installed at acceptable versions? Uses
# packaging's specifier logic when available (pip vendors it), else falls back
# to "installed at all". Exit 0 = satisfied.
satisfied() {
  "$vpy" - "${reqs[@]}" <<'PY' >/dev/null 2>&1
import sys
from importlib import metadata
try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
for spec in sys.argv[1:]:
    r = Requirement(spec)
    try:
        v = metadata.version(r.name)
    except metadata.PackageNotFoundError:
        sys.exit(1)
    if r.specifier and not r.specifier.contains(v, prereleases=True):
        sys.exit(1)
PY
}

if satisfied; then
  log "requirements already satisfied in $venv"
else
  log "installing ${reqs[*]} into $venv"
  "$vpy" -m pip install --quiet --disable-pip-version-check "${reqs[@]}" >&2
  satisfied || { log "ERROR: requirements still not satisfied after pip install"; exit 1; }
fi

echo "$vpy"
