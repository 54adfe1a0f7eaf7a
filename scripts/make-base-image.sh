#!/usr/bin/env bash
# Make a minimal Debian base image with python3, from Debian's own packages, for machines that
# reach a Debian mirror but no container registry:  scripts/make-base-image.sh [TAG]
set -euo pipefail

tag="${1:-scanbox/base:bookworm}"
suite="${DEBIAN_SUITE:-bookworm}"

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "base image $tag already present"
  exit 0
fi

mirror="${DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  elif [ -f /etc/apt/sources.list ]; then
    mirror=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list)
  fi
fi
if [ -z "$mirror" ]; then
  echo "make-base-image: no Debian mirror found; set DEBIAN_MIRROR" >&2
  exit 2
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
echo "debootstrap $suite from $mirror (about a minute)"
debootstrap --variant=minbase --include=python3,ca-certificates "$suite" "$root" "$mirror" \
  >/tmp/scanbox-debootstrap.log 2>&1 || {
  echo "make-base-image: debootstrap failed, see /tmp/scanbox-debootstrap.log" >&2
  exit 1
}
# Nothing in the base needs apt's caches or documentation.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
  "$root"/usr/share/doc "$root"/usr/share/man "$root"/usr/share/locale
tar -C "$root" -c . | docker import --change 'CMD ["python3"]' - "$tag" >/dev/null
echo "base image $tag built"
