#!/usr/bin/env bash
# Install and start a Docker engine, then make sure the sandbox image exists.
# Idempotent: every step is skipped when already done. Called by .ci/run after
# `pip install -e .[test]`.
set -euo pipefail

log() { echo "[docker.sh] $*"; }

if ! command -v dockerd >/dev/null 2>&1 || ! command -v iptables >/dev/null 2>&1; then
    log "installing docker.io and iptables"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends docker.io iptables >/dev/null
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

true # build-image added later
