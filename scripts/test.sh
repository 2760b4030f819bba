#!/usr/bin/env bash
# Sets everything up and runs the whole test suite:
#   1. unit, integration and end-to-end tests on the normal build (real engine, real
#      images, real Bubblewrap, real ZeroMQ, a real broker and daemons), two at a time,
#   2. the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer,
#   3. the scheduler, transport, worker-link and pool tests under ThreadSanitizer,
#   4. a Release build (-O3, as a packager builds it), a clang-format check, and clang-tidy
#      over src/ with the normal build's compile database,
#   5. every libFuzzer target for $PLANIFICADOR_FUZZ_SECONDS (default 60) seconds.
# Any failure fails the script. The closing count is GoogleTest's own: the test cases that
# ran, passed, failed and were skipped.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
build=${PLANIFICADOR_BUILD:-$top/build}
asan_build=${build}-asan
tsan_build=${build}-tsan
release_build=${build}-release
fuzz_build=${build}-fuzz
fuzz_seconds=${PLANIFICADOR_FUZZ_SECONDS:-60}
jobs=$(nproc)
started=$(date +%s)

step() { printf '\n== %s (%d s)\n' "$*" $(($(date +%s) - started)) >&2; }

export PLANIFICADOR_WERROR=ON
"$here/setup.sh"

counts() {
  /usr/bin/python3 "$here/test_counts.py" "$build/test-results" "$@"
}

# Runs the checked-in .clang-tidy (every finding an error) over each .cpp under src/ with
# the compile database of build $1 (CMakeLists.txt exports it); fails naming the files.
tidy() {
  local db=$1 log=$1/clang-tidy.log tidy_started
  tidy_started=$(date +%s)
  if [ ! -f "$db/compile_commands.json" ]; then
    echo "clang-tidy: no $db/compile_commands.json" >&2
    return 1
  fi
  # The database is GCC's: clang must not turn a warning flag only GCC knows into an error.
  if ! (cd "$top" && run-clang-tidy -p "$db" -j"$jobs" -quiet \
    -extra-arg=-Wno-unknown-warning-option "^$top/src/.*\.cpp\$") >"$log" 2>&1; then
    # The findings without colours, the per-file command lines or the counts of warnings
    # clang-tidy suppressed in headers outside HeaderFilterRegex; then the files they are in.
    sed -i 's/\x1b\[[0-9;]*m//g' "$log"
    grep -vE '^(clang-tidy-[0-9]+ |[0-9]+ warnings? generated\.$)' "$log" >&2 || true
    echo "clang-tidy: findings in (full output in $log):" >&2
    { grep -oE '^[^ :]+:[0-9]+:[0-9]+: (warning|error):' "$log" || true; } | cut -d: -f1 |
      sed "s|^$top/||" | sort -u | sed 's/^/  /' >&2
    return 1
  fi
  echo "clang-tidy: src/ is clean ($(($(date +%s) - tidy_started)) s)" >&2
}

step "tests (unit, integration, e2e)"
rm -rf "$build/test-results"
if ! ctest --test-dir "$build" --output-on-failure --timeout 1800 -j2 -L 'unit|integration|e2e'; then
  counts || true
  exit 1
fi

step "unit tests under address,undefined sanitizers"
cmake -S "$top" -B "$asan_build" -DCMAKE_BUILD_TYPE=Debug -DPLANIFICADOR_WERROR=ON \
  -DPLANIFICADOR_SANITIZE=address,undefined >/dev/null
cmake --build "$asan_build" -j"$jobs" --target unit_tests
rm -rf "$asan_build/test-results"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$asan_build" --output-on-failure --timeout 600 -j2 -L unit

step "scheduler, client outbox, transport, daemon wiring, worker link and pool under thread sanitizer"
cmake -S "$top" -B "$tsan_build" -DCMAKE_BUILD_TYPE=Debug -DPLANIFICADOR_WERROR=ON \
  -DPLANIFICADOR_SANITIZE=thread >/dev/null
cmake --build "$tsan_build" -j"$jobs" --target thread_tests
rm -rf "$tsan_build/test-results"
# The pool's containers run the normal build's static helper (a sanitized one is not).
PLANIFICADOR_HELPER="$build/bin/planificador-sandboxd" \
  TSAN_OPTIONS="halt_on_error=1 suppressions=$top/tests/tsan.supp" \
  ctest --test-dir "$tsan_build" --output-on-failure --timeout 900 \
  -R '^(unit_sched\..*|unit_client_outbox\..*|integration_transport|integration_daemon_fake|integration_worker_link|integration_pool)$'

step "release build and format check"
cmake -S "$top" -B "$release_build" -DCMAKE_BUILD_TYPE=Release -DPLANIFICADOR_TESTS=OFF >/dev/null
cmake --build "$release_build" -j"$jobs" \
  --target planificador planificador-broker planctl planificador-sandboxd
(cd "$top" && git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run -Werror)

step "clang-tidy over src/"
tidy "$build"

step "fuzzing, ${fuzz_seconds} s per target"
CXX=clang++ cmake -S "$top" -B "$fuzz_build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPLANIFICADOR_WERROR=ON -DPLANIFICADOR_FUZZ=ON -DPLANIFICADOR_TESTS=ON >/dev/null
cmake --build "$fuzz_build" -j"$jobs" --target fuzz_all
"$here/fuzz.sh" "$fuzz_build" "$fuzz_seconds"

step "all tests passed"
counts "$asan_build/test-results" "$tsan_build/test-results"
fuzz_targets=$(find "$fuzz_build/tests/fuzz" -maxdepth 1 -name 'fuzz_*' -type f -executable | wc -l)
echo "planificador: $fuzz_targets fuzz targets ran ${fuzz_seconds} s each without a finding"
echo "planificador: the test command took $(($(date +%s) - started)) s"
