#!/usr/bin/env bash
# Build or reuse the venv with Bespoke Curator that bench/engine_throughput.py runs beside the
# engine (its own venv: Curator's pins must not move the project's).
#
# Idempotent: a marker names what was installed, so a second run takes about a second.
#   THOUGHTMILL_CURATOR_VENV   venv with bespokelabs-curator   (/opt/thoughtmill/curator-venv)
# Usage: bash .ci/curator_env.sh
set -euo pipefail

VENV="${THOUGHTMILL_CURATOR_VENV:-/opt/thoughtmill/curator-venv}"
SPEC="bespokelabs-curator==0.1.31"

mkdir -p "$(dirname "$VENV")"
exec 9>"$(dirname "$VENV")/.curator_env.lock"
flock 9  # two runs at once would fight over the same venv

marker="$VENV/.thoughtmill-curator"
if [[ "$(cat "$marker" 2>/dev/null)" != "$SPEC" ]]; then
    echo "[curator_env] installing $SPEC into $VENV"
    [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet "$SPEC"
    TELEMETRY_ENABLED=false "$VENV/bin/python" -c "import bespokelabs.curator"
    echo "$SPEC" >"$marker"
fi
echo "$VENV/bin/python"
