#!/usr/bin/env bash
# Makes sure the engine has debian:bookworm-slim. Where a registry answers the
# ordinary image is pulled; otherwise a minbase debootstrap is imported under
# that name, using the mirror this machine's apt already uses.
set -euo pipefail

base=debian:bookworm-slim

if docker image inspect "$base" >/dev/null 2>&1; then
  exit 0
fi

if timeout 60 docker pull "$base" >/dev/null 2>&1; then
  exit 0
fi

mirror_from_apt() {
  local uri
  uri=$(grep -hsE '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '{print $2}' | grep -v security | head -n1 || true)
  if [ -z "$uri" ]; then
    uri=$(grep -hsE '^\s*deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
          | grep -v security | awk '{for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' \
          | head -n1 || true)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

mirror=$(mirror_from_apt)
root=$(mktemp -d /var/tmp/planificador-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT

echo "base-image.sh: building $base with debootstrap from $mirror" >&2
debootstrap --variant=minbase bookworm "$root" "$mirror" >/var/tmp/planificador-debootstrap.log 2>&1 || {
  tail -n 30 /var/tmp/planificador-debootstrap.log >&2
  exit 1
}
# Like the official slim image: no apt caches, docs stay as they are.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
tar -C "$root" -c . | docker import - "$base" >/dev/null
echo "base-image.sh: imported $base" >&2
