#!/usr/bin/env bash
# Training tools for the train tests, cached and idempotent (a second run takes about a second):
#   1. TRL into the vLLM venv (.ci/vllm_env.sh), pinned to that venv's freeze so vLLM's torch and
#      transformers never move: the CPU fine-tune runs where vLLM can then load the checkpoint.
#   2. A venv with stock LLaMA-Factory, whose own loader and argument parser read our exports.
#      PyPI has no torchaudio build for the CPU torch on these machines (torchaudio 2.11 needs
#      torch 2.11, whose PyPI wheels pull ~5 GB of CUDA libraries); LLaMA-Factory imports
#      torchaudio for audio data only, so the check stubs that import
#      (tests/engine/train/llamafactory_check.py).
# Paths (override with the env vars):
#   THOUGHTMILL_VLLM_VENV          (/opt/thoughtmill/vllm-venv)
#   THOUGHTMILL_LLAMAFACTORY_VENV  (/opt/thoughtmill/llamafactory-venv)
# Usage: bash .ci/train_env.sh   (after .ci/vllm_env.sh)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VLLM_VENV="${THOUGHTMILL_VLLM_VENV:-/opt/thoughtmill/vllm-venv}"
LF_VENV="${THOUGHTMILL_LLAMAFACTORY_VENV:-/opt/thoughtmill/llamafactory-venv}"
TRL_SPEC="trl==1.16.0"
LF_SPEC="llamafactory==0.9.5"
LF_PINS="$REPO/configs/train/llamafactory-venv.txt"

log() { echo "[train_env] $*"; }

mkdir -p "$(dirname "$LF_VENV")"
exec 9>"$(dirname "$LF_VENV")/.train_env.lock"
flock 9

trl_marker="$VLLM_VENV/.thoughtmill-trl"
if [[ "$(cat "$trl_marker" 2>/dev/null)" != "$TRL_SPEC" ]]; then
    log "installing $TRL_SPEC into $VLLM_VENV"
    pins="$(mktemp)"
    "$VLLM_VENV/bin/python" -m pip freeze --exclude-editable | grep -v '^-e ' >"$pins"
    "$VLLM_VENV/bin/python" -m pip install --quiet -c "$pins" "$TRL_SPEC"
    rm -f "$pins"
    (cd / && "$VLLM_VENV/bin/python" -c "import trl, vllm, engine.job")
    echo "$TRL_SPEC" >"$trl_marker"
fi

lf_want="$LF_SPEC $(sha256sum "$LF_PINS" | cut -d' ' -f1)"
if [[ "$(cat "$LF_VENV/.thoughtmill-llamafactory" 2>/dev/null)" != "$lf_want" ]]; then
    log "building $LF_SPEC in $LF_VENV (about 2 minutes the first time)"
    rm -rf "$LF_VENV"
    python3 -m venv "$LF_VENV"
    "$LF_VENV/bin/python" -m pip install --quiet -r "$LF_PINS"
    "$LF_VENV/bin/python" -m pip install --quiet --no-deps "$LF_SPEC"
    echo "$lf_want" >"$LF_VENV/.thoughtmill-llamafactory"
fi

log "ready: trl in $VLLM_VENV, LLaMA-Factory in $LF_VENV"
