#!/usr/bin/env bash
# Builds the runner images planificador/<name> from images/<name>/, idempotently.
# An image is rebuilt only when the sha256 of its directory's files differs from the
# org.planificador.hash label of the image the engine already has.
#   scripts/images.sh               every images/<name>/ directory
#   scripts/images.sh python c      only those
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
images_dir=$top/images

"$here/engine.sh"
"$here/base-image.sh"

# The hash covers every file's relative path and content, so a rename counts too.
dir_hash() {
  (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) \
    | sha256sum | cut -d' ' -f1
}

current_hash() {
  docker image inspect -f '{{index .Config.Labels "org.planificador.hash"}}' "$1" 2>/dev/null || true
}

build_one() {
  local name=$1 dir=$images_dir/$1 tag=planificador/$1 hash log start
  if [ ! -f "$dir/Dockerfile" ]; then
    echo "images.sh: no $dir/Dockerfile" >&2
    return 1
  fi
  hash=$(dir_hash "$dir")
  if [ "$(current_hash "$tag")" = "$hash" ]; then
    echo "$tag: up to date"
    return 0
  fi
  log=$(mktemp /tmp/planificador-image-"$name".XXXXXX.log)
  start=$SECONDS
  if ! docker build --force-rm --label "org.planificador.hash=$hash" -t "$tag" "$dir" >"$log" 2>&1; then
    echo "$tag: build failed; last lines of $log:" >&2
    tail -n 25 "$log" >&2
    return 1
  fi
  rm -f "$log"
  echo "$tag: built in $((SECONDS - start)) s ($(docker image inspect -f '{{.Size}}' "$tag" \
    | awk '{printf "%.0f MB", $1 / 1000000}'))"
}

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for d in "$images_dir"/*/; do
    [ -f "$d/Dockerfile" ] && names+=("$(basename "$d")")
  done
fi

status=0
for name in "${names[@]}"; do
  build_one "$name" || status=1
done
exit $status
