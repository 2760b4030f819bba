#!/usr/bin/env bash
# Sets everything up and runs the whole test suite:
#   1. unit, integration and end-to-end tests on the normal build (real engine, real
#      images, real Bubblewrap, real ZeroMQ),
#   2. the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer,
#   3. every libFuzzer target for $PLANIFICADOR_FUZZ_SECONDS (default 60) seconds.
# Any failure fails the script.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
build=${PLANIFICADOR_BUILD:-$top/build}
asan_build=${build}-asan
fuzz_build=${build}-fuzz
fuzz_seconds=${PLANIFICADOR_FUZZ_SECONDS:-60}
jobs=$(nproc)

step() { printf '\n== %s\n' "$*" >&2; }

export PLANIFICADOR_WERROR=ON
"$here/setup.sh"

step "tests (unit, integration, e2e)"
ctest --test-dir "$build" --output-on-failure --timeout 1800 -L 'unit|integration|e2e'

step "unit tests under address,undefined sanitizers"
cmake -S "$top" -B "$asan_build" -DCMAKE_BUILD_TYPE=Debug -DPLANIFICADOR_WERROR=ON \
  -DPLANIFICADOR_SANITIZE=address,undefined >/dev/null
cmake --build "$asan_build" -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$asan_build" --output-on-failure --timeout 600 -L unit

step "fuzzing, ${fuzz_seconds} s per target"
CXX=clang++ cmake -S "$top" -B "$fuzz_build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPLANIFICADOR_WERROR=ON \
  -DPLANIFICADOR_FUZZ=ON -DPLANIFICADOR_TESTS=ON >/dev/null
cmake --build "$fuzz_build" -j"$jobs" --target fuzz_all
"$here/fuzz.sh" "$fuzz_build" "$fuzz_seconds"

count() { ctest --test-dir "$1" -N -L "$2" | awk '/Total Tests:/ {print $3}'; }
fuzz_targets=$(find "$fuzz_build/tests/fuzz" -maxdepth 1 -name 'fuzz_*' -type f -executable | wc -l)
passed=$(( $(count "$build" 'unit|integration|e2e') + $(count "$asan_build" unit) + fuzz_targets ))
step "all tests passed"
echo "planificador: $passed passed, 0 failed"
