// Float-format prefill on AVX-512 (F32, F16, BF16 and F8_E4M3 weights × float32 activations), rows
// in lanes: a thread converts a panel of 32 weight rows to float32 once, laid out per element as two
// vectors of 16 rows, and every token of the chunk then passes the panel: per element, 2 weight
// vectors × 14 broadcast activations = 28 FMAs into 28 accumulators, no conversions and no
// horizontal sums in the loop. The tile it replaced (float_gemm.h, 4 rows × 4 tokens, still the AVX2
// one) converted each row's weights for every 4 FMAs; vcvtph2ps shares the FMA ports on Intel, and
// that held it at ~0.56 of the FMA peak there, where this one reaches ~0.85 (scratch: 2 × 16 rows
// × 14 tokens, 157-169 GFLOP/s a thread against ~86 for the vdpbf16ps tile; PERFORMANCE.md).
// Long rows are cut into blocks along k (the accumulators go through y between blocks), so a
// panel's weights stay in L2 beside the activations they meet.
// Compiled with AVX-512 F/BW/VL (plus AVX2, FMA, F16C); used by the avx512vnni backend only.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include "ops/avx2_util.h"
#include "ops/gemm_tile.h"
#include "ops/transpose_avx512.h"

namespace r1 {
namespace {

constexpr int kLanes = 16, kGroups = 2, kToks = 14;
// Longest block of k a panel is laid out in: 32 rows × 8192 × 4 bytes = 1 MiB, within L2 beside the
// activations. Rows up to that are one block (BM_matmul F16 512 tokens, 2 threads, k = 1536: 236-268
// GFLOP/s whole, 172-221 in blocks of 512; k = 8960: 228-254 whole, 211-252 in 4096s); longer rows
// are cut into equal blocks.
constexpr int64_t kMaxBlock = 8192;

// 16 elements of a row from element i, as float32.
template <DType kType>
__m512 load16(const uint8_t* row, int64_t i) {
  if constexpr (kType == DType::F32) {
    return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + i);
  } else if constexpr (kType == DType::F16) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * i)));
  } else if constexpr (kType == DType::BF16) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * i));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  } else {
    static_assert(kType == DType::F8_E4M3);
    return _mm512_mul_ps(load16_f8_over_256(row + i), _mm512_set1_ps(256.0f));
  }
}

// Elements [i0, i0 + n) (n % 16 == 0) of rows [0, rows) (rows <= 16, w_stride bytes apart) as float32
// lanes: dst[e * 16 + j] = element i0 + e of row j; missing rows are zeros.
template <DType kType>
void pack_lanes(const uint8_t* w, size_t w_stride, int64_t rows, int64_t i0, int64_t n, float* dst,
                const Transpose16x16& transpose) {
  for (int64_t e = 0; e < n; e += kLanes) {
    __m512i v[kLanes];
    for (int j = 0; j < kLanes; ++j)
      v[j] = j < rows ? _mm512_castps_si512(load16<kType>(w + j * w_stride, i0 + e)) : _mm512_setzero_si512();
    transpose(v);
    for (int j = 0; j < kLanes; ++j) _mm512_storeu_si512(dst + (e + j) * kLanes, v[j]);
  }
}

// T tokens (float32 rows lda apart) × G groups of 16 rows (lanes: [n][16] per group, n · 16 apart) over n
// elements, into y[t · ldy + 16 g + j]: added to what y holds when `add`, else written. Only the rows in
// `last` of the last group are touched.
template <int G, int T>
void tile(int64_t n, const float* lanes, const float* a, int64_t lda, float* y, int64_t ldy, __mmask16 last, bool add) {
  __m512 acc[G][T];
  for (int g = 0; g < G; ++g) {
    const __mmask16 rows = g == G - 1 ? last : __mmask16(0xFFFF);
    for (int t = 0; t < T; ++t)
      acc[g][t] = add ? _mm512_maskz_loadu_ps(rows, y + t * ldy + g * kLanes) : _mm512_setzero_ps();
  }
  for (int64_t e = 0; e < n; ++e) {
    __m512 wv[G];
    for (int g = 0; g < G; ++g) wv[g] = _mm512_loadu_ps(lanes + g * n * kLanes + e * kLanes);
    for (int t = 0; t < T; ++t) {
      const __m512 at = _mm512_set1_ps(a[t * lda + e]);
      for (int g = 0; g < G; ++g) acc[g][t] = _mm512_fmadd_ps(wv[g], at, acc[g][t]);
    }
  }
  for (int g = 0; g < G; ++g) {
    const __mmask16 rows = g == G - 1 ? last : __mmask16(0xFFFF);
    for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + t * ldy + g * kLanes, rows, acc[g][t]);
  }
}

using TileFn = void (*)(int64_t, const float*, const float*, int64_t, float*, int64_t, __mmask16, bool);

template <int G, int... Ts>
constexpr auto tiles(std::integer_sequence<int, Ts...>) {
  return std::array<TileFn, sizeof...(Ts)>{&tile<G, Ts + 1>...};
}

// The weight bytes of rows [r, r + rows) × elements [i0, i0 + n), asked for (into L2) a share per call
// while the tiles run: packing the next block would otherwise wait on 32 rows' misses at once.
struct NextBlock {
  const uint8_t* w = nullptr;
  size_t w_stride = 0, bytes = 0;  // bytes per row
  int64_t rows = 0, done = 0;
  void prefetch_share(int64_t part, int64_t parts) {
    const int64_t until = rows * (part + 1) / parts;
    for (; done < until; ++done) prefetch_rows(w + done * w_stride, static_cast<int64_t>(bytes));
  }
};

template <DType kType>
void gemm_float(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
                int64_t n_tok, float* y, int64_t ldy) {
  static constexpr auto one = tiles<1>(std::make_integer_sequence<int, kToks>{});
  static constexpr auto two = tiles<2>(std::make_integer_sequence<int, kToks>{});
  constexpr size_t kElemBytes = kType == DType::F32 ? 4 : kType == DType::F8_E4M3 ? 1 : 2;
  const Transpose16x16 transpose;
  const auto* w8 = static_cast<const uint8_t*>(w);
  const auto* af = static_cast<const float*>(a);
  const auto lda = static_cast<int64_t>(a_stride / sizeof(float));
  const int64_t n_blocks = std::max<int64_t>(1, (k + kMaxBlock - 1) / kMaxBlock);
  const int64_t block = (k / n_blocks + kLanes - 1) / kLanes * kLanes;  // k % 16 == 0: so is every block
  thread_local std::vector<float> lanes;
  lanes.resize(static_cast<size_t>(kGroups * kLanes * block));
  const int64_t n_tiles = (n_tok + kToks - 1) / kToks;
  for (int64_t r = 0; r < n_rows; r += kGroups * kLanes) {
    const int64_t R = std::min<int64_t>(kGroups * kLanes, n_rows - r);
    const int G = R > kLanes ? 2 : 1;
    const __mmask16 last = static_cast<__mmask16>((1u << (R - (G - 1) * kLanes)) - 1);
    for (int64_t i0 = 0; i0 < k; i0 += block) {
      const int64_t n = std::min(block, k - i0);
      for (int g = 0; g < G; ++g)
        pack_lanes<kType>(w8 + (r + g * kLanes) * w_stride, w_stride, std::min<int64_t>(kLanes, R - g * kLanes), i0,
                          n, lanes.data() + g * n * kLanes, transpose);
      // The block after this one: the next along k, else the next panel's first.
      NextBlock next;
      if (i0 + n < k) {
        next = {w8 + r * w_stride + (i0 + n) * kElemBytes, w_stride, std::min(block, k - i0 - n) * kElemBytes, R};
      } else if (r + R < n_rows) {
        next = {w8 + (r + R) * w_stride, w_stride, std::min(block, k) * kElemBytes,
                std::min<int64_t>(kGroups * kLanes, n_rows - r - R)};
      }
      for (int64_t t = 0, i = 0; t < n_tok; t += kToks, ++i) {
        next.prefetch_share(i, n_tiles);
        const int T = static_cast<int>(std::min<int64_t>(kToks, n_tok - t));
        (G == 2 ? two : one)[T - 1](n, lanes.data(), af + t * lda + i0, lda, y + t * ldy + r, ldy, last, i0 > 0);
      }
    }
  }
}

}  // namespace

GemmTileFn gemm_float_avx512(DType type) {
  switch (type) {
    case DType::F32: return gemm_float<DType::F32>;
    case DType::F16: return gemm_float<DType::F16>;
    case DType::BF16: return gemm_float<DType::BF16>;
    case DType::F8_E4M3: return gemm_float<DType::F8_E4M3>;
    default: return nullptr;
  }
}

}  // namespace r1
