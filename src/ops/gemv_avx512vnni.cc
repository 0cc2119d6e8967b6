// One-token (decode) kernels on AVX-512 VNNI: y[r] = (row r of W) · a, row after row, so the
// weights are read as one forward stream (which the hardware prefetcher follows) and every
// activation-side quantity is computed once per call instead of once per row.
//
// Decode reads each weight byte once, so the aim is few instructions per weight byte; the tile
// kernels (gemm_avx512vnni.cc) spend ~0.5 µop per byte on decoding fp16 scales and joining
// half-vectors, which made 1-token Q4_0 compute-bound at about half the memory bandwidth.
// Here, per group of blocks:
//   - the fp16 block scales of several blocks are picked out of the raw bytes with one word
//     permute (vpermt2w) and converted with one vcvtph2ps, then spread to their lanes (vpermps);
//   - the activation is pre-arranged once (prepare_*) so the weight bytes are used as loaded:
//     Q4_0: a group of 4 blocks = 4×16 code bytes; low nibbles (elements 0..15 of each block) meet
//     a vector of those blocks' activations 0..15, high nibbles (16..31) another;
//   - signs: vpdpbusd wants unsigned × signed bytes. Q4_0 codes q = w + 8 are unsigned, so the
//     accumulator starts at −8·Σa per lane; Q8_0 weights are made unsigned (w ^ 0x80 = w + 128)
//     and the accumulator starts at −128·Σa. Both offsets depend only on the activation, so they
//     are precomputed per call, not per row;
//   - the activation's block scales are stored per lane as float, one multiply per group.
// Integer sums per block are exact; only the float summation order differs from the dot products.
#include <immintrin.h>

#include <array>
#include <cstring>
#include <type_traits>
#include <vector>

#include "ops/avx2_kquant.h"
#include "ops/avx2_util.h"
#include "ops/blocks.h"
#include "ops/convert.h"
#include "ops/gemm_tile.h"
#include "ops/prefetch.h"
#include "ops/vec_dot.h"

namespace r1 {
namespace {

inline float fp16_to_f32_fast(uint16_t h) { return _cvtsh_ss(h); }

// The float kernels' prefetch: this far ahead, with the CPU's hint (see gemv_float, ops/prefetch.h);
// the others prefetch into L1 kGemvPrefetchBytes ahead (gemm_tile.h).
constexpr size_t kFloatPrefetchBytes = 4096;
template <size_t kStepBytes>
inline void prefetch_ahead(const uint8_t* p) {
  prefetch_stream(p + kGemvPrefetchBytes, kStepBytes, StreamPrefetch::kL1);
}

// Per-call scratch for the prepared activation; grows to the largest K seen, never shrinks.
uint8_t* scratch(size_t bytes) {
  thread_local std::vector<uint8_t> buf;
  if (buf.size() < bytes + 64) buf.resize(bytes + 64);
  const uintptr_t p = reinterpret_cast<uintptr_t>(buf.data());
  return reinterpret_cast<uint8_t*>((p + 63) & ~uintptr_t{63});  // 64-byte aligned
}

// Prepared activation for one group of 4 blocks (128 elements): 4 × 64 bytes.
struct alignas(64) GroupQ4 {
  int8_t lo[64];     // block j's elements 0..15 at bytes 16j..16j+15
  int8_t hi[64];     // block j's elements 16..31
  int32_t bias[16];  // −8 · Σ of the 8 activation bytes that meet lane l
  float da[16];      // lane l: scale of block l / 4
};
static_assert(sizeof(GroupQ4) == 256);

// Prepared activation for one group of 2 blocks (64 elements): 3 × 64 bytes.
struct alignas(64) GroupQ8 {
  int8_t qs[64];     // blocks' codes as stored
  int32_t bias[16];  // −128 · Σ of the 4 activation bytes of lane l
  float da[16];      // lanes 0..7: block 0's scale, 8..15: block 1's
};
static_assert(sizeof(GroupQ8) == 192);

// offset: the bias is −offset·Σa (8 for Q4_0's codes q = w + 8). sums, if not null, gets per lane
// da·Σa of the lane's block / 4 (16 floats per group): the offsets m of Q4_1 / Q5_1 multiply it.
// Vector code: every gemv call prepares its activation (per thread, per matrix, per expert), and
// the scalar loops with a call per fp16 scale took ~2 µs per call at k = 1536.
void prepare_q4(const BlockQ8_0* a, int64_t nb, GroupQ4* g, int offset = 8, float* sums = nullptr) {
  const __m512i ones = _mm512_set1_epi8(1), neg_offset = _mm512_set1_epi32(-offset);
  const __m512i spread = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  for (int64_t i = 0; i < nb; i += 4, ++g) {
    __m256i q[4];
    for (int j = 0; j < 4; ++j) q[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i + j].qs));
    // Lane positions are immediates (a loop index is not one in unoptimized or sanitizer builds).
    __m512i lo = _mm512_castsi128_si512(_mm256_castsi256_si128(q[0]));
    __m512i hi = _mm512_castsi128_si512(_mm256_extracti128_si256(q[0], 1));
    lo = _mm512_inserti32x4(lo, _mm256_castsi256_si128(q[1]), 1);
    hi = _mm512_inserti32x4(hi, _mm256_extracti128_si256(q[1], 1), 1);
    lo = _mm512_inserti32x4(lo, _mm256_castsi256_si128(q[2]), 2);
    hi = _mm512_inserti32x4(hi, _mm256_extracti128_si256(q[2], 1), 2);
    lo = _mm512_inserti32x4(lo, _mm256_castsi256_si128(q[3]), 3);
    hi = _mm512_inserti32x4(hi, _mm256_extracti128_si256(q[3], 1), 3);
    _mm512_store_si512(g->lo, lo);
    _mm512_store_si512(g->hi, hi);
    // Lane l: the sum of the 8 signed activation bytes that meet it (1 × each byte, 4 at a time).
    const __m512i lane_sum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, lo), ones, hi);
    _mm512_store_si512(g->bias, _mm512_mullo_epi32(lane_sum, neg_offset));
    const __m128 d4 = _mm_set_ps(fp16_to_f32_fast(a[i + 3].d), fp16_to_f32_fast(a[i + 2].d),
                                 fp16_to_f32_fast(a[i + 1].d), fp16_to_f32_fast(a[i].d));
    const __m512 da = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(d4));
    _mm512_store_ps(g->da, da);
    if (sums != nullptr) {
      alignas(64) int32_t ls[16];
      _mm512_store_si512(ls, lane_sum);
      for (int l = 0; l < 16; ++l, ++sums) {
        const int b = l / 4 * 4;
        *sums = g->da[l] * static_cast<float>(ls[b] + ls[b + 1] + ls[b + 2] + ls[b + 3]) / 4;
      }
    }
  }
}

void prepare_q8(const BlockQ8_0* a, int64_t nb, GroupQ8* g) {
  const __m512i ones = _mm512_set1_epi8(1);
  for (int64_t i = 0; i < nb; i += 2, ++g) {
    __m512i q = _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].qs)));
    q = _mm512_inserti64x4(q, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i + 1].qs)), 1);
    _mm512_store_si512(g->qs, q);
    const __m512i lane_sum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, q);  // Σ of lane l's 4 bytes
    _mm512_store_si512(g->bias, _mm512_mullo_epi32(lane_sum, _mm512_set1_epi32(-128)));
    _mm512_store_ps(g->da, _mm512_mask_blend_ps(0xFF00, _mm512_set1_ps(fp16_to_f32_fast(a[i].d)),
                                                _mm512_set1_ps(fp16_to_f32_fast(a[i + 1].d))));
  }
}

// The fp16 scales of blocks at byte offsets stride·j (j < n) from p, converted to float:
// the words at 2-byte indices (stride/2)·j of the first 128 bytes, one permute.
// kFirst64: the blocks' scales lie in the first 64 bytes and no more may be read (a row's last group).
template <int kStrideWords, bool kFirst64 = false>
__m512 block_scales(const uint8_t* p) {
  const __m512i v0 = _mm512_loadu_si512(p), v1 = kFirst64 ? v0 : _mm512_loadu_si512(p + 64);
  const __m512i idx = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                       7 * kStrideWords, 6 * kStrideWords, 5 * kStrideWords, 4 * kStrideWords,
                                       3 * kStrideWords, 2 * kStrideWords, kStrideWords, 0);
  const __m512i words = _mm512_permutex2var_epi16(v0, idx, v1);
  return _mm512_cvtph_ps(_mm512_castsi512_si256(words));  // lanes 0..7 (or 0..3) valid
}

// The integer sums of one group of 4 Q4_0 blocks at p (codes at p + 2 + 18j) against the group's
// prepared activation, lane l = 4 codes of block l / 4.
inline __m512i q4_group_sums(const uint8_t* p, const GroupQ4& g, __m512i low4) {
  __m512i q = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2)));
  q = _mm512_inserti32x4(q, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 20)), 1);
  q = _mm512_inserti32x4(q, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 38)), 2);
  q = _mm512_inserti32x4(q, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 56)), 3);
  __m512i s = _mm512_load_si512(g.bias);
  s = _mm512_dpbusd_epi32(s, _mm512_and_si512(q, low4), _mm512_load_si512(g.lo));
  return _mm512_dpbusd_epi32(s, _mm512_and_si512(_mm512_srli_epi16(q, 4), low4), _mm512_load_si512(g.hi));
}

// The same for one group of 2 Q8_0 blocks at p (codes at p + 2 + 34j), weights made unsigned.
inline __m512i q8_group_sums(const uint8_t* p, const GroupQ8& g, __m512i flip) {
  __m512i q = _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2)));
  q = _mm512_inserti64x4(q, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 36)), 1);
  return _mm512_dpbusd_epi32(_mm512_load_si512(g.bias), _mm512_xor_si512(q, flip), _mm512_load_si512(g.qs));
}

// Q4_0 rows: 8 blocks (144 bytes) per step, two groups of 4 blocks.
void gemv_q4_0(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, float* y) {
  const int64_t nb = k / kQK;
  GroupQ4* g = reinterpret_cast<GroupQ4*>(scratch(sizeof(GroupQ4) * static_cast<size_t>(nb / 4)));
  prepare_q4(static_cast<const BlockQ8_0*>(a), nb, g);
  const __m512i low4 = _mm512_set1_epi8(0xF);
  // Lane l of a 4-block group belongs to block l / 4 (of the group's 4 scales at 0..3 or 4..7).
  const __m512i spread0 = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  const __m512i spread1 = _mm512_add_epi32(spread0, _mm512_set1_epi32(4));
  for (int64_t r = 0; r < n_rows; ++r) {
    const uint8_t* row = static_cast<const uint8_t*>(w) + static_cast<size_t>(r) * w_stride;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    for (int64_t i = 0; i + 8 <= nb; i += 8) {
      const uint8_t* p = row + static_cast<size_t>(i) * sizeof(BlockQ4_0);
      prefetch_ahead<8 * sizeof(BlockQ4_0)>(p);
      const __m512 dw = block_scales<sizeof(BlockQ4_0) / 2>(p);
      const GroupQ4& g0 = g[i / 4];
      const GroupQ4& g1 = g[i / 4 + 1];
      const __m512i s0 = q4_group_sums(p, g0, low4), s1 = q4_group_sums(p + 4 * sizeof(BlockQ4_0), g1, low4);
      const __m512 d0 = _mm512_mul_ps(_mm512_permutexvar_ps(spread0, dw), _mm512_load_ps(g0.da));
      const __m512 d1 = _mm512_mul_ps(_mm512_permutexvar_ps(spread1, dw), _mm512_load_ps(g1.da));
      acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0), d0, acc0);
      acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1), d1, acc1);
    }
    if (nb % 8 != 0) {  // a last group of 4 blocks (k = 128 mod 256, e.g. V2-Lite's 1408-wide experts)
      const uint8_t* p = row + static_cast<size_t>(nb - 4) * sizeof(BlockQ4_0);
      const __m512 dw = block_scales<sizeof(BlockQ4_0) / 2, true>(p);
      const GroupQ4& g0 = g[nb / 4 - 1];
      const __m512i s0 = q4_group_sums(p, g0, low4);
      const __m512 d0 = _mm512_mul_ps(_mm512_permutexvar_ps(spread0, dw), _mm512_load_ps(g0.da));
      acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0), d0, acc0);
    }
    y[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  }
}

// ---- Q4_1 / Q5_0 / Q5_1 / IQ4_NL: Q4_0's groups of 4 blocks ----
//
// A group's nibbles meet the prepared activation exactly as Q4_0's do (prepare_q4), with the codes
// made unsigned per format: IQ4_NL's nibbles index its table shifted by +128 (one vpshufb); Q5_0 /
// Q5_1 take their fifth bits through a byte mask (bit i of block j's qh → byte 16j + i); the bias is
// −offset·Σa (offset 128 for IQ4_NL, 16 for Q5_0, 0 for the unsigned Q4_1 / Q5_1 codes), and Q4_1 /
// Q5_1 add m·da·Σa per block from the prepared sums. One word permute over the group's bytes picks
// the 4 scales d, the qh halves (the two 64-bit byte masks as they stand) and the offsets m.
// A row's last k mod 128 elements go through the AVX2 dot product.
template <typename Block>
struct SmallLayout {
  static constexpr int kStride = sizeof(Block) / 2;  // words per block
  static constexpr bool kFifth = requires(const Block& b) { b.qh; };
  static constexpr bool kOffsets = requires(const Block& b) { b.m; };
  static constexpr int kQh = kOffsets ? 2 : 1;  // word of qh's low half (after d, and m)
  // The group's bytes come as two vectors: bytes 0..63, and the group's last 32 bytes (from byte
  // kTail on, zero-extended): full loads within the group, no masked load.
  static constexpr int kTail = 4 * static_cast<int>(sizeof(Block)) - 32;
  static_assert(kTail >= 32 && kTail % 2 == 0);
  // The permute index of the group's word w.
  static constexpr int16_t at(int w) { return static_cast<int16_t>(w < 32 ? w : 32 + w - kTail / 2); }
  // Result words 0..3: d of blocks 0..3; 4..7: qh low halves; 8..11: qh high halves; 12..15: m.
  static constexpr std::array<int16_t, 32> indices() {
    std::array<int16_t, 32> idx{};
    for (int j = 0; j < 4; ++j) {
      idx[j] = at(kStride * j);
      idx[4 + j] = kFifth ? at(kStride * j + kQh) : 0;
      idx[8 + j] = kFifth ? at(kStride * j + kQh + 1) : 0;
      idx[12 + j] = kOffsets ? at(kStride * j + 1) : 0;
    }
    return idx;
  }
};

// IQ4_NL's table + 128: the codes vpdpbusd takes as unsigned.
constexpr std::array<uint8_t, 16> kIQ4NLUnsigned = [] {
  std::array<uint8_t, 16> t{};
  for (int i = 0; i < 16; ++i) t[static_cast<size_t>(i)] = static_cast<uint8_t>(kIQ4NLValues[i] + 128);
  return t;
}();

template <typename Block>
void gemv_small(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, float* y) {
  using L = SmallLayout<Block>;
  constexpr bool kIQ4 = std::is_same_v<Block, BlockIQ4NL>;
  constexpr int kCodeOffset = kIQ4 ? 128 : std::is_same_v<Block, BlockQ5_0> ? 16 : 0;
  constexpr size_t kGroupBytes = 4 * sizeof(Block);  // 72..96
  static_assert(kGroupBytes > 64 && kGroupBytes <= 128);
  static constexpr std::array<int16_t, 32> kIdx = L::indices();
  const int64_t nb = k / kQK, n_groups = nb / 4;
  const size_t group_bytes = sizeof(GroupQ4) * static_cast<size_t>(n_groups);
  uint8_t* buf = scratch(group_bytes + (L::kOffsets ? 64 * static_cast<size_t>(n_groups) : 0));
  GroupQ4* g = reinterpret_cast<GroupQ4*>(buf);
  float* sums = L::kOffsets ? reinterpret_cast<float*>(buf + group_bytes) : nullptr;
  const BlockQ8_0* act = static_cast<const BlockQ8_0*>(a);
  prepare_q4(act, 4 * n_groups, g, kCodeOffset, sums);
  const VecDotFn tail = vec_dot_for(vec_dot_avx2(), kIQ4 ? DType::IQ4_NL
                                                    : std::is_same_v<Block, BlockQ5_0> ? DType::Q5_0
                                                    : std::is_same_v<Block, BlockQ5_1> ? DType::Q5_1
                                                                                       : DType::Q4_1);
  const __m512i low4 = _mm512_set1_epi8(0xF), bit4 = _mm512_set1_epi8(0x10);
  const __m512i lut = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4NLUnsigned.data())));
  const __m512i spread = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
  const __m512i idx = _mm512_loadu_si512(kIdx.data());
  for (int64_t r = 0; r < n_rows; ++r) {
    const uint8_t* row = static_cast<const uint8_t*>(w) + static_cast<size_t>(r) * w_stride;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    for (int64_t i = 0; i < n_groups; ++i) {
      const uint8_t* p = row + static_cast<size_t>(i) * kGroupBytes;
      const Block* b = reinterpret_cast<const Block*>(p);
      prefetch_ahead<kGroupBytes>(p);
      const __m512i words =
          _mm512_permutex2var_epi16(_mm512_loadu_si512(p), idx,
                                    _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + L::kTail))));
      const __m128i w0 = _mm512_castsi512_si128(words), w1 = _mm512_extracti32x4_epi32(words, 1);
      __m512i q = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b[0].qs)));
      q = _mm512_inserti32x4(q, _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[1].qs)), 1);
      q = _mm512_inserti32x4(q, _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[2].qs)), 2);
      q = _mm512_inserti32x4(q, _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[3].qs)), 3);
      __m512i lo = _mm512_and_si512(q, low4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
      if constexpr (L::kFifth) {
        lo = _mm512_or_si512(lo, _mm512_maskz_mov_epi8(static_cast<__mmask64>(_mm_extract_epi64(w0, 1)), bit4));
        hi = _mm512_or_si512(hi, _mm512_maskz_mov_epi8(static_cast<__mmask64>(_mm_cvtsi128_si64(w1)), bit4));
      }
      if constexpr (kIQ4) lo = _mm512_shuffle_epi8(lut, lo), hi = _mm512_shuffle_epi8(lut, hi);
      const GroupQ4& gi = g[i];
      __m512i s = _mm512_dpbusd_epi32(_mm512_load_si512(gi.bias), lo, _mm512_load_si512(gi.lo));
      s = _mm512_dpbusd_epi32(s, hi, _mm512_load_si512(gi.hi));
      const __m512 dw = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(_mm_cvtph_ps(w0)));
      acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_load_ps(gi.da)), acc0);
      if constexpr (L::kOffsets) {
        const __m512 mw = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(_mm_cvtph_ps(_mm_srli_si128(w1, 8))));
        acc1 = _mm512_fmadd_ps(mw, _mm512_loadu_ps(sums + 16 * i), acc1);
      }
    }
    float s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    if (nb % 4 != 0) s += tail((nb % 4) * kQK, row + static_cast<size_t>(n_groups) * kGroupBytes, act + 4 * n_groups);
    y[r] = s;
  }
}

// Q8_0 rows: 4 blocks (136 bytes) per step, two groups of 2 blocks.
void gemv_q8_0(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, float* y) {
  const int64_t nb = k / kQK;
  GroupQ8* g = reinterpret_cast<GroupQ8*>(scratch(sizeof(GroupQ8) * static_cast<size_t>(nb / 2)));
  prepare_q8(static_cast<const BlockQ8_0*>(a), nb, g);
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m512i spread0 = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m512i spread1 = _mm512_add_epi32(spread0, _mm512_set1_epi32(2));
  for (int64_t r = 0; r < n_rows; ++r) {
    const uint8_t* row = static_cast<const uint8_t*>(w) + static_cast<size_t>(r) * w_stride;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    for (int64_t i = 0; i + 4 <= nb; i += 4) {
      const uint8_t* p = row + static_cast<size_t>(i) * sizeof(BlockQ8_0);
      prefetch_ahead<4 * sizeof(BlockQ8_0)>(p);
      const __m512 dw = block_scales<sizeof(BlockQ8_0) / 2>(p);
      const GroupQ8& g0 = g[i / 2];
      const GroupQ8& g1 = g[i / 2 + 1];
      const __m512i s0 = q8_group_sums(p, g0, flip), s1 = q8_group_sums(p + 2 * sizeof(BlockQ8_0), g1, flip);
      const __m512 d0 = _mm512_mul_ps(_mm512_permutexvar_ps(spread0, dw), _mm512_load_ps(g0.da));
      const __m512 d1 = _mm512_mul_ps(_mm512_permutexvar_ps(spread1, dw), _mm512_load_ps(g1.da));
      acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0), d0, acc0);
      acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1), d1, acc1);
    }
    if (nb % 4 != 0) {  // a last group of 2 blocks (k = 64 mod 128)
      const uint8_t* p = row + static_cast<size_t>(nb - 2) * sizeof(BlockQ8_0);
      const __m512 dw = block_scales<sizeof(BlockQ8_0) / 2, true>(p);
      const GroupQ8& g0 = g[nb / 2 - 1];
      const __m512i s0 = q8_group_sums(p, g0, flip);
      const __m512 d0 = _mm512_mul_ps(_mm512_permutexvar_ps(spread0, dw), _mm512_load_ps(g0.da));
      acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0), d0, acc0);
    }
    y[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  }
}

// ---- K-quants (Q8_K activations, super-blocks of 256) ----
//
// The 6-bit sub-block scales multiply int16 pair sums inside the integer accumulator with
// vpdpwssd (int16 × int16 pairs into int32), after vpmaddubsw (unsigned codes × signed
// activations, pairs into int16; |sum| ≤ 2·63·128, no saturation). One float multiply per
// super-block and row remains.

// Prepared Q8_K super-block for Q4_K / Q5_K. Weight codes come as 4 × 64 bytes: the low and high
// nibbles of qs[0..63] are sub-blocks (0 | 2) and (1 | 3), those of qs[64..127] (4 | 6) and
// (5 | 7); the activation is rearranged into that order once per call.
struct alignas(64) SuperQ4K {
  int8_t q[4][64];
  int16_t bsum_pairs[8];  // Σ of sub-block j's 32 activations
  float d;
  int32_t pad[11];
};
static_assert(sizeof(SuperQ4K) == 320);

void prepare_q4k(const BlockQ8K* a, int64_t nb, SuperQ4K* g) {
  static constexpr int kSub[4][2] = {{0, 2}, {1, 3}, {4, 6}, {5, 7}};
  for (int64_t i = 0; i < nb; ++i, ++g) {
    for (int v = 0; v < 4; ++v)
      for (int h = 0; h < 2; ++h) std::memcpy(g->q[v] + 32 * h, a[i].qs + 32 * kSub[v][h], 32);
    for (int j = 0; j < 8; ++j) g->bsum_pairs[j] = static_cast<int16_t>(a[i].bsums[2 * j] + a[i].bsums[2 * j + 1]);
    g->d = a[i].d;
  }
}

// Word index patterns: vector v's int16 lanes 0..15 take sub-block kSub[v][0]'s scale, 16..31 kSub[v][1]'s.
__m512i halves(int a, int b) {
  return _mm512_inserti64x4(_mm512_set1_epi16(static_cast<int16_t>(a)), _mm256_set1_epi16(static_cast<int16_t>(b)), 1);
}

// T tokens (activation rows a_stride bytes apart, token t's products at y + t·ldy) in one pass over
// the rows, as q6_k_rows below.
template <bool kFiveBit, int T>
void qk_rows(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride, float* y,
             int64_t ldy) {
  using Block = std::conditional_t<kFiveBit, BlockQ5K, BlockQ4K>;
  const int64_t nb = k / kQKK;
  SuperQ4K* g = reinterpret_cast<SuperQ4K*>(scratch(sizeof(SuperQ4K) * static_cast<size_t>(T * nb)));
  for (int t = 0; t < T; ++t)
    prepare_q4k(reinterpret_cast<const BlockQ8K*>(static_cast<const uint8_t*>(a) + t * a_stride), nb, g + t * nb);
  const __m512i low4 = _mm512_set1_epi8(0xF), sixteen = _mm512_set1_epi8(16);
  const __m512i idx[4] = {halves(0, 2), halves(1, 3), halves(4, 6), halves(5, 7)};
  // Q5_K: bit j of qh[l] is the fifth bit of sub-block j's element l.
  const __m512i bit[4] = {halves(0x0101, 0x0404), halves(0x0202, 0x0808), halves(0x1010, 0x4040),
                          halves(0x2020, 0x8080)};
  for (int64_t r = 0; r < n_rows; ++r) {
    const Block* x = reinterpret_cast<const Block*>(static_cast<const uint8_t*>(w) + static_cast<size_t>(r) * w_stride);
    __m512 acc[T];
    __m128 acc_min[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps(), acc_min[t] = _mm_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
      prefetch_ahead<sizeof(Block)>(reinterpret_cast<const uint8_t*>(x + i));
      const __m256i scales_mins = q4k_scales_mins(x[i].scales);  // vector code: scalar took a third of the loop
      const __m512i sc16 = _mm512_castsi256_si512(scales_mins);    // words 0..7: the scales
      const __m128i m16 = _mm256_extracti128_si256(scales_mins, 1);
      const __m512i v0 = _mm512_loadu_si512(x[i].qs), v1 = _mm512_loadu_si512(x[i].qs + 64);
      __m512i q[4] = {_mm512_and_si512(v0, low4), _mm512_and_si512(_mm512_srli_epi16(v0, 4), low4),
                      _mm512_and_si512(v1, low4), _mm512_and_si512(_mm512_srli_epi16(v1, 4), low4)};
      if constexpr (kFiveBit) {
        const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qh)));
        for (int v = 0; v < 4; ++v) q[v] = _mm512_mask_add_epi8(q[v], _mm512_test_epi8_mask(qh, bit[v]), q[v], sixteen);
      }
      __m512i scale[4];
      for (int v = 0; v < 4; ++v) scale[v] = _mm512_permutexvar_epi16(idx[v], sc16);
      const __m128 d_dmin_w = _mm_cvtph_ps(_mm_loadu_si32(&x[i].d));
      for (int t = 0; t < T; ++t) {
        const SuperQ4K& ga = g[t * nb + i];
        // Two partial sums: two chains of two vpdpwssd instead of one of four.
        __m512i sum[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
        for (int v = 0; v < 4; ++v)
          sum[v & 1] = _mm512_dpwssd_epi32(sum[v & 1], _mm512_maddubs_epi16(q[v], _mm512_load_si512(ga.q[v])), scale[v]);
        const __m128i mins = _mm_madd_epi16(m16, _mm_load_si128(reinterpret_cast<const __m128i*>(ga.bsum_pairs)));
        const __m128 d_dmin = _mm_mul_ps(d_dmin_w, _mm_set1_ps(ga.d));  // lanes 0, 1: d·da, dmin·da
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(sum[0], sum[1])), _mm512_broadcastss_ps(d_dmin), acc[t]);
        acc_min[t] = _mm_fmadd_ps(_mm_cvtepi32_ps(mins), _mm_permute_ps(d_dmin, 0x55), acc_min[t]);
      }
    }
    for (int t = 0; t < T; ++t) {
      __m128 m = _mm_add_ps(acc_min[t], _mm_movehl_ps(acc_min[t], acc_min[t]));
      m = _mm_add_ss(m, _mm_movehdup_ps(m));
      y[t * ldy + r] = _mm512_reduce_add_ps(acc[t]) - _mm_cvtss_f32(m);
    }
  }
}

template <bool kFiveBit>
void gemv_qk(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, float* y) {
  qk_rows<kFiveBit, 1>(k, w, w_stride, n_rows, a, 0, y, 0);
}

// Q6_K: the activation is used as stored. Per half h (128 elements), ql[64h..64h+63] as one
// vector gives elements 0..63 in its low nibbles and 64..127 in its high nibbles, in order; the
// two top bits come from qh[32h..32h+31] (bits 0-1 | 2-3 for the low nibbles, 4-5 | 6-7 for the
// high). The −32 offset is folded into the same accumulator: Σ_j (−32·sc_j)·bsum_j.
// T tokens (activation rows a_stride bytes apart, token t's products at y + t·ldy) in one pass over
// the rows: a block's codes and scales are unpacked once for all of them, and each token's products
// are made in the order of the one-token case, so they are its results bit for bit.
template <int T>
void q6_k_rows(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride, float* y,
               int64_t ldy) {
  const BlockQ8K* ya[T];
  for (int t = 0; t < T; ++t) ya[t] = reinterpret_cast<const BlockQ8K*>(static_cast<const uint8_t*>(a) + t * a_stride);
  const int64_t nb = k / kQKK;
  const __m512i low4 = _mm512_set1_epi8(0xF), top2 = _mm512_set1_epi8(0x30);
  const __m512i shl_lo = halves(4, 2), shr_hi = halves(0, 2);
  // Word w of vector (h, p) holds elements 128h + 64p + 2w, +1: scale 8h + 4p + w / 8.
  __m512i idx[4];
  for (int v = 0; v < 4; ++v) {
    alignas(64) int16_t t[32];
    for (int wd = 0; wd < 32; ++wd) t[wd] = static_cast<int16_t>(4 * v + wd / 8);
    idx[v] = _mm512_load_si512(t);
  }
  for (int64_t r = 0; r < n_rows; ++r) {
    const BlockQ6K* x =
        reinterpret_cast<const BlockQ6K*>(static_cast<const uint8_t*>(w) + static_cast<size_t>(r) * w_stride);
    __m512 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
      prefetch_ahead<sizeof(BlockQ6K)>(reinterpret_cast<const uint8_t*>(x + i));
      const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].scales)));
      const __m512i sc16 = _mm512_castsi256_si512(sc);
      const __m256i off = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(sc, 5));  // −32·sc
      __m512i q[4], scale[4];
      for (int h = 0; h < 2; ++h) {
        const __m512i l = _mm512_loadu_si512(x[i].ql + 64 * h);
        const __m512i qh =
            _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].qh + 32 * h)));
        q[2 * h] = _mm512_or_si512(_mm512_and_si512(l, low4), _mm512_and_si512(_mm512_sllv_epi16(qh, shl_lo), top2));
        q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), low4),
                                       _mm512_and_si512(_mm512_srlv_epi16(qh, shr_hi), top2));
      }
      for (int v = 0; v < 4; ++v) scale[v] = _mm512_permutexvar_epi16(idx[v], sc16);
      const float d = fp16_to_f32_fast(x[i].d);
      for (int t = 0; t < T; ++t) {
        const BlockQ8K& yb = ya[t][i];
        __m512i sum = _mm512_zextsi256_si512(_mm256_madd_epi16(off, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(yb.bsums))));
        for (int v = 0; v < 4; ++v)
          sum = _mm512_dpwssd_epi32(sum, _mm512_maddubs_epi16(q[v], _mm512_loadu_si512(yb.qs + 64 * v)), scale[v]);
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_set1_ps(d * yb.d), acc[t]);
      }
    }
    for (int t = 0; t < T; ++t) y[t * ldy + r] = _mm512_reduce_add_ps(acc[t]);
  }
}

void gemv_q6_k(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, float* y) {
  q6_k_rows<1>(k, w, w_stride, n_rows, a, 0, y, 0);
}

// ---- F16 / BF16 / F32 rows, float32 activations ----
// Memory bound. Rows are read one at a time, 64 elements (128 bytes) per step in 4 accumulators,
// prefetched 4 KiB ahead with the CPU's hint (ops/prefetch.h; on AMD Zen 5, non-temporal: Qwen-1.5B
// tg64 F16 1.08x and BF16 1.06x over 16 KiB into L1, medians of 5 alternating rounds, per round 0.88-1.21).
// A long row's float32 activation (35 KiB at k = 8960, of a 48 KiB L1) is read again for every row,
// against the weight stream. From kFloatStreamsMinK on, rows are read kFloatStreams side by side, 32
// elements of each per step, so that each activation load serves 8 rows, and each row is prefetched
// (the same hint) kFloatRowsPrefetchBytes ahead, past its end into the same row of the next group.
// Two threads, rows from huge pages, the two kernels alternated call by call (medians of 200-1000
// calls, BF16 and F16, several runs): 8 rows / one row = 1.04-1.16 at k = 8960, 1.13-1.21 at 14336,
// 1.05-1.12 at 6144 and 8192, 0.91-1.11 at 4096, 0.83-0.89 at k <= 3072. Short rows keep the one-row
// kernel above: float_rows<1> there (2 accumulators, 1 KiB ahead) put Qwen-1.5B F16 decode at 0.95x
// (token by token in one process, against this file's choice at 1.00).
constexpr int kFloatStreams = 8;
constexpr int64_t kFloatStreamsMinK = 4096;
constexpr size_t kFloatRowsPrefetchBytes = 1024;

__m512 load16_f16(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
__m512 load16_bf16(const uint16_t* p) {
  return _mm512_castsi512_ps(
      _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))), 16));
}

__m512 load16_f32(const float* p) { return _mm512_loadu_ps(p); }

// Long rows: R rows at `w`, `stride` bytes apart, against T tokens (x: token t's activation at
// x + t·x_stride) into y[t·ldy + j], j < R. Every row's sum is formed the same way for any R and T, so
// a row's result does not depend on how the rows were grouped or split over threads, or on the other tokens.
template <int R, int T, typename Elem, __m512 (*Load16)(const Elem*)>
void float_rows(int64_t k, const uint8_t* w, size_t stride, const float* x, int64_t x_stride, float* y, int64_t ldy) {
  __m512 acc[R][T][2];
  for (int j = 0; j < R; ++j)
    for (int t = 0; t < T; ++t) acc[j][t][0] = acc[j][t][1] = _mm512_setzero_ps();
  const size_t row_bytes = static_cast<size_t>(k) * sizeof(Elem);
  int64_t i = 0;
  const StreamPrefetch hint = stream_prefetch();
  for (; i + 32 <= k; i += 32) {
    const size_t off = static_cast<size_t>(i) * sizeof(Elem);
    const size_t ahead = off + kFloatRowsPrefetchBytes < row_bytes ? kFloatRowsPrefetchBytes
                                                                   : kFloatRowsPrefetchBytes + R * stride - row_bytes;
    __m512 x0[T], x1[T];
    for (int t = 0; t < T; ++t) {
      x0[t] = _mm512_loadu_ps(x + t * x_stride + i);
      x1[t] = _mm512_loadu_ps(x + t * x_stride + i + 16);
    }
    for (int j = 0; j < R; ++j) {
      const uint8_t* p = w + j * stride + off;
      const Elem* e = reinterpret_cast<const Elem*>(p);
      prefetch_stream_line(p + ahead, hint);
      const __m512 w0 = Load16(e), w1 = Load16(e + 16);
      for (int t = 0; t < T; ++t) {
        acc[j][t][0] = _mm512_fmadd_ps(w0, x0[t], acc[j][t][0]);
        acc[j][t][1] = _mm512_fmadd_ps(w1, x1[t], acc[j][t][1]);
      }
    }
  }
  if (i < k)  // k = 16 mod 32
    for (int j = 0; j < R; ++j) {
      const __m512 w0 = Load16(reinterpret_cast<const Elem*>(w + j * stride) + i);
      for (int t = 0; t < T; ++t) acc[j][t][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + t * x_stride + i), acc[j][t][0]);
    }
  for (int j = 0; j < R; ++j)
    for (int t = 0; t < T; ++t) y[t * ldy + j] = _mm512_reduce_add_ps(_mm512_add_ps(acc[j][t][0], acc[j][t][1]));
}

// Rows of any length against T tokens (activation rows a_stride bytes apart; token t's products at
// y + t·ldy): long rows kFloatStreams side by side for one token, fewer the more tokens there are
// (the accumulators stay in registers); short rows one at a time, 64 elements a step in 4 accumulators.
template <int T, typename Elem, __m512 (*Load16)(const Elem*)>
void float_tokens(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride, float* y,
                  int64_t ldy) {
  const float* x = static_cast<const float*>(a);
  const int64_t xs = static_cast<int64_t>(a_stride / sizeof(float));
  const uint8_t* base = static_cast<const uint8_t*>(w);
  if (k >= kFloatStreamsMinK) {
    constexpr int R = T == 1 ? kFloatStreams : T == 2 ? 4 : 2;
    int64_t r = 0;
    for (; r + R <= n_rows; r += R)
      float_rows<R, T, Elem, Load16>(k, base + static_cast<size_t>(r) * w_stride, w_stride, x, xs, y + r, ldy);
    for (; r < n_rows; ++r) float_rows<1, T, Elem, Load16>(k, base + static_cast<size_t>(r) * w_stride, w_stride, x, xs, y + r, ldy);
    return;
  }
  const StreamPrefetch hint = stream_prefetch();
  for (int64_t r = 0; r < n_rows; ++r) {
    const Elem* row = reinterpret_cast<const Elem*>(base + static_cast<size_t>(r) * w_stride);
    __m512 acc[T][4];
    for (int t = 0; t < T; ++t) acc[t][0] = acc[t][1] = acc[t][2] = acc[t][3] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= k; i += 64) {
      prefetch_stream(reinterpret_cast<const uint8_t*>(row + i) + kFloatPrefetchBytes, 64 * sizeof(Elem), hint);
      for (int u = 0; u < 4; ++u) {
        const __m512 wu = Load16(row + i + 16 * u);
        for (int t = 0; t < T; ++t) acc[t][u] = _mm512_fmadd_ps(wu, _mm512_loadu_ps(x + t * xs + i + 16 * u), acc[t][u]);
      }
    }
    for (; i < k; i += 16) {
      const __m512 wi = Load16(row + i);
      for (int t = 0; t < T; ++t) acc[t][0] = _mm512_fmadd_ps(wi, _mm512_loadu_ps(x + t * xs + i), acc[t][0]);
    }
    for (int t = 0; t < T; ++t)
      y[t * ldy + r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[t][0], acc[t][1]), _mm512_add_ps(acc[t][2], acc[t][3])));
  }
}

template <typename Elem, __m512 (*Load16)(const Elem*)>
void gemv_float(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, float* y) {
  float_tokens<1, Elem, Load16>(k, w, w_stride, n_rows, a, 0, y, 0);
}

template <typename Elem, __m512 (*Load16)(const Elem*)>
void float_few_tokens(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
                      int64_t n_tok, float* y, int64_t ldy) {
  by_token_count<float_tokens<1, Elem, Load16>, float_tokens<2, Elem, Load16>, float_tokens<3, Elem, Load16>,
                 float_tokens<4, Elem, Load16>>(k, w, w_stride, n_rows, a, a_stride, n_tok, y, ldy);
}

// F8_E4M3 rows (DeepSeek's FP8 weights; their block scales are on the activations, model/deepseek_linear.cc):
// the layout of gemv_float with 64 codes per step, converted 32 at a time on 512-bit lanes to their
// values / 2^8 (f8_to_f16_over_256), and the 2^8 once per row. With a table gather per 16 codes this
// read ~4 GB/s on two threads (BM_gemv_cold).
void gemv_f8(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, float* y) {
  const float* x = static_cast<const float*>(a);
  for (int64_t r = 0; r < n_rows; ++r) {
    const uint8_t* row = static_cast<const uint8_t*>(w) + static_cast<size_t>(r) * w_stride;
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    int64_t i = 0;
    for (; i + 64 <= k; i += 64) {
      prefetch_ahead<64>(row + i);
      for (int h = 0; h < 2; ++h) {
        const __m512i f16 = f8_to_f16_over_256(_mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + i + 32 * h))));
        acc[2 * h] = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(f16)), _mm512_loadu_ps(x + i + 32 * h), acc[2 * h]);
        acc[2 * h + 1] = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm512_extracti64x4_epi64(f16, 1)),
                                         _mm512_loadu_ps(x + i + 32 * h + 16), acc[2 * h + 1]);
      }
    }
    for (; i < k; i += 16) acc[0] = _mm512_fmadd_ps(load16_f8_over_256(row + i), _mm512_loadu_ps(x + i), acc[0]);
    y[r] = 256.0f * _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
  }
}

}  // namespace

const GemvTable& gemv_avx512vnni() {
  static const GemvTable t = {
      gemv_q8_0,
      gemv_q4_0,
      gemv_qk<false>,
      gemv_qk<true>,
      gemv_q6_k,
      gemv_float<uint16_t, load16_f16>,
      gemv_float<uint16_t, load16_bf16>,
      gemv_float<float, load16_f32>,
      gemv_small<BlockQ4_1>,
      gemv_small<BlockQ5_0>,
      gemv_small<BlockQ5_1>,
      gemv_small<BlockIQ4NL>,
      gemv_f8,
      by_token_count<q6_k_rows<1>, q6_k_rows<2>, q6_k_rows<3>, q6_k_rows<4>>,
      by_token_count<qk_rows<false, 1>, qk_rows<false, 2>, qk_rows<false, 3>, qk_rows<false, 4>>,
      by_token_count<qk_rows<true, 1>, qk_rows<true, 2>, qk_rows<true, 3>, qk_rows<true, 4>>,
      float_few_tokens<uint16_t, load16_f16>,
      float_few_tokens<uint16_t, load16_bf16>,
      float_few_tokens<float, load16_f32>,
  };
  return t;
}

}  // namespace r1
