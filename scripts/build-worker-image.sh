#!/usr/bin/env bash
# Build the worker image (Dockerfile.worker) without a registry: on the local Debian base
# (scripts/make-base-image.sh), installing scanbox and its dependencies from a wheelhouse that
# this machine's pip builds, so the image holds the versions .venv was tested with.
#   scripts/build-worker-image.sh [TAG]        (default scanbox-worker:latest)
# WORKER_BASE_IMAGE picks another base; a base other than the local one installs from PyPI.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tag="${1:-scanbox-worker:latest}"
base="${WORKER_BASE_IMAGE:-scanbox/base:bookworm}"
args=(--build-arg "BASE_IMAGE=$base" --label org.scanbox.component=worker)
if [ "$base" = "scanbox/base:bookworm" ]; then
  scripts/make-base-image.sh "$base"
  # The wheelhouse is resolved by Debian's own python3, the interpreter the base image has, so
  # that version markers (and binary wheels) fit the image, not the interpreter of .venv.
  pip_venv=build/worker-pip
  if [ ! -x "$pip_venv/bin/pip" ]; then
    /usr/bin/python3 -m venv "$pip_venv"
  fi
  wheels=build/worker-wheels
  rm -rf "$wheels"
  mkdir -p "$wheels"
  "$pip_venv/bin/pip" wheel -q --disable-pip-version-check --wheel-dir "$wheels" . 2>&1 \
    | grep -v "^WARNING: Location" || true
  ls "$wheels"/scanbox-*.whl >/dev/null
  args+=(--build-arg "WHEELS=$wheels")
fi
echo "building $tag on $base"
docker build -q -f Dockerfile.worker -t "$tag" "${args[@]}" . >/dev/null
echo "worker image $tag built"
