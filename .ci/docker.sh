#!/usr/bin/env bash
# Install and start a Docker engine, then make sure the sandbox image exists.
# Idempotent: every step is skipped when already done. Called by .ci/run after
# `pip install -e .[test]`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { echo "[docker.sh] $*"; }

# docker.io + iptables: the engine. python3 (+ sortedcontainers) and g++: what the offline image is made of
# (`python3 -m sandbox build-image` copies these installed Debian packages when no registry answers).
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
dpkg -s python3-minimal libpython3-stdlib >/dev/null 2>&1 || missing+=(python3)
dpkg -s python3-sortedcontainers >/dev/null 2>&1 || missing+=(python3-sortedcontainers)
dpkg -s g++ >/dev/null 2>&1 || missing+=(g++)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)  # tests/engine/backends/test_http1.py: a TLS certificate
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
    log "starting dockerd"
    nohup dockerd >/tmp/dockerd.log 2>&1 &
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 0.5
    done
    if ! docker info >/dev/null 2>&1; then
        log "dockerd did not answer within 30 s; last log lines:"
        tail -n 30 /tmp/dockerd.log || true
        exit 1
    fi
fi
log "docker engine $(docker version --format '{{.Server.Version}}') is up"

python3 -m sandbox build-image
