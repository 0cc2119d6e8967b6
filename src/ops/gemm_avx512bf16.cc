// BF16 / F16 / F8_E4M3 prefill kernel on AVX-512 BF16 (vdpbf16ps: 32 bf16 products per instruction, summed in
// float32); compiled with -mavx512bf16 and used only when the CPU has it (matmul.cc). The
// activations come rounded to bfloat16 (round to nearest even, round_bf16_avx512bf16: matmul does it
// once for all threads), as llama.cpp does for BF16 weights. BF16 weights are used as stored; F16
// weights are rounded to bf16 as they are laid out for the tile (3 fewer significand bits;
// ik_llama.cpp's repacking does the same), because float32 products cannot go faster than
// ~0.4 TFLOP/s here and the bf16 ones reach ~0.9. F8_E4M3
// weights (DeepSeek's FP8 checkpoints; their block scales are applied outside, deepseek_linear.cc)
// become bf16 exactly. On AMX CPUs the integer formats come here too (their weights made bf16: see
// "integer formats" below), and the products go through the AMX tiles (gemm_amx_bf16.cc).
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include "ops/avx2_util.h"
#include "ops/coded_bf16_avx512.h"
#include "ops/gemm_tile.h"
#include "ops/int_lanes_avx512.h"
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
constexpr int kGroups = 2, kToks = 12;  // kLanes (16 rows a group): ops/int_lanes_avx512.h
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

// Every token against n_rows rows (w8 on, w_stride bytes apart), laid out 32 at a time in groups of
// 16 by pack(r, n, group_lanes), which writes rows [r, r + n) (n <= 16) as pairs at group_lanes:
// through AMX tiles where amx_products(), else the vdpbf16ps tile.
template <class Pack>
void rows_times_tokens(int64_t k, const uint8_t* w8, size_t w_stride, int64_t n_rows, Pack pack, const void* a,
                       size_t a_stride, int64_t n_tok, float* y, int64_t ldy) {
  static constexpr auto one = tiles<1>(std::make_integer_sequence<int, kToks>{});
  static constexpr auto two = tiles<2>(std::make_integer_sequence<int, kToks>{});
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
      pack(r + g * kLanes, std::min<int64_t>(kLanes, R - g * kLanes), lanes.data() + g * (k / 2 * kLanes));
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
void gemm_bf16_scaled(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const BlockScales* scales,
                      const void* a, size_t a_stride, int64_t n_tok, float* y, int64_t ldy,
                      const CodedRows* coded = nullptr) {
  const uint8_t* w8 = static_cast<const uint8_t*>(w);
  auto pack = [&](int64_t r, int64_t n, uint32_t* lanes) {
    pack_lanes<kSrc>(k, w8 + r * static_cast<int64_t>(w_stride), w_stride, n, lanes, scales, r, coded);
  };
  rows_times_tokens(k, w8, w_stride, n_rows, pack, a, a_stride, n_tok, y, ldy);
}

// ---- integer formats: rows expanded in lanes (ops/int_lanes_avx512.h), then made bf16 weights ----
//
// Element i of a block of row j is scale · (code − offset) + min, computed in float32 with one
// rounding (fma(code, scale, min − offset · scale): offset · scale is exact, the offsets being powers of
// two) and rounded once more to bf16, as F16 weights are. On AMX CPUs this replaces the vpdpbusd tile for
// prefill: the products then run at the tiles' bf16 rate, and the activations are rounded to bf16
// rather than quantized to 8 bits per block (a smaller error: Matmul.AmxIntegerPrefillIsTheBf16WeightsProducts,
// DenseBf16.AmxIntegerPrefillIsCloserThanEightBitActivations).

// A group's nb blocks of codes, scales and mins as bf16 pairs: quad q of block b (elements 4q..4q+3
// of each row) gives pairs 16b + 2q and 16b + 2q + 1 of the 16 rows.
template <bool kHalves, bool kMins>
void lanes_to_bf16(const uint8_t* codes, const float* scales, const float* mins, int offset, int64_t nb, uint32_t* dst) {
  constexpr int kStarts = kHalves ? 2 : 1, kQuadsPerScale = 8 / kStarts;
  // cvtne2ps_pbh(hi, lo) leaves lo's 16 values in words 0-15 and hi's in 16-31: word 2j ← j, 2j + 1 ← 16 + j.
  alignas(64) static constexpr uint16_t kInterleave[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                                           8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i order = _mm512_load_si512(kInterleave), byte = _mm512_set1_epi32(0xFF);
  const __m512 off = _mm512_set1_ps(static_cast<float>(offset));
  for (int64_t b = 0; b < nb; ++b)
    for (int h = 0; h < kStarts; ++h) {
      const __m512 scale = _mm512_loadu_ps(scales + (b * kStarts + h) * kLanes);
      const __m512 min = kMins ? _mm512_loadu_ps(mins + b * kLanes) : _mm512_setzero_ps();
      const __m512 bias = _mm512_fnmadd_ps(off, scale, min);
      for (int q = h * kQuadsPerScale; q < (h + 1) * kQuadsPerScale; ++q) {
        const __m512i v = _mm512_loadu_si512(codes + (b * 8 + q) * 64);
        __m512 e[4];
        for (int i = 0; i < 4; ++i)
          e[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(v, 8 * i), byte)), scale, bias);
        uint32_t* out = dst + (16 * b + 2 * q) * kLanes;
        _mm512_storeu_si512(out, _mm512_permutexvar_epi16(order, (__m512i)_mm512_cvtne2ps_pbh(e[1], e[0])));
        _mm512_storeu_si512(out + kLanes, _mm512_permutexvar_epi16(order, (__m512i)_mm512_cvtne2ps_pbh(e[3], e[2])));
      }
    }
}

// One integer format's prefill (kExpand: its expander; kX8: rows interleaved at load, ops/repack.h,
// taken in whole groups of 8), bf16 activation rows as the other kernels of this file take them.
template <auto kExpand, int kOffset, bool kHalves, bool kMins, bool kX8 = false>
void gemm_int_bf16(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride, int64_t n_tok,
              float* y, int64_t ldy) {
  const uint8_t* w8 = static_cast<const uint8_t*>(w);
  const int64_t nb = k / kQK;
  thread_local std::vector<uint8_t> codes;
  thread_local std::vector<float> scales, mins;
  codes.resize(static_cast<size_t>(kLanes * k));
  scales.resize(static_cast<size_t>((kHalves ? 2 : 1) * kLanes * nb));
  mins.resize(static_cast<size_t>(kLanes * nb));
  auto pack = [&](int64_t r, int64_t n, uint32_t* lanes) {
    const uint8_t* group = w8 + r * static_cast<int64_t>(w_stride);
    if constexpr (kX8)
      kExpand(X8Pair{group, n > kInterleave ? group + kInterleave * w_stride : group}, nb, codes.data(), scales.data(),
              mins.data());
    else
      kExpand(RowGroup(group, w_stride, static_cast<int>(n)), nb, codes.data(), scales.data(), mins.data());
    lanes_to_bf16<kHalves, kMins>(codes.data(), scales.data(), mins.data(), kOffset, nb, lanes);
  };
  rows_times_tokens(k, w8, w_stride, n_rows, pack, a, a_stride, n_tok, y, ldy);
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
GemmTileFn gemm_int_avx512bf16(DType type, bool interleaved) {
  if (interleaved) {
    switch (type) {
      case DType::Q4_0: return gemm_int_bf16<expand_q4_0_x8, 8, false, false, true>;
      case DType::Q8_0: return gemm_int_bf16<expand_q8_0_x8, 128, false, false, true>;
      case DType::Q4_K: return gemm_int_bf16<expand_q4_k_x8, 0, false, true, true>;
      case DType::Q5_0: return gemm_int_bf16<expand_q5_0_x8, 16, false, false, true>;
      default: return nullptr;
    }
  }
  switch (type) {
    case DType::Q8_0: return gemm_int_bf16<expand_q8_0, 128, false, false>;
    case DType::Q4_0: return gemm_int_bf16<expand_nibbles<BlockQ4_0>, 8, false, false>;
    case DType::Q4_1: return gemm_int_bf16<expand_nibbles<BlockQ4_1>, 0, false, true>;
    case DType::Q5_0: return gemm_int_bf16<expand_nibbles<BlockQ5_0>, 16, false, false>;
    case DType::Q5_1: return gemm_int_bf16<expand_nibbles<BlockQ5_1>, 0, false, true>;
    case DType::IQ4_NL: return gemm_int_bf16<expand_nibbles<BlockIQ4NL>, 128, false, false>;
    case DType::Q4_K: return gemm_int_bf16<expand_k<false>, 0, false, true>;
    case DType::Q5_K: return gemm_int_bf16<expand_k<true>, 0, false, true>;
    case DType::Q6_K: return gemm_int_bf16<expand_q6_k, 32, true, false>;
    default: return nullptr;
  }
}

}  // namespace r1
