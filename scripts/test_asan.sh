#!/usr/bin/env bash
# Builds the `asan` preset (AddressSanitizer + UBSan, RelWithDebInfo) and runs the whole test
# suite under it. Nothing is excluded. Optional, for working on one module:
#   R1_ASAN_BUILD_DIR  build folder (default build/asan, the preset's)
#   R1_ASAN_TARGETS    space-separated targets to build (default: all)
#   R1_ASAN_TESTS      ctest -R regex of tests to run (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${R1_ASAN_BUILD_DIR:-build/asan}"
JOBS="${JOBS:-$(nproc)}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

cmake --preset asan -B "$BUILD" >/dev/null
if [ -n "${R1_ASAN_TARGETS:-}" ]; then
  # shellcheck disable=SC2086
  cmake --build "$BUILD" -j "$JOBS" --target $R1_ASAN_TARGETS
else
  cmake --build "$BUILD" -j "$JOBS"
fi
ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS" --timeout 1200 ${R1_ASAN_TESTS:+-R "$R1_ASAN_TESTS"}
echo "asan: all tests passed"
