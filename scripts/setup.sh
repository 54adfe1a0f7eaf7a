#!/usr/bin/env bash
# Install and start what scanbox needs on a Debian machine, idempotently:
# Docker engine, gVisor (runsc, registered with the engine), Redis, debootstrap, Debian's
# headless Chromium (for the browser tests and the web pages' tests), the virtual environment
# (with the dev and docs extras), the fetcher image and the browser image.
# Usage: source scripts/setup.sh   (or run it; it exports nothing you need afterwards)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

log() { printf 'setup: %s\n' "$*"; }

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v runsc >/dev/null 2>&1 || missing+=(runsc)
# Chromium 156 and its fonts come from bookworm-security, which Debian's sources list (the
# browser image's tests and the web pages' tests drive it with Playwright's executable_path;
# Playwright's own browser download is never used).
command -v chromium-headless-shell >/dev/null 2>&1 \
  || missing+=(chromium-headless-shell fonts-liberation fonts-noto-core)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
# Tests: PostgreSQL (the tests start their own cluster), docker-compose (checks compose.yaml),
# and Debian's own python3 with venv (it resolves the worker image's wheelhouse).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
/usr/bin/python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

wait_for() {  # wait_for SECONDS COMMAND...: poll until COMMAND succeeds or time runs out
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.5
  done
}

if ! docker info >/dev/null 2>&1; then
  log "starting the Docker engine"
  $sudo sh -c 'setsid dockerd >/var/log/scanbox-dockerd.log 2>&1 < /dev/null &'
  wait_for 60 docker info || { log "dockerd did not start; see /var/log/scanbox-dockerd.log"; exit 1; }
fi

# gVisor as the engine's runtime "runsc". On these machines it needs the ptrace platform, and
# a network argument (its own stack fails here): fetchers have no network of their own, so
# none, and the egress proxy's socket is reached through --host-uds=open.
runsc_args='["--platform=ptrace", "--network=none", "--host-uds=open"]'
if ! docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"runsc"'; then
  log "registering gVisor (runsc) with the Docker engine"
  $sudo mkdir -p /etc/docker
  $sudo /usr/bin/python3 - "$(command -v runsc)" "$runsc_args" <<'PY'
import json, pathlib, sys
path = pathlib.Path("/etc/docker/daemon.json")
config = json.loads(path.read_text()) if path.exists() and path.read_text().strip() else {}
config.setdefault("runtimes", {})["runsc"] = {"path": sys.argv[1], "runtimeArgs": json.loads(sys.argv[2])}
path.write_text(json.dumps(config, indent=2) + "\n")
PY
  $sudo kill -HUP "$(pidof dockerd)"
  wait_for 30 sh -c "docker info --format '{{json .Runtimes}}' | grep -q '\"runsc\"'" \
    || { log "the engine did not take the runsc runtime; see /etc/docker/daemon.json"; exit 1; }
fi

redis_port="${SCANBOX_REDIS_PORT:-6379}"
if ! redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
  log "starting Redis on 127.0.0.1:$redis_port"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
    >/dev/null
  wait_for 20 redis-cli -p "$redis_port" ping || { log "redis-server did not start"; exit 1; }
fi

if [ ! -x .venv/bin/scanbox ] || [ pyproject.toml -nt .venv/.scanbox-installed ]; then
  log "installing scanbox into .venv"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e '.[dev,docs]'
  touch .venv/.scanbox-installed
fi

# Without a registry, build the fetcher on a base made from Debian's packages. A machine that
# reaches a registry can set FETCHER_BASE_IMAGE=python:3.12-slim instead.
base="${FETCHER_BASE_IMAGE:-scanbox/base:bookworm}"
if [ "$base" = "scanbox/base:bookworm" ]; then
  scripts/make-base-image.sh "$base"
fi
log "building the fetcher image on $base"
.venv/bin/scanbox image build --base "$base"
# The browser image: Debian's Chromium driven by Playwright, on the same local base (cached
# by the engine after the first build, which takes a few minutes).
log "building the browser image"
if [ "$base" = "scanbox/base:bookworm" ]; then
  scripts/build-browser-image.sh
else
  BROWSER_BASE_IMAGE="${BROWSER_BASE_IMAGE:-python:3.11-slim-bookworm}" scripts/build-browser-image.sh
fi
