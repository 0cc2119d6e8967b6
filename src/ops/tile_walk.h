// How the register-tiled prefill kernels of the AVX2 (gemm_avx2_impl.h) and NEON (gemm_neon_impl.h)
// backends walk a matrix: tokens kTokChunk at a time, so that their activation blocks stay in L2
// while every row of the call passes; within a chunk, tiles of rows × tokens. No vector
// instructions here: included by files compiled for different CPUs (an unnamed namespace, as
// avx2_util.h says why).
#pragma once
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

namespace r1 {
namespace {

// A tile: its rows (w_stride bytes apart) × its tokens (activation rows a_stride apart), nb blocks
// each; y[t·ldy + r].
using TileFn = void (*)(int64_t nb, const uint8_t* w, size_t w_stride, const uint8_t* a, size_t a_stride, float* y,
                        int64_t ldy);

constexpr int64_t kTokChunk = 32;  // tokens per pass over the rows

// Runs a table of tiles (table[R - 1][T - 1]: R rows × T tokens) over n_rows × n_tok.
template <size_t kR, size_t kT>
void run_tiles(const std::array<std::array<TileFn, kT>, kR>& table, int64_t nb, const void* w, size_t w_stride,
               int64_t n_rows, const void* a, size_t a_stride, int64_t n_tok, float* y, int64_t ldy) {
  const auto* w8 = static_cast<const uint8_t*>(w);
  const auto* a8 = static_cast<const uint8_t*>(a);
  for (int64_t t0 = 0; t0 < n_tok; t0 += kTokChunk) {
    const int64_t t1 = std::min(n_tok, t0 + kTokChunk);
    for (int64_t r = 0; r < n_rows; r += static_cast<int64_t>(kR)) {
      const int R = static_cast<int>(std::min<int64_t>(kR, n_rows - r));
      for (int64_t t = t0; t < t1; t += static_cast<int64_t>(kT)) {
        const int T = static_cast<int>(std::min<int64_t>(kT, t1 - t));
        table[R - 1][T - 1](nb, w8 + r * static_cast<int64_t>(w_stride), w_stride,
                            a8 + t * static_cast<int64_t>(a_stride), a_stride, y + t * ldy + r, ldy);
      }
    }
  }
}

}  // namespace
}  // namespace r1
