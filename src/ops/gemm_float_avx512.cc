// Float-format prefill on AVX-512 (F32, F16, BF16 and F8_E4M3 weights × float32 activations), rows
// in lanes: a thread converts a panel of 32 weight rows to float32 once, laid out per element as two
// vectors of 16 rows, and every token of the chunk then passes the panel: per element, 2 weight
// vectors × 14 broadcast activations = 28 FMAs into 28 accumulators, no conversions and no
// horizontal sums in the loop. The tile it replaced (float_gemm.h, then 4 rows × 4 tokens; the AVX2
// and NEON one now) converted each row's weights for every 4 FMAs (by our count, 8 more uops on the FMA ports per
// 16 FMAs on Intel), and ran at an estimated ~0.56 of the FMA peak there; this one, alone in scratch,
// at ~0.9 of it (2 × 16 rows × 14 tokens, 157-169 GFLOP/s a thread against ~86 for the vdpbf16ps
// tile; PERFORMANCE.md).
// Long rows are cut into blocks along k (the accumulators go through y between blocks), so a
// panel's weights stay in L2 beside the activations they meet. BF16 rows coded at load (ops/coded_bf16.h)
// are decoded as they are laid out.
// Compiled with AVX-512 F/BW/VL (plus AVX2, FMA, F16C); used by the avx512vnni backend only.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <bit>
#include <utility>
#include <vector>

#include "ops/avx2_util.h"
#include "ops/coded_bf16_avx512.h"
#include "ops/gemm_tile.h"
#include "ops/transpose_avx512.h"

namespace r1 {
namespace {

constexpr int kLanes = 16, kGroups = 2, kToks = 14;
// Longest block of k a panel is laid out in: 32 rows × 8192 × 4 bytes = 1 MiB, within L2 beside the
// activations. Rows up to that are one block (BM_matmul F16 512 tokens, 2 threads, k = 1536: 236-268
// GFLOP/s whole, 172-221 in blocks of 512; k = 8960: 228-254 whole, 162-252 in blocks of 4096); longer rows
// are cut into equal blocks.
constexpr int64_t kMaxBlock = 8192;

// Where a panel's weights come from: rows as stored (PlainRows) or coded at load (CodedRows). Each gives
// load16(j, i), elements i .. i + 15 of its row j as float32 (i % 16 == 0); span(j, i, n), the bytes
// that hold elements [i, i + n) of row j (prefetched before they are laid out); and patch(), which
// writes what load16 could not give (CodedRows' exceptions) into laid-out lanes.
template <DType kType>
struct PlainRows {
  static constexpr size_t kElemBytes = kType == DType::F32 ? 4 : kType == DType::F8_E4M3 ? 1 : 2;
  const uint8_t* w;
  size_t stride;

  __m512 load16(int64_t j, int64_t i) const {
    const uint8_t* row = w + j * stride;
    if constexpr (kType == DType::F32) {
      return _mm512_loadu_ps(reinterpret_cast<const float*>(row) + i);
    } else if constexpr (kType == DType::F16) {
      return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * i)));
    } else if constexpr (kType == DType::BF16) {
      return bf16_to_f32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + 2 * i)));
    } else {
      static_assert(kType == DType::F8_E4M3);
      return _mm512_mul_ps(load16_f8_over_256(row + i), _mm512_set1_ps(256.0f));
    }
  }
  std::pair<const uint8_t*, size_t> span(int64_t j, int64_t i, int64_t n) const {
    return {w + j * stride + i * kElemBytes, n * kElemBytes};
  }
  void patch(int64_t, int64_t, int64_t, int64_t, float*) const {}

  static __m512 bf16_to_f32(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
};

// Rows row0, row0 + 1, ... of a coded BF16 matrix: the 64-weight block decoded for each 16 of its
// weights (the decoder's few instructions cost less than a pass that decodes the rows to bf16 first).
struct CodedRows {
  const CodedBf16* m;
  int64_t row0;
  BlockDecoder dec;

  __m512 load16(int64_t j, int64_t i) const {
    __m512i lo, hi;  // lo's 128-bit lane q: weights 16q .. 16q + 7 of the block; hi's: 16q + 8 .. 16q + 15
    dec.words(m->rows + (row0 + j) * m->row_bytes + i / kCodedBlock * 96, lo, hi);
    const int64_t q = i % kCodedBlock / kLanes;
    const __m512i order = _mm512_setr_epi64(2 * q, 2 * q + 1, 8 + 2 * q, 9 + 2 * q, 0, 0, 0, 0);
    return PlainRows<DType::BF16>::bf16_to_f32(_mm512_castsi512_si256(_mm512_permutex2var_epi64(lo, order, hi)));
  }
  std::pair<const uint8_t*, size_t> span(int64_t j, int64_t i, int64_t n) const {
    return {m->rows + (row0 + j) * m->row_bytes + i / kCodedBlock * 96, static_cast<size_t>(n / kCodedBlock * 96)};
  }
  // The exceptions of rows [j0, j0 + rows) in columns [i0, i0 + n), into lanes laid out as pack_lanes does.
  void patch(int64_t j0, int64_t rows, int64_t i0, int64_t n, float* dst) const {
    for (int64_t j = 0; j < rows; ++j) {
      const int64_t r = row0 + j0 + j;
      for (uint32_t e = m->first[r]; e < m->first[r + 1]; ++e) {
        const CodedBf16Exception& x = m->exceptions[e];
        const int64_t c = static_cast<int64_t>(x.col) - i0;
        if (c >= 0 && c < n) dst[c * kLanes + j] = std::bit_cast<float>(static_cast<uint32_t>(x.bits) << 16);
      }
    }
  }
};

// Elements [i0, i0 + n) (n % 16 == 0) of rows [j0, j0 + rows) (rows <= 16) of src as float32 lanes:
// dst[e * 16 + j] = element i0 + e of row j0 + j; missing rows are zeros.
template <class Src>
void pack_lanes(const Src& src, int64_t j0, int64_t rows, int64_t i0, int64_t n, float* dst,
                const Transpose16x16& transpose) {
  for (int64_t e = 0; e < n; e += kLanes) {
    __m512i v[kLanes];
    for (int j = 0; j < kLanes; ++j)
      v[j] = j < rows ? _mm512_castps_si512(src.load16(j0 + j, i0 + e)) : _mm512_setzero_si512();
    transpose(v);
    for (int j = 0; j < kLanes; ++j) _mm512_storeu_si512(dst + (e + j) * kLanes, v[j]);
  }
  src.patch(j0, rows, i0, n, dst);
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

// The weight bytes of rows [r, r + rows) × elements [i, i + n) of src, asked for (into L2) a share per
// call while the tiles run: laying out the next block would otherwise wait on 32 rows' misses at once.
template <class Src>
struct NextBlock {
  const Src* src = nullptr;
  int64_t r = 0, rows = 0, i = 0, n = 0, done = 0;
  void prefetch_share(int64_t part, int64_t parts) {
    for (const int64_t until = rows * (part + 1) / parts; done < until; ++done) {
      const auto [p, bytes] = src->span(r + done, i, n);
      prefetch_rows(p, static_cast<int64_t>(bytes));
    }
  }
};

// Rows [0, n_rows) of src against n_tok float32 activation rows (a_stride bytes apart), as a GemmTileFn.
// Every block's length is a multiple of block_align (CodedRows: its 64-weight blocks).
template <class Src>
void gemm_lanes(const Src& src, int64_t k, int64_t n_rows, const void* a, size_t a_stride, int64_t n_tok, float* y,
                int64_t ldy, int64_t block_align) {
  static constexpr auto one = tiles<1>(std::make_integer_sequence<int, kToks>{});
  static constexpr auto two = tiles<2>(std::make_integer_sequence<int, kToks>{});
  const Transpose16x16 transpose;
  const auto* af = static_cast<const float*>(a);
  const auto lda = static_cast<int64_t>(a_stride / sizeof(float));
  const int64_t n_blocks = std::max<int64_t>(1, (k + kMaxBlock - 1) / kMaxBlock);
  const int64_t block = (k / n_blocks + block_align - 1) / block_align * block_align;
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
        pack_lanes(src, r + g * kLanes, std::min<int64_t>(kLanes, R - g * kLanes), i0, n,
                   lanes.data() + g * n * kLanes, transpose);
      // The block after this one: the next along k, else the next panel's first.
      NextBlock<Src> next;
      if (i0 + n < k) {
        next = {&src, r, R, i0 + n, std::min(block, k - i0 - n)};
      } else if (r + R < n_rows) {
        next = {&src, r + R, std::min<int64_t>(kGroups * kLanes, n_rows - r - R), 0, std::min(block, k)};
      }
      for (int64_t t = 0, i = 0; t < n_tok; t += kToks, ++i) {
        next.prefetch_share(i, n_tiles);
        const int T = static_cast<int>(std::min<int64_t>(kToks, n_tok - t));
        (G == 2 ? two : one)[T - 1](n, lanes.data(), af + t * lda + i0, lda, y + t * ldy + r, ldy, last, i0 > 0);
      }
    }
  }
}

template <DType kType>
void gemm_float(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
                int64_t n_tok, float* y, int64_t ldy) {
  gemm_lanes(PlainRows<kType>{static_cast<const uint8_t*>(w), w_stride}, k, n_rows, a, a_stride, n_tok, y, ldy, kLanes);
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

void gemm_coded_float_avx512(const CodedBf16& m, int64_t row0, int64_t n_rows, const void* a, size_t a_stride,
                             int64_t n_tok, float* y, int64_t ldy) {
  gemm_lanes(CodedRows{&m, row0, BlockDecoder(*m.header)}, m.k, n_rows, a, a_stride, n_tok, y, ldy, kCodedBlock);
}

}  // namespace r1
