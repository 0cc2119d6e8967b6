// BF16 / F16 / F8_E4M3 prefill kernel on AVX-512 BF16 (vdpbf16ps: 32 bf16 products per instruction, summed in
// float32); compiled with -mavx512bf16 and used only when the CPU has it (matmul.cc). The
// activations come rounded to bfloat16 (round to nearest even, round_bf16_avx512bf16: matmul does it
// once for all threads), as llama.cpp does for BF16 weights. BF16 weights are used as stored; F16
// weights are rounded to bf16 as they are laid out for the tile (3 fewer significand bits;
// ik_llama.cpp's repacking does the same), because float32 products cannot go faster than
// ~0.4 TFLOP/s here and the bf16 ones reach ~0.9. F8_E4M3
// weights (DeepSeek's FP8 checkpoints; their block scales are applied outside, deepseek_linear.cc)
// become bf16 exactly.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include "ops/avx2_util.h"
#include "ops/coded_bf16_avx512.h"
#include "ops/gemm_tile.h"
#include "ops/matmul.h"
#include "ops/transpose_avx512.h"
#include "ops/vec_dot.h"

namespace r1 {
namespace {

// Rows in lanes (as the integer tile in gemm_avx512vnni.cc): one vector holds an element pair of each
// of 16 rows, and vdpbf16ps against a token's pair (broadcast) adds 2 products to each row's lane;
// no horizontal sums, and a vector of 16 results per token. Two such groups (32 rows) share each
// broadcast, so a token pair is loaded once per 2 instructions: with one group the loads (a
// broadcast per vdpbf16ps) held the kernel at ~55% of the instruction's peak.
constexpr int kLanes = 16, kGroups = 2, kToks = 12;
constexpr int64_t kAmxTokens = 32;  // tokens per block through AMX tiles (gemm_amx_bf16.cc)

// T tokens from t0 (bf16 rows lda elements apart) against G groups (each pairs [k / 2][16 rows],
// k / 2 · 16 apart); the last group's rows masked to the valid ones.
template <int G, int T>
void tile(int64_t k, const uint32_t* w, const uint16_t* a, int64_t lda, int64_t t0, float* y, int64_t ldy,
          __mmask16 last) {
  __m512 acc[G][T];
  for (int g = 0; g < G; ++g)
    for (int t = 0; t < T; ++t) acc[g][t] = _mm512_setzero_ps();
  const int64_t group = k / 2 * kLanes;
  for (int64_t p = 0; p < k / 2; ++p) {
    __m512bh wv[G];
    for (int g = 0; g < G; ++g) wv[g] = (__m512bh)_mm512_loadu_si512(w + g * group + p * kLanes);
    // Token-major: consecutive instructions feed different accumulators (vdpbf16ps's latency).
    for (int t = 0; t < T; ++t) {
      const __m512bh at = (__m512bh)_mm512_set1_epi32(reinterpret_cast<const int32_t*>(a + (t0 + t) * lda)[p]);
      for (int g = 0; g < G; ++g) acc[g][t] = _mm512_dpbf16_ps(acc[g][t], wv[g], at);
    }
  }
  for (int g = 0; g < G; ++g) {
    const __mmask16 rows = g == G - 1 ? last : __mmask16(0xFFFF);
    for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + (t0 + t) * ldy + g * kLanes, rows, acc[g][t]);
  }
}

using TileFn = void (*)(int64_t, const uint32_t*, const uint16_t*, int64_t, int64_t, float*, int64_t, __mmask16);

template <int G, int... Ts>
constexpr auto tiles(std::integer_sequence<int, Ts...>) {
  return std::array<TileFn, sizeof...(Ts)>{&tile<G, Ts + 1>...};
}

// The weight formats this kernel reads; kCoded: BF16 rows coded at load (ops/coded_bf16.h), decoded
// as they are laid out.
enum class Src { kBf16, kF16, kF8, kCoded };
constexpr size_t elem_bytes(Src s) { return s == Src::kF8 ? 1 : 2; }

// Coded rows from row0 of m on (the kernel's row r is m's row0 + r), as BlockScales places its scales.
struct CodedRows {
  const CodedBf16* m;
  int64_t row0;
};

// Elements i .. i + 31 (i % 32 == 0) of a coded row, in order: its block decoded, and the half of the
// unpacked words that holds them put in order (lanes 0-1 of both for the first half, 2-3 for the second).
__m512i load32_coded(const BlockDecoder& dec, const uint8_t* row, int64_t i) {
  __m512i lo, hi;
  dec.words(row + i / kCodedBlock * 96, lo, hi);
  const __m512i order = (i & 32) ? _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15) : _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
  return _mm512_permutex2var_epi64(lo, order, hi);
}

// 32 elements of a row as bf16: as stored (BF16), rounded from F16, or exactly from F8_E4M3 (every
// e4m3 value is a bf16: 3 significand bits, exponents within bf16's).
template <Src kSrc>
__m512i load32_bf16(const uint8_t* row) {
  if constexpr (kSrc == Src::kBf16) {
    return _mm512_loadu_si512(row);
  } else if constexpr (kSrc == Src::kF16) {
    const __m512 lo = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row)));
    const __m512 hi = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row) + 1));
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
  } else {
    const __m512 x256 = _mm512_set1_ps(256.0f);
    const __m512 lo = _mm512_mul_ps(load16_f8_over_256(row), x256), hi = _mm512_mul_ps(load16_f8_over_256(row + 16), x256);
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
  }
}

// The same 32 elements times their block's scale, rounded once to bf16 (nearest even): the bf16 value
// DeepSeek's FP8-to-BF16 conversion stores for them (float32 product, then bf16).
template <Src kSrc>
__m512i load32_bf16_scaled(const uint8_t* row, float scale) {
  __m512 lo, hi;
  if constexpr (kSrc == Src::kBf16) {
    const __m256i* p = reinterpret_cast<const __m256i*>(row);
    lo = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(p)), 16));
    hi = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(p + 1)), 16));
    lo = _mm512_mul_ps(lo, _mm512_set1_ps(scale)), hi = _mm512_mul_ps(hi, _mm512_set1_ps(scale));
  } else if constexpr (kSrc == Src::kF16) {
    lo = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row))), _mm512_set1_ps(scale));
    hi = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row) + 1)),
                       _mm512_set1_ps(scale));
  } else {  // (code / 256) · (256 · scale): one rounding, as code · scale
    const __m512 m = _mm512_set1_ps(256.0f * scale);
    lo = _mm512_mul_ps(load16_f8_over_256(row), m), hi = _mm512_mul_ps(load16_f8_over_256(row + 16), m);
  }
  return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

// Lays out rows [0, n) (n <= 16, rows w_stride bytes apart) as element pairs in lanes: dst[p * 16 + j] = pair p
// of row j; missing rows are zeros. Per 32 elements, 16 row loads and a 16 x 16 transpose of 32-bit pairs
// (transpose_avx512.h).
// With scales, row j's 32 elements from column i are scaled by scales->at(row + j, i).
// Coded rows (kSrc == kCoded) are decoded, and their exceptions written over the lanes' zeros.
template <Src kSrc>
void pack_lanes(int64_t k, const uint8_t* w, size_t w_stride, int64_t n, uint32_t* dst, const BlockScales* scales,
                int64_t row, const CodedRows* coded) {
  constexpr size_t kElemBytes = elem_bytes(kSrc);
  const Transpose16x16 transpose;
  const float* scale_rows[16] = {};
  if (scales)
    for (int j = 0; j < n; ++j) scale_rows[j] = scales->s + (scales->row0 + row + j) / scales->block * scales->cols;
  [[maybe_unused]] const BlockDecoder dec(coded ? *coded->m->header : CodedBf16Header{});
  for (int64_t i = 0; i < k; i += 32) {
    __m512i v[16];
    for (int j = 0; j < 16; ++j) {
      if constexpr (kSrc == Src::kCoded) {
        v[j] = j >= n ? _mm512_setzero_si512() : load32_coded(dec, w + j * w_stride, i);
      } else {
        const uint8_t* src = w + j * w_stride + i * kElemBytes;
        v[j] = j >= n      ? _mm512_setzero_si512()
               : !scales ? load32_bf16<kSrc>(src)
                         : load32_bf16_scaled<kSrc>(src, scale_rows[j][i / scales->block]);
      }
    }
    transpose(v);
    for (int j = 0; j < 16; ++j) _mm512_storeu_si512(dst + (i / 2 + j) * kLanes, v[j]);
  }
  if constexpr (kSrc == Src::kCoded) {
    auto* lanes16 = reinterpret_cast<uint16_t*>(dst);  // pair p of row j at dst[p * 16 + j], low half first
    const CodedBf16& m = *coded->m;
    for (int64_t j = 0, r = coded->row0 + row; j < n; ++j, ++r)
      for (uint32_t e = m.first[r]; e < m.first[r + 1]; ++e) {
        const CodedBf16Exception& x = m.exceptions[e];
        lanes16[(static_cast<int64_t>(x.col / 2) * kLanes + j) * 2 + x.col % 2] = x.bits;
      }
  }
}

template <Src kSrc>
void gemm_bf16_scaled(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const BlockScales* scales,
                      const void* a, size_t a_stride, int64_t n_tok, float* y, int64_t ldy,
                      const CodedRows* coded = nullptr) {
  static constexpr auto one = tiles<1>(std::make_integer_sequence<int, kToks>{});
  static constexpr auto two = tiles<2>(std::make_integer_sequence<int, kToks>{});
  const uint8_t* w8 = static_cast<const uint8_t*>(w);
  const auto* abf = static_cast<const uint16_t*>(a);
  const auto lda = static_cast<int64_t>(a_stride / sizeof(uint16_t));
  thread_local std::vector<uint32_t> lanes;
  lanes.resize(static_cast<size_t>(kGroups * k / 2 * kLanes));
  const bool amx = amx_products();
  // AMX takes 32 tokens a block, and reads whole tiles of 16 activation rows: the tokens after the last
  // whole 32 go through a copy with zero rows after them.
  const int64_t tok_step = amx ? kAmxTokens : kToks, n_whole = n_tok / kAmxTokens * kAmxTokens;
  thread_local std::vector<uint16_t> tail;
  if (amx) {
    amx_tiles_begin();
    if (n_whole < n_tok) {
      tail.assign(static_cast<size_t>(kAmxTokens * k), 0);
      for (int64_t t = n_whole; t < n_tok; ++t)
        std::copy_n(abf + t * lda, k, tail.data() + (t - n_whole) * k);
    }
  }
  for (int64_t r = 0; r < n_rows; r += kGroups * kLanes) {
    const int64_t R = std::min<int64_t>(kGroups * kLanes, n_rows - r);
    const int G = R > kLanes ? 2 : 1;
    const __mmask16 last = static_cast<__mmask16>((1u << (R - (G - 1) * kLanes)) - 1);
    for (int g = 0; g < G; ++g)
      pack_lanes<kSrc>(k, w8 + (r + g * kLanes) * static_cast<int64_t>(w_stride), w_stride,
                       std::min<int64_t>(kLanes, R - g * kLanes), lanes.data() + g * (k / 2 * kLanes), scales,
                       r + g * kLanes, coded);
    // The next rows' bytes, a slice per token tile: the packing above would wait on every cache miss
    // of 32 rows at once (~8% of a BF16 prefill in perf without this).
    const uint8_t* next = w8 + (r + R) * static_cast<int64_t>(w_stride);
    const int64_t next_bytes = std::min<int64_t>(kGroups * kLanes, n_rows - r - R) * static_cast<int64_t>(w_stride);
    const int64_t n_tiles = (n_tok + tok_step - 1) / tok_step, slice = (next_bytes / n_tiles + 63) / 64 * 64;
    for (int64_t t = 0, i = 0; t < n_tok; t += tok_step, ++i) {
      prefetch_rows(next + i * slice, std::min(slice, next_bytes - i * slice));
      const int T = static_cast<int>(std::min<int64_t>(tok_step, n_tok - t));
      if (amx) {
        const bool whole = t < n_whole;
        amx_bf16_block(k, lanes.data(), k / 2 * kLanes, R, whole ? abf + t * lda : tail.data(), whole ? lda : k, T,
                       y + t * ldy + r, ldy);
      } else {
        (G == 2 ? two : one)[T - 1](k, lanes.data(), abf, lda, t, y + r, ldy, last);
      }
    }
  }
  if (amx) amx_tiles_end();
}

template <Src kSrc>
void gemm_bf16(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
               int64_t n_tok, float* y, int64_t ldy) {
  gemm_bf16_scaled<kSrc>(k, w, w_stride, n_rows, nullptr, a, a_stride, n_tok, y, ldy);
}

template <Src kSrc>
void gemm_scaled(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const BlockScales& scales, const void* a,
                 size_t a_stride, int64_t n_tok, float* y, int64_t ldy) {
  gemm_bf16_scaled<kSrc>(k, w, w_stride, n_rows, &scales, a, a_stride, n_tok, y, ldy);
}

}  // namespace

void round_bf16_avx512bf16(const float* x, int64_t k, uint16_t* dst) {
  for (int64_t i = 0; i < k; i += 32)
    _mm512_storeu_si512(dst + i, (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i)));
}

void gemm_coded_bf16_avx512bf16(const CodedBf16& m, int64_t row0, int64_t n_rows, const void* a, size_t a_stride,
                                int64_t n_tok, float* y, int64_t ldy) {
  const CodedRows coded{&m, row0};
  gemm_bf16_scaled<Src::kCoded>(m.k, m.rows + static_cast<size_t>(row0) * m.row_bytes, m.row_bytes, n_rows, nullptr, a,
                                a_stride, n_tok, y, ldy, &coded);
}

GemmTileFn gemm_bf16_avx512bf16() { return gemm_bf16<Src::kBf16>; }
GemmTileFn gemm_f16_avx512bf16() { return gemm_bf16<Src::kF16>; }
GemmTileFn gemm_f8_avx512bf16() { return gemm_bf16<Src::kF8>; }
GemmScaledTileFn gemm_scaled_avx512bf16(DType type) {
  switch (type) {
    case DType::BF16: return gemm_scaled<Src::kBf16>;
    case DType::F16: return gemm_scaled<Src::kF16>;
    case DType::F8_E4M3: return gemm_scaled<Src::kF8>;
    default: return nullptr;
  }
}

}  // namespace r1
