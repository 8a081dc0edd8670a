#!/usr/bin/env bash
# What the user-interface tests drive for real: Debian's chromium and chromium-driver (the report
# and dashboard tests; selenium comes with the project's test extra) and tmux (the progress bar in
# an 80-column terminal). Idempotent: what is installed is left as it is.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
if ((${#missing[@]})); then
    echo "[ui] installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "[ui] $(chromium --version 2>/dev/null | head -1); $(tmux -V)"
