#!/usr/bin/env bash
# Cross-builds the kernel modules (core, util, ops) and their tests for 64-bit ARM and runs them
# under qemu-user, as two CPUs: one with the dot-product extension (-cpu max: the neon_dotprod and
# neon backends) and one without (Cortex-A53: neon). No ARM machine is at hand; this keeps the NEON
# kernels checked against the scalar reference on every run. Needs g++-aarch64-linux-gnu and
# qemu-user (scripts/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS="${JOBS:-$(nproc)}"
BUILD=build/aarch64
SYSROOT=/usr/aarch64-linux-gnu

cmake -S . -B "$BUILD" -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DCMAKE_BUILD_TYPE=Release \
  -DR1_GTEST_FROM_SOURCE=ON -DR1_BUILD_BENCH=OFF -DR1_STRICT=ON >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target r1_ops_test r1_util_test
for cpu in max cortex-a53; do
  for t in src/ops/r1_ops_test src/util/r1_util_test; do
    echo "== aarch64 ($cpu): $t"
    R1_BF16_DOT=0 qemu-aarch64 -cpu "$cpu" -L "$SYSROOT" "$BUILD/$t" --gtest_brief=1
  done
done
