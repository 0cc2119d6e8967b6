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
// loads them, driven by float_gemm.h as the AVX2 backend's: a group of rows stays in L1 while every
// token passes.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <type_traits>
#include <utility>
#include <vector>

#include "ops/avx2_util.h"
#include "ops/blocks.h"
#include "ops/float_gemm.h"
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

// Q4_1 / Q5_0 / Q5_1 / IQ4_NL: the dot products' codes (block_codes, avx2_util.h); Q4_1 / Q5_1 add their offset
// m as the block's min.
template <typename Block, __m256i (*kCodes)(const Block&)>
void expand_small(const void* row, int64_t k, int8_t* codes, float* scales, float* mins) {
  const Block* b = static_cast<const Block*>(row);
  for (int64_t i = 0; i < k / kQK; ++i) {
    store32(codes + 32 * i, kCodes(b[i]));
    put_scale(scales + 8 * i, 2, _cvtsh_ss(b[i].d));
    if constexpr (requires { b[i].m; }) mins[i] = _cvtsh_ss(b[i].m);
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

// Rows in lanes: a group of 16 weight rows is stored so that one 512-bit vector holds 4 consecutive
// codes of each of the 16 rows, and vpdpbusd against one activation dword (4 codes of a token,
// broadcast) adds 4 products to each row's lane. A 32-element block is 8 such vectors; the int32
// sums come out with one row per lane, so the float work (convert, scale, accumulate) is done once
// per 16 rows and token instead of once per row, and no horizontal sums are needed.
//
// vpdpbusd takes unsigned × signed bytes: the weight codes are stored unsigned (code + offset: 8 for
// Q4_0, 128 for Q8_0, 32 for Q6_K, 0 for Q4_K / Q5_K) and each int32 accumulator starts at the
// token's −offset·Σa over the block (or half block), which takes the offset out exactly.
constexpr int kLanes = 16;   // rows per group
constexpr int kLaneToks = 8;  // tokens per tile: 8 float + 8 int accumulators + 8 weight vectors

// A group of 16 rows in the layout above; k elements per row, nb = k / 32 blocks.
struct LaneRows {
  const uint8_t* codes;  // [block][quad 0..7][row][4 codes]
  const float* scales;   // [block][half][row] with kHalves (Q6_K: a scale per 16), else [block][row]
  const float* mins;     // [block][row] (Q4_K / Q5_K), or null
};

// A chunk's activations as the tile reads them.
struct LaneActs {
  const int8_t* codes;   // [token][k]
  const float* d;        // [token][nb]: the block's activation scale
  const int32_t* start;  // [token][nb or 2·nb]: −offset·Σa per block (per half block with kHalves)
  const float* sums;     // [token][nb]: d·Σa per block, for the mins
  int64_t k, nb;
};

// T tokens from t0 against one group of rows; y rows of the group are masked to the valid ones.
// Quad-major, token-minor: consecutive vpdpbusd feed different tokens' sums, which hides its latency.
template <int T, bool kHalves, bool kMins>
void tile_lanes(const LaneRows& w, const LaneActs& a, int64_t t0, float* y, int64_t ldy, __mmask16 rows) {
  constexpr int kStarts = kHalves ? 2 : 1, kQuadsPerStart = 8 / kStarts;
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < a.nb; ++b) {
    __m512i wv[8];
    for (int q = 0; q < 8; ++q) wv[q] = _mm512_loadu_si512(w.codes + (b * 8 + q) * 64);
    for (int h = 0; h < kStarts; ++h) {
      __m512i sum[T];
      for (int t = 0; t < T; ++t) sum[t] = _mm512_set1_epi32(a.start[((t0 + t) * a.nb + b) * kStarts + h]);
      for (int q = h * kQuadsPerStart; q < (h + 1) * kQuadsPerStart; ++q)
        for (int t = 0; t < T; ++t) {
          const int32_t* ac = reinterpret_cast<const int32_t*>(a.codes + (t0 + t) * a.k + 32 * b);
          sum[t] = _mm512_dpbusd_epi32(sum[t], wv[q], _mm512_set1_epi32(ac[q]));
        }
      const __m512 dw = _mm512_loadu_ps(w.scales + (b * kStarts + h) * kLanes);
      for (int t = 0; t < T; ++t)
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum[t]), _mm512_mul_ps(dw, _mm512_set1_ps(a.d[(t0 + t) * a.nb + b])),
                                 acc[t]);
    }
    if constexpr (kMins)
      for (int t = 0; t < T; ++t)
        acc[t] = _mm512_fmadd_ps(_mm512_loadu_ps(w.mins + b * kLanes), _mm512_set1_ps(a.sums[(t0 + t) * a.nb + b]), acc[t]);
  }
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + (t0 + t) * ldy, rows, acc[t]);
}

using LaneTileFn = void (*)(const LaneRows&, const LaneActs&, int64_t, float*, int64_t, __mmask16);

template <bool kHalves, bool kMins, int... Ts>
constexpr auto lane_tiles(std::integer_sequence<int, Ts...>) {
  return std::array<LaneTileFn, sizeof...(Ts)>{&tile_lanes<Ts + 1, kHalves, kMins>...};
}

using IntExpandFn = void (*)(const void*, int64_t, int8_t*, float*, float*);

__m512i join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

// One 32-code block of 16 rows (row j at codes + j·stride) into the lanes layout: out[q] holds
// dword q of every row, plus the offset. An 8×8 dword transpose done on both 256-bit halves at once
// (rows j and j + 8 share a vector): unpack by dwords, then by qwords, then pick 128-bit lanes.
void codes_to_lanes(const int8_t* codes, int64_t stride, __m512i offset, uint8_t* out) {
  __m512i z[8], t[8], u[8];
  for (int j = 0; j < 8; ++j)
    z[j] = join(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + j * stride)),
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + (j + 8) * stride)));
  for (int j = 0; j < 8; j += 2) {
    t[j] = _mm512_unpacklo_epi32(z[j], z[j + 1]);      // per 128-bit lane: j.0 j+1.0 j.1 j+1.1
    t[j + 1] = _mm512_unpackhi_epi32(z[j], z[j + 1]);  //                   j.2 j+1.2 j.3 j+1.3
  }
  for (int j = 0; j < 8; j += 4)
    for (int h = 0; h < 2; ++h) {
      u[j + 2 * h] = _mm512_unpacklo_epi64(t[j + h], t[j + 2 + h]);      // rows j..j+3, dword 2h (and +4)
      u[j + 2 * h + 1] = _mm512_unpackhi_epi64(t[j + h], t[j + 2 + h]);  // rows j..j+3, dword 2h+1 (and +4)
    }
  // u[c] (rows 0..3, dwords c | c+4) and u[4 + c] (rows 4..7): 128-bit lanes 0 / 2 hold dword c of
  // rows 0..3 / 8..11 (u[c]) and 4..7 / 12..15 (u[4 + c]); lanes 1 / 3 dword c + 4.
  const __m512i lo = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0), hi = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
  for (int c = 0; c < 4; ++c) {
    _mm512_storeu_si512(out + c * 64, _mm512_add_epi8(_mm512_permutex2var_epi64(u[c], lo, u[4 + c]), offset));
    _mm512_storeu_si512(out + (c + 4) * 64, _mm512_add_epi8(_mm512_permutex2var_epi64(u[c], hi, u[4 + c]), offset));
  }
}

// Activation rows (Q8_0 or Q8_K blocks) → LaneActs buffers: codes copied contiguous, per-block
// scales, the −offset·Σa starts and the d·Σa sums.
template <typename ActBlock, int kOffset, bool kHalves>
void lane_activations(const uint8_t* a, size_t a_stride, int64_t n_tok, int64_t k, int8_t* codes, float* d,
                      int32_t* start, float* sums) {
  const int64_t nb = k / kQK;
  for (int64_t t = 0; t < n_tok; ++t) {
    const ActBlock* blk = reinterpret_cast<const ActBlock*>(a + t * a_stride);
    int8_t* c = codes + t * k;
    for (int64_t b = 0; b < nb; ++b) {
      if constexpr (std::is_same_v<ActBlock, BlockQ8K>) {
        std::copy_n(blk[b / 8].qs + 32 * (b % 8), 32, c + 32 * b);
        d[t * nb + b] = blk[b / 8].d;
      } else {
        std::copy_n(blk[b].qs, 32, c + 32 * b);
        d[t * nb + b] = _cvtsh_ss(blk[b].d);
      }
      int32_t h0 = 0, h1 = 0;
      for (int j = 0; j < 16; ++j) h0 += c[32 * b + j], h1 += c[32 * b + 16 + j];
      if constexpr (kHalves) {
        start[(t * nb + b) * 2] = -kOffset * h0;
        start[(t * nb + b) * 2 + 1] = -kOffset * h1;
      } else {
        start[t * nb + b] = -kOffset * (h0 + h1);
      }
      sums[t * nb + b] = d[t * nb + b] * static_cast<float>(h0 + h1);
    }
  }
}

// One integer-format gemm. The chunk's activations are prepared once; then, a group of 16 rows at
// a time, the rows are expanded (kExpand, one row at a time), rearranged into lanes, and multiplied
// with every token of the chunk.
template <IntExpandFn kExpand, typename ActBlock, int kOffset, bool kHalves, bool kMins>
void gemm_int(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
              int64_t n_tok, float* y, int64_t ldy) {
  static constexpr auto tiles = lane_tiles<kHalves, kMins>(std::make_integer_sequence<int, kLaneToks>{});
  constexpr int kStarts = kHalves ? 2 : 1;
  const uint8_t* w8 = static_cast<const uint8_t*>(w);
  const int64_t nb = k / kQK;
  // Per-thread scratch, reused across calls.
  thread_local std::vector<int8_t> row_codes, act_codes;
  thread_local std::vector<uint8_t> lane_codes;
  thread_local std::vector<float> row_scales, row_mins, lane_scales, lane_mins, act_d, act_sums;
  thread_local std::vector<int32_t> act_start;
  row_codes.resize(static_cast<size_t>(kLanes * k));
  row_scales.resize(static_cast<size_t>(kLanes * k / 4));
  row_mins.resize(static_cast<size_t>(kLanes * nb));
  lane_codes.resize(static_cast<size_t>(kLanes * k));
  lane_scales.resize(static_cast<size_t>(kStarts * kLanes * nb));
  lane_mins.resize(static_cast<size_t>(kLanes * nb));
  act_codes.resize(static_cast<size_t>(n_tok * k));
  act_d.resize(static_cast<size_t>(n_tok * nb));
  act_sums.resize(act_d.size());
  act_start.resize(static_cast<size_t>(kStarts * n_tok * nb));
  lane_activations<ActBlock, kOffset, kHalves>(static_cast<const uint8_t*>(a), a_stride, n_tok, k, act_codes.data(),
                                               act_d.data(), act_start.data(), act_sums.data());
  const LaneActs acts{act_codes.data(), act_d.data(), act_start.data(), act_sums.data(), k, nb};
  const LaneRows rows{lane_codes.data(), lane_scales.data(), kMins ? lane_mins.data() : nullptr};
  // Gather index of row j's scale: rows are k / 4 floats apart in row_scales, nb in row_mins.
  const __m512i rows16 = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512i scale_rows = _mm512_mullo_epi32(rows16, _mm512_set1_epi32(static_cast<int>(k / 4)));
  const __m512i min_rows = _mm512_mullo_epi32(rows16, _mm512_set1_epi32(static_cast<int>(nb)));
  const __m512i offset = _mm512_set1_epi8(static_cast<char>(kOffset));
  for (int64_t r = 0; r < n_rows; r += kLanes) {
    const int R = static_cast<int>(std::min<int64_t>(kLanes, n_rows - r));
    for (int j = 0; j < R; ++j)
      kExpand(w8 + (r + j) * w_stride, k, row_codes.data() + j * k, row_scales.data() + j * (k / 4),
              row_mins.data() + j * nb);
    // Missing rows of a last, partial group: zero codes and scales, so their lanes add nothing.
    std::fill(row_codes.begin() + R * k, row_codes.end(), int8_t{0});
    std::fill(row_scales.begin() + R * (k / 4), row_scales.end(), 0.0f);
    std::fill(row_mins.begin() + R * nb, row_mins.end(), 0.0f);
    for (int64_t b = 0; b < nb; ++b) {
      codes_to_lanes(row_codes.data() + 32 * b, k, offset, lane_codes.data() + b * 8 * 64);
      for (int h = 0; h < kStarts; ++h)
        _mm512_storeu_ps(lane_scales.data() + (b * kStarts + h) * kLanes,
                         _mm512_i32gather_ps(scale_rows, row_scales.data() + 8 * b + 4 * h, 4));
      if constexpr (kMins) _mm512_storeu_ps(lane_mins.data() + b * kLanes, _mm512_i32gather_ps(min_rows, row_mins.data() + b, 4));
    }
    // The next group's weight bytes are requested a slice per token tile, so that the requests do
    // not queue up behind each other.
    const uint8_t* next = w8 + (r + R) * w_stride;
    const int64_t next_bytes = std::min<int64_t>(kLanes, n_rows - r - R) * static_cast<int64_t>(w_stride);
    const int64_t n_tiles = (n_tok + kLaneToks - 1) / kLaneToks, slice = (next_bytes / n_tiles + 63) / 64 * 64;
    const __mmask16 mask = static_cast<__mmask16>((1u << R) - 1);
    for (int64_t t = 0, i = 0; t < n_tok; t += kLaneToks, ++i) {
      prefetch_rows(next + i * slice, std::min(slice, next_bytes - i * slice));
      const int T = static_cast<int>(std::min<int64_t>(kLaneToks, n_tok - t));
      tiles[T - 1](rows, acts, t, y + r, ldy, mask);
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
// The float tiles (float_gemm.h) on 16 lanes, 4 rows × 4 tokens.
struct Lanes16 {
  using Vec = __m512;
  static constexpr int kLanes = 16;
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec load(const float* p) { return _mm512_loadu_ps(p); }
  static Vec fma(Vec w, Vec a, Vec acc) { return _mm512_fmadd_ps(w, a, acc); }
  static float sum(Vec v) { return _mm512_reduce_add_ps(v); }
};
template <__m512 (*kLoad)(const void*, int64_t)>
using FloatKernel = FloatTile<Lanes16, kLoad, 4, 4>;

void f8_row_to_f16(const uint8_t* row, int64_t k, uint16_t* out) {
  for (int64_t i = 0; i < k; i += 16) {
    const __m512 v = _mm512_mul_ps(load16_f8_over_256(row + i), _mm512_set1_ps(256.0f));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
}

}  // namespace

const GemmTable& gemm_avx512vnni() {
  static const GemmTable t = {
      .q8_0 = gemm_int<expand_q8_0, BlockQ8_0, 128, false, false>,
      .q4_0 = gemm_int<expand_q4_0, BlockQ8_0, 8, false, false>,
      .q4_k = gemm_int<expand_k<false>, BlockQ8K, 0, false, true>,
      .q5_k = gemm_int<expand_k<true>, BlockQ8K, 0, false, true>,
      .q6_k = gemm_int<expand_q6_k, BlockQ8K, 32, true, false>,
      .f32 = gemm_float<FloatKernel<load_f32>>,
      .f16 = gemm_float<FloatKernel<load_f16>>,
      .bf16 = gemm_float<FloatKernel<load_bf16>>,
      .f8_e4m3 = gemm_f8<FloatKernel<load_f16>, f8_row_to_f16>,
      .q4_1 = gemm_int<expand_small<BlockQ4_1, block_codes>, BlockQ8_0, 0, false, true>,
      .q5_0 = gemm_int<expand_small<BlockQ5_0, block_codes>, BlockQ8_0, 128, false, false>,
      .q5_1 = gemm_int<expand_small<BlockQ5_1, block_codes>, BlockQ8_0, 0, false, true>,
      .iq4_nl = gemm_int<expand_small<BlockIQ4NL, block_codes>, BlockQ8_0, 128, false, false>,
  };
  return t;
}

}  // namespace r1
