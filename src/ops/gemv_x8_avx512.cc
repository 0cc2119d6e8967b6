// One-token kernels on AVX-512 VNNI for rows interleaved at load (ops/repack.h), 8 rows at a time:
// Q4_K, Q5_0, Q4_0 and Q8_0.
//
// Q4_K. The one-row kernel (gemv_qk in gemv_avx512vnni.cc) spends ~50 instructions per 144-byte
// block, two thirds of them on the block's 6-bit scales, its fp16 d / dmin and the permutes that
// put each sub-block's scale beside its products; at ~24 GB/s a thread it could not keep up with
// memory in quiet moments. With 8 rows side by side, that work is done once for 8 rows:
//   - lane 2r + h of a vector holds row r's qs bytes 4h..4h+3 of an 8-byte run (the layout's
//     chunks); the low nibbles meet 8 activation bytes of sub-block 2c, broadcast as one qword, in
//     one vpdpbusd, the high nibbles (kept in place, so 16× their value) those of sub-block 2c + 1;
//   - each sub-block's sums go to their own accumulator, and are scaled once per block: a vpshufb
//     puts sub-block j's 6-bit scale in every lane of its row, then vpmulld; the 16× of the high
//     nibbles comes out with one shift at the end (those sums are exact multiples of 16);
//   - the mins term Σ_j min_j · Σa_j goes through vpdpwssd on word pairs of mins, lane h taking the
//     half of each sub-block's activation sum that its elements make up, so the two lanes of a row
//     add up to the whole;
//   - a row's result is the sum of its two lanes, taken once per 8 rows.
// Q5_0. The layout keeps each row's fifth bits as bytes side by side, so that the 8 rows' bits of
// 8 elements are one qword: a mask register, loaded as is, for one masked add of 16 to the codes.
// The codes' offset (q − 16) is taken out by starting each block's sum at −16·Σa. The one-row kernel
// (gemv_small) read ~32 GB/s a thread in L2; V2-Lite's expert down projections are Q5_0.
// The integer sums are those of the one-row kernels; only the float summation order differs.
#include <immintrin.h>

#include <cstring>
#include <vector>

#include "ops/avx512_kquant.h"
#include "ops/blocks.h"
#include "ops/gemm_tile.h"
#include "ops/prefetch.h"
#include "ops/repack.h"

namespace r1 {
namespace {

constexpr size_t kCodes = 128;  // where the runs of qs start in a Q4_K block column (8 rows' block i)

// Per activation block: its scale and the mins' word pairs, dword h of pair m being
// (bsum half h of sub-block j0, of sub-block j1) with (j0, j1) = (0, 2), (1, 3), (4, 6), (5, 7).
struct alignas(32) MinPairs {
  int16_t w[4][4];
};

void prepare_min_pairs(const BlockQ8K* a, int64_t nb, MinPairs* p) {
  static constexpr int kJ[4][2] = {{0, 2}, {1, 3}, {4, 6}, {5, 7}};
  for (int64_t i = 0; i < nb; ++i)
    for (int m = 0; m < 4; ++m)
      for (int h = 0; h < 2; ++h) {
        p[i].w[m][2 * h] = a[i].bsums[2 * kJ[m][0] + h];
        p[i].w[m][2 * h + 1] = a[i].bsums[2 * kJ[m][1] + h];
      }
}

inline __m512i bcast64(const void* p) {
  int64_t v;
  std::memcpy(&v, p, 8);
  return _mm512_set1_epi64(v);
}

// 8 dwords (one per row) → 16 lanes, row r in lanes 2r and 2r + 1.
inline __m512i rows_to_lanes(const uint8_t* p) {
  const __m512i dup = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
  return _mm512_permutexvar_epi32(dup, _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))));
}

// Where a kernel keeps row r's two partial sums: lanes 2r and 2r + 1 (Q4_K, Q5_0: the two dwords of
// an 8-byte run), or lanes r and r + 8 (Q8_0: the two 32-byte halves of a vector).
enum class RowLanes { kPairs, kHalves };

// The walk the kernels share: groups of 8 rows in order, each group's block columns in order (one
// forward stream), step(column, block index, acc) adding to acc[t] for each of the T tokens, with
// row r's sum in the two lanes kLanes names, added once per group (token t's into y + t·ldy).
// Each 64-byte line of the stream is prefetched kX8PrefetchBytes ahead, once, with the CPU's hint
// (ops/prefetch.h). On AMD Zen 5 (non-temporal), alternated
// token by token in one process (Qwen-1.5B, 2 threads, PERFORMANCE.md session 39), against no
// prefetch: Q8_0 1.10, Q4_0 1.26, V2-Lite (Q4_K, Q5_0) 1.08 at 4 KiB; 2 and 8 KiB less; into L1
// (prefetcht0) or L2 (prefetcht1) instead 0.84-0.98, which is what session 34 had measured (16 KiB
// into L1: slower than none). The AVX2 kernels had found the same (avx2_util.h, kAvx2PrefetchBytes).
constexpr size_t kX8PrefetchBytes = 4096;
template <size_t kBlockBytes, RowLanes kLanes, int T, typename Step>
void over_groups(const uint8_t* w, int64_t n_rows, int64_t nb, float* y, int64_t ldy, Step step) {
  constexpr size_t kColumnBytes = kInterleave * kBlockBytes;
  const __m512i pairs_of_lanes = _mm512_set_epi32(14, 12, 10, 8, 6, 4, 2, 0, 14, 12, 10, 8, 6, 4, 2, 0);
  const StreamPrefetch hint = stream_prefetch();
  const char* ahead = reinterpret_cast<const char*>(w) + kX8PrefetchBytes;  // the next line to prefetch
  for (int64_t r = 0; r < n_rows; r += kInterleave) {
    const uint8_t* group = w + static_cast<size_t>(r) * static_cast<size_t>(nb) * kBlockBytes;
    __m512 acc[T];
    for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
      const char* end = reinterpret_cast<const char*>(group + static_cast<size_t>(i + 1) * kColumnBytes) + kX8PrefetchBytes;
      for (; ahead < end; ahead += 64) prefetch_stream_line(ahead, hint);
      step(group + static_cast<size_t>(i) * kColumnBytes, i, acc);
    }
    for (int t = 0; t < T; ++t) {
      if constexpr (kLanes == RowLanes::kPairs) {
        const __m512 both = _mm512_add_ps(acc[t], _mm512_permute_ps(acc[t], 0xB1));
        _mm256_storeu_ps(y + t * ldy + r, _mm512_castps512_ps256(_mm512_permutexvar_ps(pairs_of_lanes, both)));
      } else {
        const __m256 high = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[t]), 1));
        _mm256_storeu_ps(y + t * ldy + r, _mm256_add_ps(_mm512_castps512_ps256(acc[t]), high));
      }
    }
  }
}

// Per Q8_0 activation block, what the kernels with Q8_0 activations need beside its codes: the
// start of each block's integer sum, −offset·Σa, which takes the weight codes' offset out (Q5_0's
// q − 16, Q8_0's w + 128), and the block's scale as float. Once per call and token, per thread:
// decode calls these kernels on items of rows (ThreadPool::run_items), so Σa is one vpsadbw per block.
struct BlockTerms {
  std::vector<int32_t> start;
  std::vector<float> d;
};
void fill_block_terms(const BlockQ8_0* a, int64_t nb, int32_t offset, BlockTerms& t) {
  t.start.resize(static_cast<size_t>(nb));
  t.d.resize(static_cast<size_t>(nb));
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int64_t i = 0; i < nb; ++i) {
    // Σ(a + 128) over the 32 codes as unsigned bytes, in 4 qwords; then − 32·128.
    const __m256i u = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[i].qs)), flip);
    const __m256i q4 = _mm256_sad_epu8(u, _mm256_setzero_si256());
    const __m128i q2 = _mm_add_epi64(_mm256_castsi256_si128(q4), _mm256_extracti128_si256(q4, 1));
    const auto sum = static_cast<int32_t>(_mm_cvtsi128_si64(q2) + _mm_extract_epi64(q2, 1)) - kQK * 128;
    t.start[static_cast<size_t>(i)] = -offset * sum;
    t.d[static_cast<size_t>(i)] = _cvtsh_ss(a[i].d);
  }
}

// The T tokens' activation rows, a_stride bytes apart, and (Q8_0 activations) their block terms.
template <typename ActBlock, int T>
struct TokenActs {
  const ActBlock* row[T];
  const BlockTerms* terms = nullptr;
  TokenActs(const void* a, size_t a_stride) {
    for (int t = 0; t < T; ++t) row[t] = reinterpret_cast<const ActBlock*>(static_cast<const uint8_t*>(a) + t * a_stride);
  }
  TokenActs(const void* a, size_t a_stride, int64_t nb, int32_t offset) : TokenActs(a, a_stride) {
    thread_local BlockTerms per_token[kMaxFewTokens];
    for (int t = 0; t < T; ++t) fill_block_terms(row[t], nb, offset, per_token[t]);
    terms = per_token;
  }
};

// Block i's start in the first of each row's two lanes (kLanes), zero in the other: the two are
// added at the end, so the offset is taken out once.
template <RowLanes kLanes>
inline __m512i block_start(const BlockTerms& t, int64_t i) {
  return _mm512_maskz_set1_epi32(kLanes == RowLanes::kPairs ? 0x5555 : 0x00FF, t.start[static_cast<size_t>(i)]);
}

// Each kernel below takes T = 1 .. kMaxFewTokens tokens in one pass over the weights. A token's
// products are made in the same order whatever T is, so each token's results are those of the
// one-token kernel bit for bit: a batch of sequences decodes as each would alone.

template <int T>
void gemv_q4_k_x8(int64_t k, const void* w_bytes, size_t, int64_t n_rows, const void* a, size_t a_stride, float* y,
                 int64_t ldy) {
  const auto* w = static_cast<const uint8_t*>(w_bytes);
  const int64_t nb = k / kQKK;
  const TokenActs<BlockQ8K, T> act(a, a_stride);
  thread_local std::vector<MinPairs> pairs;
  if (pairs.size() < static_cast<size_t>(T * nb)) pairs.resize(static_cast<size_t>(T * nb));
  for (int t = 0; t < T; ++t) prepare_min_pairs(act.row[t], nb, pairs.data() + t * nb);
  const __m512i low4 = _mm512_set1_epi8(0x0F), high4 = _mm512_set1_epi8(static_cast<char>(0xF0));
  const __m512i words = _mm512_set1_epi32(0x00FF00FF);
  // vpshufb controls: byte j of each dword, zero-extended (indices count within 128-bit lanes).
  __m512i pick[4];
  for (int j = 0; j < 4; ++j) {
    const auto at = [j](int d) { return static_cast<int32_t>(0x80808000u | static_cast<uint32_t>(4 * d + j)); };
    pick[j] = _mm512_set4_epi32(at(3), at(2), at(1), at(0));
  }
  over_groups<sizeof(BlockQ4K), RowLanes::kPairs, T>(w, n_rows, nb, y, ldy, [&](const uint8_t* col, int64_t i, __m512* acc) {
    __m512i s[T][8];
    for (int t = 0; t < T; ++t)
      for (int j = 0; j < 8; ++j) s[t][j] = _mm512_setzero_si512();
    for (int c = 0; c < 4; ++c)
      for (int p = 0; p < 4; ++p) {
        const __m512i q = _mm512_loadu_si512(col + kCodes + 64 * (4 * c + p));
        const __m512i lo = _mm512_and_si512(q, low4), hi = _mm512_and_si512(q, high4);
        for (int t = 0; t < T; ++t) {
          const int8_t* qa = act.row[t][i].qs;
          s[t][2 * c] = _mm512_dpbusd_epi32(s[t][2 * c], lo, bcast64(qa + 64 * c + 8 * p));
          s[t][2 * c + 1] = _mm512_dpbusd_epi32(s[t][2 * c + 1], hi, bcast64(qa + 64 * c + 32 + 8 * p));
        }
      }
    const auto [sc, mn] = q4k_scales_mins_x16(rows_to_lanes(col + 32), rows_to_lanes(col + 64), rows_to_lanes(col + 96));
    __m512i scale[8], min_lo[2], min_hi[2];
    for (int j = 0; j < 8; ++j) scale[j] = _mm512_shuffle_epi8(sc[j / 4], pick[j % 4]);
    for (int h = 0; h < 2; ++h) {
      min_lo[h] = _mm512_and_si512(mn[h], words);
      min_hi[h] = _mm512_and_si512(_mm512_srli_epi32(mn[h], 8), words);
    }
    const __m512i dd = rows_to_lanes(col);  // d | dmin << 16
    const __m512 d_w = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dd));
    const __m512 dmin_w = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dd, 16)));
    for (int t = 0; t < T; ++t) {
      __m512i even = _mm512_setzero_si512(), odd = _mm512_setzero_si512();
      for (int j = 0; j < 8; j += 2) {
        even = _mm512_add_epi32(even, _mm512_mullo_epi32(s[t][j], scale[j]));
        odd = _mm512_add_epi32(odd, _mm512_mullo_epi32(s[t][j + 1], scale[j + 1]));
      }
      const __m512i sums = _mm512_add_epi32(even, _mm512_srai_epi32(odd, 4));
      const MinPairs& pr = pairs[static_cast<size_t>(t * nb + i)];
      __m512i mins = _mm512_setzero_si512();
      for (int h = 0; h < 2; ++h) {
        mins = _mm512_dpwssd_epi32(mins, min_lo[h], bcast64(pr.w[2 * h]));
        mins = _mm512_dpwssd_epi32(mins, min_hi[h], bcast64(pr.w[2 * h + 1]));
      }
      const __m512 da = _mm512_set1_ps(act.row[t][i].d);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), _mm512_mul_ps(d_w, da), acc[t]);
      acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mins), _mm512_mul_ps(dmin_w, da), acc[t]);
    }
  });
}

// Q5_0: a block column is 8 rows' d (16 bytes), their qh bytes p = 0..3 as 4 qwords (byte p of row
// r at 8p + r: element 8p + i's fifth bit is bit 8r + i of qword p), then the codes as two vectors
// of 8-byte runs (qs 0..7, qs 8..15 of each row).
static_assert(sizeof(BlockQ5_0) == 22);

template <int T>
void gemv_q5_0_x8(int64_t k, const void* w_bytes, size_t, int64_t n_rows, const void* a, size_t a_stride, float* y,
                 int64_t ldy) {
  const auto* w = static_cast<const uint8_t*>(w_bytes);
  const int64_t nb = k / kQK;
  const TokenActs<BlockQ8_0, T> act(a, a_stride, nb, 16);
  const __m512i low4 = _mm512_set1_epi8(0x0F), sixteen = _mm512_set1_epi8(16);
  const __m512i dup = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
  over_groups<sizeof(BlockQ5_0), RowLanes::kPairs, T>(w, n_rows, nb, y, ldy, [&](const uint8_t* col, int64_t i, __m512* acc) {
    __m512i s[T];
    for (int t = 0; t < T; ++t) s[t] = block_start<RowLanes::kPairs>(act.terms[t], i);
    for (int v = 0; v < 2; ++v) {  // qs 8v..8v+7: elements 8v + (0..7) low, 16 + 8v + (0..7) high
      const __m512i q = _mm512_loadu_si512(col + 48 + 64 * v);
      __mmask64 fifth_lo, fifth_hi;
      std::memcpy(&fifth_lo, col + 16 + 8 * v, 8);
      std::memcpy(&fifth_hi, col + 32 + 8 * v, 8);
      const __m512i lo = _mm512_mask_add_epi8(_mm512_and_si512(q, low4), fifth_lo, _mm512_and_si512(q, low4), sixteen);
      const __m512i hi4 = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
      const __m512i hi = _mm512_mask_add_epi8(hi4, fifth_hi, hi4, sixteen);
      for (int t = 0; t < T; ++t) {
        const int8_t* qa = act.row[t][i].qs;
        s[t] = _mm512_dpbusd_epi32(s[t], lo, bcast64(qa + 8 * v));
        s[t] = _mm512_dpbusd_epi32(s[t], hi, bcast64(qa + 16 + 8 * v));
      }
    }
    const __m512 dw = _mm512_permutexvar_ps(
        dup, _mm512_castps256_ps512(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(col)))));
    for (int t = 0; t < T; ++t)
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t]), _mm512_mul_ps(dw, _mm512_set1_ps(act.terms[t].d[static_cast<size_t>(i)])),
                               acc[t]);
  });
}

// Q8_0: a block column is 8 rows' d (16 bytes), then the codes in runs of 4 bytes, run j of the 8
// rows at 16 + 32j (row r's at + 4r). So vector v holds runs 2v (lanes 0..7) and 2v + 1 (lanes 8..15)
// of the 8 rows, and meets one vpermd of the activation block: its dword 2v in the low half, 2v + 1
// in the high one. The codes are made unsigned (w ^ 0x80 = w + 128), so each block's sum starts at
// −128·Σa (in the low half only: a row's two lanes are added at the end). The one-row kernel
// (gemv_q8_0) spends a horizontal sum per row and a scale permute per 4 blocks; here the 8 rows' 8
// scales are one vcvtph2ps per block.
static_assert(sizeof(BlockQ8_0) == 34);

// vpermd controls: dword 2v in lanes 0..7, 2v + 1 in lanes 8..15.
inline __m512i run_pair(int v) {
  return _mm512_mask_blend_epi32(0xFF00, _mm512_set1_epi32(2 * v), _mm512_set1_epi32(2 * v + 1));
}
inline __m512i block_codes(const BlockQ8_0& b) {
  return _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.qs)));
}

template <int T>
void gemv_q8_0_x8(int64_t k, const void* w_bytes, size_t, int64_t n_rows, const void* a, size_t a_stride, float* y,
                 int64_t ldy) {
  const auto* w = static_cast<const uint8_t*>(w_bytes);
  const int64_t nb = k / kQK;
  const TokenActs<BlockQ8_0, T> act(a, a_stride, nb, 128);
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  __m512i runs[4];
  for (int v = 0; v < 4; ++v) runs[v] = run_pair(v);
  over_groups<sizeof(BlockQ8_0), RowLanes::kHalves, T>(w, n_rows, nb, y, ldy, [&](const uint8_t* col, int64_t i, __m512* acc) {
    __m512i qa[T], s[T];
    for (int t = 0; t < T; ++t) {
      qa[t] = block_codes(act.row[t][i]);
      s[t] = block_start<RowLanes::kHalves>(act.terms[t], i);
    }
    for (int v = 0; v < 4; ++v) {
      const __m512i q = _mm512_xor_si512(_mm512_loadu_si512(col + 16 + 64 * v), flip);
      for (int t = 0; t < T; ++t) s[t] = _mm512_dpbusd_epi32(s[t], q, _mm512_permutexvar_epi32(runs[v], qa[t]));
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(col))));
    for (int t = 0; t < T; ++t)
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t]), _mm512_mul_ps(dw, _mm512_set1_ps(act.terms[t].d[static_cast<size_t>(i)])),
                               acc[t]);
  });
}

// Q4_0: a block column is 8 rows' d (16 bytes), then the codes in runs of 4 bytes laid out as Q8_0's
// (run j of the 8 rows at 16 + 32j), byte b of run j holding element 4j + b in its low nibble and
// 16 + 4j + b in its high one. So vector v's low nibbles meet the activation dwords Q8_0's vector v
// meets, its high nibbles those of vector v + 2. The codes' offset (q − 8) is taken out by starting
// each block's sum at −8·Σa. The one-row kernel (gemv_q4_0) read ~41 GB/s a thread in L2, short of
// what a thread must read from memory in quiet moments (~45).
static_assert(sizeof(BlockQ4_0) == 18);

template <int T>
void gemv_q4_0_x8(int64_t k, const void* w_bytes, size_t, int64_t n_rows, const void* a, size_t a_stride, float* y,
                 int64_t ldy) {
  const auto* w = static_cast<const uint8_t*>(w_bytes);
  const int64_t nb = k / kQK;
  const TokenActs<BlockQ8_0, T> act(a, a_stride, nb, 8);
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  __m512i runs[4];
  for (int v = 0; v < 4; ++v) runs[v] = run_pair(v);
  over_groups<sizeof(BlockQ4_0), RowLanes::kHalves, T>(w, n_rows, nb, y, ldy, [&](const uint8_t* col, int64_t i, __m512* acc) {
    __m512i qa[T], s[T];
    for (int t = 0; t < T; ++t) {
      qa[t] = block_codes(act.row[t][i]);
      s[t] = block_start<RowLanes::kHalves>(act.terms[t], i);
    }
    for (int v = 0; v < 2; ++v) {
      const __m512i q = _mm512_loadu_si512(col + 16 + 64 * v);
      const __m512i lo = _mm512_and_si512(q, low4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), low4);
      for (int t = 0; t < T; ++t) {
        s[t] = _mm512_dpbusd_epi32(s[t], lo, _mm512_permutexvar_epi32(runs[v], qa[t]));
        s[t] = _mm512_dpbusd_epi32(s[t], hi, _mm512_permutexvar_epi32(runs[v + 2], qa[t]));
      }
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(col))));
    for (int t = 0; t < T; ++t)
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[t]), _mm512_mul_ps(dw, _mm512_set1_ps(act.terms[t].d[static_cast<size_t>(i)])),
                               acc[t]);
  });
}

}  // namespace

void gemv_q4_k_x8_avx512vnni(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
                             int64_t n_tok, float* y, int64_t ldy) {
  by_token_count<gemv_q4_k_x8<1>, gemv_q4_k_x8<2>, gemv_q4_k_x8<3>, gemv_q4_k_x8<4>>(k, w, w_stride, n_rows, a, a_stride, n_tok,
                                                                               y, ldy);
}

void gemv_q5_0_x8_avx512vnni(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
                             int64_t n_tok, float* y, int64_t ldy) {
  by_token_count<gemv_q5_0_x8<1>, gemv_q5_0_x8<2>, gemv_q5_0_x8<3>, gemv_q5_0_x8<4>>(k, w, w_stride, n_rows, a, a_stride, n_tok,
                                                                               y, ldy);
}

void gemv_q4_0_x8_avx512vnni(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
                             int64_t n_tok, float* y, int64_t ldy) {
  by_token_count<gemv_q4_0_x8<1>, gemv_q4_0_x8<2>, gemv_q4_0_x8<3>, gemv_q4_0_x8<4>>(k, w, w_stride, n_rows, a, a_stride, n_tok,
                                                                               y, ldy);
}

void gemv_q8_0_x8_avx512vnni(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
                             int64_t n_tok, float* y, int64_t ldy) {
  by_token_count<gemv_q8_0_x8<1>, gemv_q8_0_x8<2>, gemv_q8_0_x8<3>, gemv_q8_0_x8<4>>(k, w, w_stride, n_rows, a, a_stride, n_tok,
                                                                               y, ldy);
}

}  // namespace r1
