// Prefill (matrix × several tokens) kernels on AVX-512 VNNI; this file is compiled with
// -mavx512vnni (plus F/BW/VL, AVX2, FMA, F16C) and only called when the CPU has it.
//
// Integer formats (Q4_0, Q8_0, Q4_K, Q5_K, Q6_K) go through one register tile after their rows are
// "expanded", a few rows at a time, into one signed byte per weight plus a float scale per 16
// weights (Q6_K's sub-block; the others repeat theirs) and, for Q4_K / Q5_K, a min per 32. A thread
// expands a group of rows once per chunk of tokens (matmul.cc feeds up to 128) and multiplies it
// with every token of the chunk, so the expansion is a small part of the work and the tile's inner
// loop is the same for every format. Activations are those of the dot products (Q8_0 blocks for
// Q4_0 / Q8_0, Q8_K for the K-quants, as llama.cpp), rearranged once per chunk into token pairs.
//
// Float formats (F32, F16, BF16; F8_E4M3 via F16) use a float tile that converts the weights as it
// loads them; a group of rows stays in L1 while every token passes.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <type_traits>
#include <utility>
#include <vector>

#include "ops/blocks.h"
#include "ops/gemm_tile.h"
#include "ops/vec_dot.h"

namespace r1 {
namespace {

// ---- integer formats: expansion of weight rows ---------------------------------------------------

__m256i load32(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
void store32(int8_t* p, __m256i v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }
__m256i low_nibbles(__m256i v) { return _mm256_and_si256(v, _mm256_set1_epi8(0xF)); }
__m256i high_nibbles(__m256i v) { return _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(0xF)); }
__m256i minus(__m256i v, int c) { return _mm256_sub_epi8(v, _mm256_set1_epi8(static_cast<char>(c))); }
// Bits [b, b + 2) of every byte of v, moved to bits 4, 5.
template <int b>
__m256i two_bits_to_4(__m256i v) {
  return _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(v, b), _mm256_set1_epi8(3)), 4);
}
// The scale of n consecutive 16-element groups, written 4 times each (one per lane of a vpdpbusd).
void put_scale(float* out, int n_groups, float s) {
  if (n_groups == 2) return _mm256_storeu_ps(out, _mm256_set1_ps(s));
  _mm_storeu_ps(out, _mm_set1_ps(s));
}

// Each expander turns one row of k elements into signed codes [k] and scales [k / 4] with
// w = scale · code (+ min, per 32 elements, written to mins [k / 32] by Q4_K / Q5_K).
void expand_q8_0(const void* row, int64_t k, int8_t* codes, float* scales, float*) {
  const BlockQ8_0* b = static_cast<const BlockQ8_0*>(row);
  for (int64_t i = 0; i < k / kQK; ++i) {
    store32(codes + 32 * i, load32(reinterpret_cast<const uint8_t*>(b[i].qs)));
    put_scale(scales + 8 * i, 2, _cvtsh_ss(b[i].d));
  }
}

void expand_q4_0(const void* row, int64_t k, int8_t* codes, float* scales, float*) {
  const BlockQ4_0* b = static_cast<const BlockQ4_0*>(row);
  for (int64_t i = 0; i < k / kQK; ++i) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[i].qs));
    const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(q), _mm_srli_epi16(q, 4), 1);
    store32(codes + 32 * i, minus(low_nibbles(both), 8));  // element j low nibble, j + 16 high
    put_scale(scales + 8 * i, 2, _cvtsh_ss(b[i].d));
  }
}

// Q4_K / Q5_K: 64 elements per 32 bytes of qs: low nibbles are sub-block 2c, high ones 2c + 1.
template <bool kQ5>
void expand_k(const void* row, int64_t k, int8_t* codes, float* scales, float* mins) {
  using Block = std::conditional_t<kQ5, BlockQ5K, BlockQ4K>;
  const Block* b = static_cast<const Block*>(row);
  for (int64_t i = 0; i < k / kQKK; ++i, codes += kQKK, scales += kQKK / 4, mins += 8) {
    const float d = _cvtsh_ss(b[i].d), dmin = _cvtsh_ss(b[i].dmin);
    __m256i qh = _mm256_setzero_si256();
    if constexpr (kQ5) qh = load32(b[i].qh);
    for (int c = 0; c < 4; ++c) {
      const __m256i q = load32(b[i].qs + 32 * c);
      __m256i lo = low_nibbles(q), hi = high_nibbles(q);
      if constexpr (kQ5) {  // bit 2c of qh[l] is bit 4 of element l of sub-block 2c, bit 2c+1 of 2c+1
        const __m256i one = _mm256_set1_epi8(1);
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), one), 4));
        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), one), 4));
      }
      store32(codes + 64 * c, lo);
      store32(codes + 64 * c + 32, hi);
    }
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      k_scale_min(j, b[i].scales, &sc, &m);
      put_scale(scales + 8 * j, 2, d * sc);
      mins[j] = -dmin * m;
    }
  }
}

// Q6_K: per half of 128 elements, ql[0..63] and qh[0..31] hold four runs of 32 (ggml's layout).
void expand_q6_k(const void* row, int64_t k, int8_t* codes, float* scales, float*) {
  const BlockQ6K* b = static_cast<const BlockQ6K*>(row);
  for (int64_t i = 0; i < k / kQKK; ++i, codes += kQKK, scales += kQKK / 4) {
    for (int h = 0; h < 2; ++h) {
      const __m256i l0 = load32(b[i].ql + 64 * h), l1 = load32(b[i].ql + 64 * h + 32);
      const __m256i qh = load32(b[i].qh + 32 * h);
      int8_t* c = codes + 128 * h;
      store32(c, minus(_mm256_or_si256(low_nibbles(l0), two_bits_to_4<0>(qh)), 32));
      store32(c + 32, minus(_mm256_or_si256(low_nibbles(l1), two_bits_to_4<2>(qh)), 32));
      store32(c + 64, minus(_mm256_or_si256(high_nibbles(l0), two_bits_to_4<4>(qh)), 32));
      store32(c + 96, minus(_mm256_or_si256(high_nibbles(l1), two_bits_to_4<6>(qh)), 32));
    }
    const float d = _cvtsh_ss(b[i].d);
    for (int g = 0; g < kQKK / 16; ++g) put_scale(scales + 4 * g, 1, d * b[i].scales[g]);
  }
}

// ---- integer formats: the tile ----------------------------------------------------------------

// vpdpbusd takes unsigned × signed bytes: the activations are made unsigned (u = a + 128) and the
// error taken out inside the integer sum, Σ w·a = Σ w·u − 128·Σ w, by starting the accumulator at
// the weights' −128·Σw (the "bias", computed once per expanded row).
//
// Tokens go in pairs (ta, tb) so that one vector of int sums serves both: per 128-bit lane (16
// elements, 4 dwords) the first vpdpbusd multiplies code dwords 0..3 with [ta0 ta1 tb2 tb3], the
// second the codes with their 64-bit halves swapped with [ta2 ta3 tb0 tb1]; lanes 0,1 then add up
// ta's 16 products and lanes 2,3 tb's. A 128-bit lane is one 16-element group, so its float scale
// is the weights' scale of that group times the activation block's.

// A group of expanded rows; k elements per row, 64 per step.
struct IntRows {
  const int8_t* codes;   // [row][k]
  const float* scales;   // [row][k / 4]: the scale of each 16 elements, once per int32 lane
  const int32_t* bias;   // [row][k / 4]: −128 · (the codes each int32 lane meets), per step
  const float* mins;     // [row][k / 32], or null
  int64_t k;
};

// The activations of a pair of tokens for one step, laid out as the tile reads them.
struct PairStep {
  __m512i m1, m2;  // unsigned activations in the two orders above
  __m512 da;       // activation block scales per lane
};

__m512i join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }
// [d0 × 8 lanes | d1 × 8 lanes] from two consecutive float scales.
__m512 scales2(float d0, float d1) { return _mm512_mask_broadcastss_ps(_mm512_set1_ps(d0), 0xFF00, _mm_set_ss(d1)); }

// Activation rows [n_tok] → pairs [(n_tok + 1) / 2][k / 64] (an odd last token pairs with itself).
// Q8_0 rows (for Q8_0 / Q4_0 weights) have a scale per 32 elements, Q8_K rows (the K-quants) one per
// 256: a step's 64 codes and its lanes' scales come from one or two blocks.
template <typename ActBlock>
void pair_activations(const uint8_t* a, size_t a_stride, int64_t n_tok, int64_t k, PairStep* out) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t ta = 0; ta < n_tok; ta += 2) {
    const int64_t tb = std::min(ta + 1, n_tok - 1);
    const ActBlock* ba = reinterpret_cast<const ActBlock*>(a + ta * a_stride);
    const ActBlock* bb = reinterpret_cast<const ActBlock*>(a + tb * a_stride);
    for (int64_t s = 0; s < k / 64; ++s, ++out) {
      __m512i va, vb;
      __m512 da, db;
      if constexpr (std::is_same_v<ActBlock, BlockQ8K>) {
        const int64_t i = s / 4, off = 64 * (s % 4);
        va = _mm512_loadu_si512(ba[i].qs + off);
        vb = _mm512_loadu_si512(bb[i].qs + off);
        da = _mm512_set1_ps(ba[i].d);
        db = _mm512_set1_ps(bb[i].d);
      } else {
        const int64_t i = 2 * s;
        va = join(load32(reinterpret_cast<const uint8_t*>(ba[i].qs)), load32(reinterpret_cast<const uint8_t*>(ba[i + 1].qs)));
        vb = join(load32(reinterpret_cast<const uint8_t*>(bb[i].qs)), load32(reinterpret_cast<const uint8_t*>(bb[i + 1].qs)));
        da = scales2(_cvtsh_ss(ba[i].d), _cvtsh_ss(ba[i + 1].d));
        db = scales2(_cvtsh_ss(bb[i].d), _cvtsh_ss(bb[i + 1].d));
      }
      va = _mm512_xor_si512(va, flip);
      vb = _mm512_xor_si512(vb, flip);
      out->m1 = _mm512_mask_blend_epi32(0xCCCC, va, vb);
      out->m2 = _mm512_shuffle_epi32(_mm512_mask_blend_epi32(0xCCCC, vb, va), _MM_PERM_BADC);
      out->da = _mm512_mask_blend_ps(0xCCCC, da, db);
    }
  }
}

// d_a·Σa per token and 32 elements (for the Q4_K / Q5_K mins), from Q8_K rows' 16-element sums.
void block_sums(const uint8_t* a, size_t a_stride, int64_t n_tok, int64_t k, float* cs) {
  for (int64_t t = 0; t < n_tok; ++t) {
    const BlockQ8K* b = reinterpret_cast<const BlockQ8K*>(a + t * a_stride);
    for (int64_t i = 0; i < k / kQKK; ++i)
      for (int j = 0; j < 8; ++j) *cs++ = b[i].d * static_cast<float>(b[i].bsums[2 * j] + b[i].bsums[2 * j + 1]);
  }
}

constexpr int kIntRows = 6, kIntToks = 6;  // 6 rows × 3 pairs = 18 accumulators

// R rows × T tokens (pairs from `pairs`, k / 64 steps each). cs: d_a·Σa per token and 32-block
// (nb per token), for the mins; odd T: the last pair is (t, t), read from lanes 0,1 only.
template <int R, int T, bool kMins>
void tile_int(const IntRows& w, const PairStep* pairs, const float* cs, float* y, int64_t ldy) {
  constexpr int P = (T + 1) / 2;
  constexpr auto tb_of = [](int p) { return std::min(2 * p + 1, T - 1); };
  const int64_t k = w.k, steps = k / 64, nb = k / kQK;
  __m512 acc[R][P];
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p) acc[r][p] = _mm512_setzero_ps();

  for (int64_t s = 0; s < steps; ++s) {
    __m512i m1[P], m2[P];
    __m512 da[P];
    for (int p = 0; p < P; ++p) {
      const PairStep& ps = pairs[p * steps + s];
      m1[p] = ps.m1;
      m2[p] = ps.m2;
      da[p] = ps.da;
    }
    for (int r = 0; r < R; ++r) {
      const __m512i wv = _mm512_loadu_si512(w.codes + r * k + 64 * s);
      const __m512i wv2 = _mm512_shuffle_epi32(wv, _MM_PERM_BADC);
      const __m512i bias = _mm512_loadu_si512(w.bias + r * (k / 4) + 16 * s);
      const __m512 dw = _mm512_loadu_ps(w.scales + r * (k / 4) + 16 * s);
      for (int p = 0; p < P; ++p) {
        const __m512i sum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(bias, m1[p], wv), m2[p], wv2);
        acc[r][p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(dw, da[p]), acc[r][p]);
      }
    }
  }
  // The mins: Σ_block min·(d_a·Σa), 16 blocks per step, folded into the [ta ta tb tb] layout.
  for (int64_t i = 0; kMins && i < nb; i += 16) {
    const __mmask16 m = nb - i >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (nb - i)) - 1);
    for (int p = 0; p < P; ++p) {
      const __m512 ca = _mm512_maskz_loadu_ps(m, cs + 2 * p * nb + i);
      const __m512 cb = _mm512_maskz_loadu_ps(m, cs + tb_of(p) * nb + i);
      for (int r = 0; r < R; ++r) {
        const __m512 mn = _mm512_maskz_loadu_ps(m, w.mins + r * nb + i);
        const __m512d xa = _mm512_castps_pd(_mm512_mul_ps(mn, ca)), xb = _mm512_castps_pd(_mm512_mul_ps(mn, cb));
        acc[r][p] = _mm512_add_ps(acc[r][p], _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(xa, xb)),
                                                           _mm512_castpd_ps(_mm512_unpackhi_pd(xa, xb))));
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (int p = 0; p < P; ++p) {
      y[2 * p * ldy + r] = _mm512_mask_reduce_add_ps(0x3333, acc[r][p]);
      if (tb_of(p) != 2 * p) y[tb_of(p) * ldy + r] = _mm512_mask_reduce_add_ps(0xCCCC, acc[r][p]);
    }
}

using IntTileFn = void (*)(const IntRows&, const PairStep*, const float*, float*, int64_t);

template <bool kMins, int R, int... Ts>
constexpr auto int_tile_row(std::integer_sequence<int, Ts...>) {
  return std::array<IntTileFn, sizeof...(Ts)>{&tile_int<R, Ts + 1, kMins>...};
}
template <bool kMins, int... Rs>
constexpr auto int_tiles(std::integer_sequence<int, Rs...>) {
  return std::array<std::array<IntTileFn, kIntToks>, sizeof...(Rs)>{
      int_tile_row<kMins, Rs + 1>(std::make_integer_sequence<int, kIntToks>{})...};
}

using IntExpandFn = void (*)(const void*, int64_t, int8_t*, float*, float*);

// Asks for the next group's weight bytes while the current group is multiplied: the group is read
// in one short burst, which the hardware prefetchers do not see coming (perf put 74% of the
// expansion's time on its first loads).
void prefetch_rows(const uint8_t* p, int64_t n_bytes) {
  for (int64_t i = 0; i < n_bytes; i += 64) _mm_prefetch(reinterpret_cast<const char*>(p + i), _MM_HINT_T1);
}

// The −128·Σw start of every int32 lane of a row's steps (see tile_int for the pairing).
void put_bias(const int8_t* codes, int64_t k, int32_t* bias) {
  const __m512i c128 = _mm512_set1_epi8(static_cast<char>(0x80)), zero = _mm512_setzero_si512();
  for (int64_t s = 0; s < k / 64; ++s) {
    const __m512i wv = _mm512_loadu_si512(codes + 64 * s), wv2 = _mm512_shuffle_epi32(wv, _MM_PERM_BADC);
    _mm512_storeu_si512(bias + 16 * s,
                        _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, c128, wv), c128, wv2)));
  }
}

// One integer-format gemm: the chunk's activations paired once, then the rows a group at a time,
// expanded, against every token. ActBlock: the activation format (BlockQ8_0 or BlockQ8K).
template <IntExpandFn kExpand, typename ActBlock, bool kMins>
void gemm_int(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
              int64_t n_tok, float* y, int64_t ldy) {
  static constexpr auto tiles = int_tiles<kMins>(std::make_integer_sequence<int, kIntRows>{});
  const uint8_t* w8 = static_cast<const uint8_t*>(w);
  const uint8_t* a8 = static_cast<const uint8_t*>(a);
  const int64_t nb = k / kQK, steps = k / 64;
  // Per-thread scratch, reused across calls.
  thread_local std::vector<int8_t> codes;
  thread_local std::vector<float> scales, mins, cs;
  thread_local std::vector<int32_t> bias;
  thread_local std::vector<PairStep> pairs;
  codes.resize(static_cast<size_t>(kIntRows * k));
  scales.resize(static_cast<size_t>(kIntRows * k / 4));
  bias.resize(scales.size());
  mins.resize(static_cast<size_t>(kIntRows * nb));
  pairs.resize(static_cast<size_t>((n_tok + 1) / 2 * steps));
  pair_activations<ActBlock>(a8, a_stride, n_tok, k, pairs.data());
  if constexpr (kMins) {
    cs.resize(static_cast<size_t>(n_tok * nb));
    block_sums(a8, a_stride, n_tok, k, cs.data());
  }
  const IntRows rows{codes.data(), scales.data(), bias.data(), kMins ? mins.data() : nullptr, k};
  for (int64_t r = 0; r < n_rows; r += kIntRows) {
    const int R = static_cast<int>(std::min<int64_t>(kIntRows, n_rows - r));
    prefetch_rows(w8 + (r + R) * w_stride, std::min<int64_t>(kIntRows, n_rows - r - R) * w_stride);
    for (int j = 0; j < R; ++j) {
      kExpand(w8 + (r + j) * w_stride, k, codes.data() + j * k, scales.data() + j * (k / 4), mins.data() + j * nb);
      put_bias(codes.data() + j * k, k, bias.data() + j * (k / 4));
    }
    for (int64_t t = 0; t < n_tok; t += kIntToks) {  // kIntToks is even: tiles start on a pair
      const int T = static_cast<int>(std::min<int64_t>(kIntToks, n_tok - t));
      tiles[R - 1][T - 1](rows, pairs.data() + t / 2 * steps, kMins ? cs.data() + t * nb : nullptr, y + t * ldy + r,
                          ldy);
    }
  }
}

// ---- float formats ------------------------------------------------------------------------------

// 16 weights as float32 from a row in its own format.
__m512 load_f32(const void* row, int64_t i) { return _mm512_loadu_ps(static_cast<const float*>(row) + i); }
__m512 load_f16(const void* row, int64_t i) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(row) + i)));
}
__m512 load_bf16(const void* row, int64_t i) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(row) + i));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
using FloatLoad = __m512 (*)(const void*, int64_t);

constexpr int kFloatRows = 4, kFloatToks = 4;  // 16 float accumulators

// R rows × T tokens, 16 elements per step; k % 16 == 0.
template <FloatLoad kLoad, int R, int T>
void tile_float(int64_t k, const uint8_t* w, size_t w_stride, const float* a, int64_t a_stride, float* y, int64_t ldy) {
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int64_t i = 0; i < k; i += 16) {
    __m512 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = kLoad(w + r * w_stride, i);
    for (int t = 0; t < T; ++t) {
      const __m512 av = _mm512_loadu_ps(a + t * a_stride + i);
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], av, acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) y[t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
}

using FloatTileFn = void (*)(int64_t, const uint8_t*, size_t, const float*, int64_t, float*, int64_t);

template <FloatLoad kLoad, int R, int... Ts>
constexpr auto float_tile_row(std::integer_sequence<int, Ts...>) {
  return std::array<FloatTileFn, sizeof...(Ts)>{&tile_float<kLoad, R, Ts + 1>...};
}
template <FloatLoad kLoad, int... Rs>
constexpr auto float_tiles(std::integer_sequence<int, Rs...>) {
  return std::array<std::array<FloatTileFn, kFloatToks>, sizeof...(Rs)>{
      float_tile_row<kLoad, Rs + 1>(std::make_integer_sequence<int, kFloatToks>{})...};
}

// F32 / F16 / BF16 rows are read in place; a group of rows stays in L1 while every token passes.
template <FloatLoad kLoad>
void gemm_float(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
                int64_t n_tok, float* y, int64_t ldy) {
  static constexpr auto tiles = float_tiles<kLoad>(std::make_integer_sequence<int, kFloatRows>{});
  const uint8_t* w8 = static_cast<const uint8_t*>(w);
  const float* af = static_cast<const float*>(a);
  const int64_t a_floats = static_cast<int64_t>(a_stride / sizeof(float));
  for (int64_t r = 0; r < n_rows; r += kFloatRows) {
    const int R = static_cast<int>(std::min<int64_t>(kFloatRows, n_rows - r));
    for (int64_t t = 0; t < n_tok; t += kFloatToks) {
      const int T = static_cast<int>(std::min<int64_t>(kFloatToks, n_tok - t));
      tiles[R - 1][T - 1](k, w8 + r * w_stride, w_stride, af + t * a_floats, a_floats, y + t * ldy + r, ldy);
    }
  }
}

// e4m3fn → float32: the 7 magnitude bits placed in a float's exponent and mantissa give the value
// times 2^-120 (subnormals included); 0x7F / 0xFF are NaN.
__m512 f8_to_f32(__m128i bytes) {
  const __m512i x = _mm512_cvtepu8_epi32(bytes);
  const __m512i mag = _mm512_and_si512(x, _mm512_set1_epi32(0x7F));
  __m512 f = _mm512_mul_ps(_mm512_castsi512_ps(_mm512_slli_epi32(mag, 20)), _mm512_set1_ps(0x1p120f));
  f = _mm512_castsi512_ps(
      _mm512_or_si512(_mm512_castps_si512(f), _mm512_slli_epi32(_mm512_and_si512(x, _mm512_set1_epi32(0x80)), 24)));
  return _mm512_mask_mov_ps(f, _mm512_cmpeq_epi32_mask(mag, _mm512_set1_epi32(0x7F)),
                            _mm512_set1_ps(__builtin_nanf("")));
}

// F8_E4M3: rows converted to F16 (exact: every e4m3 value is an fp16) a group at a time, then the
// F16 tiles.
void gemm_f8(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride, int64_t n_tok,
             float* y, int64_t ldy) {
  const uint8_t* w8 = static_cast<const uint8_t*>(w);
  thread_local std::vector<uint16_t> rows;
  rows.resize(static_cast<size_t>(kFloatRows * k));
  for (int64_t r = 0; r < n_rows; r += kFloatRows) {
    const int64_t R = std::min<int64_t>(kFloatRows, n_rows - r);
    for (int64_t j = 0; j < R; ++j)
      for (int64_t i = 0; i < k; i += 16) {
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w8 + (r + j) * w_stride + i));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(rows.data() + j * k + i),
                            _mm512_cvtps_ph(f8_to_f32(b), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      }
    gemm_float<load_f16>(k, rows.data(), static_cast<size_t>(k) * 2, R, a, a_stride, n_tok, y + r, ldy);
  }
}

}  // namespace

const GemmTable& gemm_avx512vnni() {
  static const GemmTable t = {
      .q8_0 = gemm_int<expand_q8_0, BlockQ8_0, false>,
      .q4_0 = gemm_int<expand_q4_0, BlockQ8_0, false>,
      .q4_k = gemm_int<expand_k<false>, BlockQ8K, true>,
      .q5_k = gemm_int<expand_k<true>, BlockQ8K, true>,
      .q6_k = gemm_int<expand_q6_k, BlockQ8K, false>,
      .f32 = gemm_float<load_f32>,
      .f16 = gemm_float<load_f16>,
      .bf16 = gemm_float<load_bf16>,
      .f8_e4m3 = gemm_f8,
  };
  return t;
}

}  // namespace r1
