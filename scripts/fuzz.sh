#!/usr/bin/env bash
# Runs every fuzz_* binary of a fuzz build for the given seconds, two at a time, each on a
# scratch copy of its seed corpus. A crash, leak or sanitizer report fails the script
# and leaves the reproducer in the log directory.
#   scripts/fuzz.sh BUILD_DIR [SECONDS]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
build=$1
seconds=${2:-60}
logs=$build/fuzz-logs
mkdir -p "$logs"

run_one() {
  local bin=$1 name corpus
  name=$(basename "$bin")
  corpus=$(mktemp -d "$logs/$name.corpus.XXXXXX")
  if [ -d "$top/tests/fuzz/corpus/${name#fuzz_}" ]; then
    cp -r "$top/tests/fuzz/corpus/${name#fuzz_}/." "$corpus/"
  fi
  if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$logs/$name-" "$corpus" >"$logs/$name.log" 2>&1; then
    echo "$name: $(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$logs/$name.log" | tail -n1)"
    rm -rf "$corpus"
  else
    echo "$name: FAILED (log: $logs/$name.log)"
    tail -n 40 "$logs/$name.log"
    return 1
  fi
}

bins=("$build"/tests/fuzz/fuzz_*)
[ -x "${bins[0]}" ] || { echo "fuzz.sh: no fuzz_* binaries in $build/tests/fuzz" >&2; exit 1; }

status=0
pids=()
for bin in "${bins[@]}"; do
  run_one "$bin" &
  pids+=($!)
  if [ ${#pids[@]} -ge 2 ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
