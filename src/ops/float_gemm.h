// The float-format prefill (F32 / F16 / BF16 / F8_E4M3 weights against float32 activations) of the
// AVX2 backends (gemm_avx2_impl.h: 8 lanes, 4 rows × 3 tokens) and NEON (gemm_neon_impl.h: 4 lanes,
// 4 rows × 6 tokens); AVX-512 has its own rows-in-lanes kernel, gemm_float_avx512.cc. A backend gives its vector operations (V, below) and a weight load per format; FloatTile
// makes the register tile of R rows × T tokens, gemm_float walks it over token chunks, row blocks
// and passes along k (below), and gemm_f8 converts F8_E4M3 rows to F16 a group at a time (exact: every e4m3 value is an
// fp16) and runs the F16 tile.
// In an unnamed namespace like the headers it sits beside: each including file, built for its own CPU,
// keeps its own copy.
#pragma once
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace r1 {
namespace {

// V: using Vec; kLanes; zero(); load(const float*); store(float*, Vec); fma(w, a, acc) = w·a + acc; sum(v) of the lanes.
// kLoad(row, i): kLanes weights of a row in its own format, from element i, as float32.
// tile<R, T>: R ≤ kRows rows (w_stride bytes apart) × T ≤ kToks tokens (float32 rows a_stride bytes
// apart) over elements [k0, k1) (multiples of kLanes). Per step each token's activations are loaded
// once for the R rows and each row's weights converted once for the T tokens; with 16 registers (AVX2)
// 4 × 3 leaves 12 accumulators + 3 activations + 1 weight vector (6 × 2, 3 × 4: no faster). The lane
// sums start from zero when k0 == 0, else from `keep`; they go to y[t·ldy + r] when k1 == k, else back
// to `keep` (kRows × kToks vectors): a product split over passes is the one-pass product bit for bit.
template <typename V_, auto kLoad, int kRows_, int kToks_>
struct FloatTile {
  using V = V_;
  using Vec = typename V::Vec;
  static constexpr int kRows = kRows_, kToks = kToks_;

  template <int R, int T>
  static void tile(int64_t k0, int64_t k1, int64_t k, const uint8_t* w, size_t w_stride, const uint8_t* a,
                   size_t a_stride, float* keep, float* y, int64_t ldy) {
    Vec acc[R][T];
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) acc[r][t] = k0 == 0 ? V::zero() : V::load(keep + (r * kToks + t) * V::kLanes);
    for (int64_t i = k0; i < k1; i += V::kLanes) {
      Vec av[T];
      for (int t = 0; t < T; ++t) av[t] = V::load(reinterpret_cast<const float*>(a + t * a_stride) + i);
      for (int r = 0; r < R; ++r) {
        const Vec wv = kLoad(w + r * w_stride, i);
        for (int t = 0; t < T; ++t) acc[r][t] = V::fma(wv, av[t], acc[r][t]);
      }
    }
    for (int r = 0; r < R; ++r)
      for (int t = 0; t < T; ++t) {
        if (k1 == k) y[t * ldy + r] = V::sum(acc[r][t]);
        else V::store(keep + (r * kToks + t) * V::kLanes, acc[r][t]);
      }
  }
};

using FloatTileFn = void (*)(int64_t, int64_t, int64_t, const uint8_t*, size_t, const uint8_t*, size_t, float*,
                             float*, int64_t);

// tiles[R − 1][T − 1] = K::tile<R, T> (K: a FloatTile).
template <typename K, int R, int... Ts>
constexpr std::array<FloatTileFn, sizeof...(Ts)> float_tile_row(std::integer_sequence<int, Ts...>) {
  return {&K::template tile<R, Ts + 1>...};
}
template <typename K, int... Rs>
constexpr auto float_tile_table(std::integer_sequence<int, Rs...>) {
  return std::array<std::array<FloatTileFn, K::kToks>, sizeof...(Rs)>{
      float_tile_row<K, Rs + 1>(std::make_integer_sequence<int, K::kToks>{})...};
}

// Blocked so that each level's data stays in its cache while the level inside runs: a chunk of
// kChunk tokens' activations over one pass of kDepth elements (512 KiB) in L2, a row group's weights
// for the pass (16 KiB at 4 float32 rows) in L1 while the chunk's tokens go by, and a block of
// kBlockRows rows (their weights for the pass and their tiles' lane sums, 256 + 264 KiB on AVX2) in
// L2 from one pass to the next. Before the split along k, a 128-token chunk at k = 8960 (Qwen-1.5B's down
// projection) was 4.5 MiB of activations, read from L3 for every row group: 104-112 GFLOP/s there against
// 133-138 at k = 1536; now 131-137 there, the other level (2 threads, PERFORMANCE.md, Kernels,
// session 44).
template <typename K>
void gemm_float(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
                int64_t n_tok, float* y, int64_t ldy) {
  static constexpr auto tiles = float_tile_table<K>(std::make_integer_sequence<int, K::kRows>{});
  constexpr int64_t kChunk = 128, kDepth = 1024, kBlockRows = 64;
  constexpr int64_t kTilesPerBlock = (kBlockRows / K::kRows) * ((kChunk + K::kToks - 1) / K::kToks);
  constexpr int64_t kTileKeep = K::kRows * K::kToks * K::V::kLanes;
  thread_local std::vector<float> keep(static_cast<size_t>(kTilesPerBlock * kTileKeep));
  const auto* w8 = static_cast<const uint8_t*>(w);
  const auto* a8 = static_cast<const uint8_t*>(a);
  for (int64_t t0 = 0; t0 < n_tok; t0 += kChunk) {
    const int64_t t1 = std::min(n_tok, t0 + kChunk);
    for (int64_t b0 = 0; b0 < n_rows; b0 += kBlockRows) {
      const int64_t b1 = std::min(n_rows, b0 + kBlockRows);
      for (int64_t k0 = 0; k0 < k; k0 += kDepth) {
        const int64_t k1 = std::min(k, k0 + kDepth);
        float* tile_keep = keep.data();
        for (int64_t r = b0; r < b1; r += K::kRows) {
          const int R = static_cast<int>(std::min<int64_t>(K::kRows, b1 - r));
          for (int64_t t = t0; t < t1; t += K::kToks, tile_keep += kTileKeep) {
            const int T = static_cast<int>(std::min<int64_t>(K::kToks, t1 - t));
            tiles[R - 1][T - 1](k0, k1, k, w8 + r * w_stride, w_stride, a8 + t * a_stride, a_stride, tile_keep,
                                y + t * ldy + r, ldy);
          }
        }
      }
    }
  }
}

// K16: the F16 kernel; kToF16(row, k, out): an F8_E4M3 row of k codes as k fp16 values.
template <typename K16, void (*kToF16)(const uint8_t*, int64_t, uint16_t*)>
void gemm_f8(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride, int64_t n_tok,
             float* y, int64_t ldy) {
  const auto* w8 = static_cast<const uint8_t*>(w);
  thread_local std::vector<uint16_t> rows;
  rows.resize(static_cast<size_t>(K16::kRows * k));
  for (int64_t r = 0; r < n_rows; r += K16::kRows) {
    const int64_t R = std::min<int64_t>(K16::kRows, n_rows - r);
    for (int64_t j = 0; j < R; ++j) kToF16(w8 + (r + j) * w_stride, k, rows.data() + j * k);
    gemm_float<K16>(k, rows.data(), static_cast<size_t>(k) * 2, R, a, a_stride, n_tok, y + r, ldy);
  }
}

}  // namespace
}  // namespace r1
