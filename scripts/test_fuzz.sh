#!/usr/bin/env bash
# Builds the libFuzzer targets (the `fuzz` preset: clang, ASan + UBSan + coverage) and runs each
# for FUZZ_SECONDS (default 20) on its seeds. Fails if any target crashes, leaks, trips a
# sanitizer, throws anything but r1::Error, or times out on one input.
#
# Every folder fuzz/corpus/<name> belongs to the target fuzz_<name> (fuzz/CMakeLists.txt);
# a new target needs only its source, its r1_fuzz_target() line and its seed folder.
# Committed seeds stay untouched: new inputs go to <build>/corpus/<name>; crashes to <build>/crash-*.
# R1_FUZZ_BUILD_DIR overrides the build folder (default build/fuzz, the preset's).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${FUZZ_SECONDS:-20}"
BUILD="${R1_FUZZ_BUILD_DIR:-build/fuzz}"

targets=()
for dir in fuzz/corpus/*/; do targets+=("fuzz_$(basename "$dir")"); done

cmake --preset fuzz -B "$BUILD" >/dev/null
cmake --build "$BUILD" -j "${JOBS:-$(nproc)}" --target "${targets[@]}"

for target in "${targets[@]}"; do
  name="${target#fuzz_}"
  work="$BUILD/corpus/$name"
  mkdir -p "$work"
  echo "== $target: ${SECONDS_PER_TARGET}s"
  "$BUILD/fuzz/$target" "$work" "fuzz/corpus/$name" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 \
    -rss_limit_mb=2048 -max_len=65536 -artifact_prefix="$BUILD/crash-$name-" -print_final_stats=1 2>&1 |
    grep -E "^(INFO: seed corpus|#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==|SUMMARY|Done)" || true
  test "${PIPESTATUS[0]}" -eq 0 || { echo "FAIL: $target found a bug (see $BUILD/crash-$name-*)"; exit 1; }
done
echo "fuzz: all targets ran clean"
