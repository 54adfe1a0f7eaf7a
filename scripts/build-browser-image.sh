#!/usr/bin/env bash
# Build the browser image (Dockerfile.browser) without a registry: on the local Debian base
# (scripts/make-base-image.sh), with Chromium from the host's Debian mirrors and Playwright from
# a wheelhouse that this machine's pip builds.
#   scripts/build-browser-image.sh [TAG]        (default scanbox-browser:latest)
# BROWSER_BASE_IMAGE picks another base; a base other than the local one installs from PyPI and
# uses the base's own apt sources.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tag="${1:-scanbox-browser:latest}"
base="${BROWSER_BASE_IMAGE:-scanbox/base:bookworm}"
requirement=$(/usr/bin/python3 - <<'PY'
import re, tomllib
with open("pyproject.toml", "rb") as file:
    extras = tomllib.load(file)["project"]["optional-dependencies"]["browser"]
print(next(r for r in extras if re.match(r"playwright\b", r)))
PY
)
args=(--build-arg "BASE_IMAGE=$base" --build-arg "PLAYWRIGHT_REQUIREMENT=$requirement"
      --label org.scanbox.component=browser)
wheels=build/browser-wheels
rm -rf "$wheels"
mkdir -p "$wheels"
if [ "$base" = "scanbox/base:bookworm" ]; then
  scripts/make-base-image.sh "$base"
  # The wheels are resolved by Debian's own python3, the interpreter the base image has.
  pip_venv=build/worker-pip
  if [ ! -x "$pip_venv/bin/pip" ]; then
    /usr/bin/python3 -m venv "$pip_venv"
  fi
  "$pip_venv/bin/pip" download -q --disable-pip-version-check --only-binary=:all: \
    --dest "$wheels" "$requirement" 2>&1 | grep -v "^WARNING: Location" || true
  ls "$wheels"/playwright-*.whl >/dev/null
  args+=(--build-arg "WHEELS=$wheels")
  sources=/etc/apt/sources.list.d/debian.sources
  if [ -f "$sources" ]; then
    mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$sources")
    security=$(awk '/^URIs:/ && $2 ~ /security/ {print $2; exit}' "$sources")
    [ -z "$mirror" ] || args+=(--build-arg "DEBIAN_MIRROR=$mirror")
    [ -z "$security" ] || args+=(--build-arg "DEBIAN_SECURITY_MIRROR=$security")
  fi
  if [ -n "${DEBIAN_SECURITY_MIRROR:-}" ]; then
    args+=(--build-arg "DEBIAN_SECURITY_MIRROR=$DEBIAN_SECURITY_MIRROR")
  fi
fi
echo "building $tag on $base ($requirement)"
docker build -q -f Dockerfile.browser -t "$tag" "${args[@]}" . >/dev/null
echo "browser image $tag built"
