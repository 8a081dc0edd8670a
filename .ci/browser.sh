#!/usr/bin/env bash
# Install a real headless browser for the report tests: Debian's chromium and chromium-driver
# (selenium, which drives it, comes with the project's test extra). Idempotent: a machine that
# has both binaries is left as it is.
set -euo pipefail

if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    echo "[browser] $(chromium --version 2>/dev/null | head -1); chromedriver present"
    exit 0
fi
echo "[browser] installing chromium and chromium-driver"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
chromium --version
