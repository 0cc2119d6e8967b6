#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite: the release build's tests, the kernel tests
# cross-built for 64-bit ARM under qemu, then the suite under AddressSanitizer/UBSan, then each
# fuzz target briefly.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
JOBS="${JOBS:-$(nproc)}"

cmake --preset release >/dev/null
cmake --build --preset release -j "$JOBS"
ctest --test-dir build/release --output-on-failure -j "$JOBS" --timeout 600

if [ "${R1_SKIP_ARM:-0}" != "1" ]; then
  bash scripts/test_arm.sh
fi

if [ "${R1_SKIP_ASAN:-0}" != "1" ] && [ -f scripts/test_asan.sh ]; then
  bash scripts/test_asan.sh
fi
if [ "${R1_SKIP_FUZZ:-0}" != "1" ] && [ -f scripts/test_fuzz.sh ]; then
  bash scripts/test_fuzz.sh
fi
