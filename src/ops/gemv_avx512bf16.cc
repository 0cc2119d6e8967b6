// One-token F8_E4M3 kernel on AVX-512 BF16 + VBMI (DeepSeek's FP8 weights; their block scales are on
// the activations, model/deepseek_linear.cc). The float32 kernel (gemv_avx512vnni.cc) turns each code
// into fp16 and then float32 and spends an FMA per element: ~23 GB/s of codes per core with the rows in
// L2 (BM_gemv_hot), under what two cores can read, so FP8 decode was bound by that work. Here:
//   - the activation is rounded to bf16 once per call (nearest even, as the bf16 prefill does);
//   - every e4m3 value is a bf16 value (3 significand bits, exponents 2^-9 .. 2^8), so 64 codes become
//     bf16 exactly with two byte-table lookups (vpermi2b over the 128 magnitudes: the high and the low
//     byte of each bf16; bit 7 of a code is ignored by the lookup and ORed back in as the sign), which
//     also covers the subnormal codes and the NaNs that shift-based conversions need extra steps for;
//   - the two bytes are joined with unpacklo/hi_epi8, which leaves the 64 values in lane order
//     {0..7, 16..23, 32..39, 48..55 | 8..15, 24..31, ...}; the activation is laid out in that order
//     once per call, so the products pair up and one vdpbf16ps takes 32 of them.
// BM_gemv_hot (one core, rows in L2): 33-42 against 20-24 GB/s. Used where the bf16 products are on
// (matmul.h: R1_BF16_DOT=0 keeps float32 activations) and k % 64 == 0; the same for up to
// kMaxFewTokens tokens at once (a batched decode step, MTP's verification), each code decoded once.
#include <immintrin.h>

#include <array>
#include <cstring>
#include <vector>

#include "ops/convert.h"
#include "ops/gemm_tile.h"

namespace r1 {
namespace {

// The bf16 bits of every e4m3 magnitude 0..127 (0x7F: NaN), split into high and low bytes.
struct F8Tables {
  alignas(64) std::array<uint8_t, 128> hi, lo;
};
const F8Tables& f8_tables() {
  static const F8Tables t = [] {
    F8Tables r;
    for (int c = 0; c < 128; ++c) {
      const uint16_t b = f32_to_bf16(fp8_e4m3_to_f32(static_cast<uint8_t>(c)));
      r.hi[static_cast<size_t>(c)] = static_cast<uint8_t>(b >> 8);
      r.lo[static_cast<size_t>(c)] = static_cast<uint8_t>(b & 0xFF);
    }
    return r;
  }();
  return t;
}

// T tokens (float32 rows a_stride bytes apart) through the rows: each 64 codes are made bf16 once
// for all of them, and each token's sum is formed as it is for the token alone (its own two
// accumulators, the same order), so its results are those of one token, bit for bit.
template <int T>
void f8_tokens(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride, float* y,
               int64_t ldy) {
  thread_local std::vector<uint16_t> act;
  if (act.size() < static_cast<size_t>(T * k)) act.resize(static_cast<size_t>(T * k));
  for (int t = 0; t < T; ++t)
    round_bf16_unpack_order(reinterpret_cast<const float*>(static_cast<const uint8_t*>(a) + t * a_stride), k,
                            act.data() + t * k);
  const F8Tables& tab = f8_tables();
  const __m512i hi0 = _mm512_load_si512(tab.hi.data()), hi1 = _mm512_load_si512(tab.hi.data() + 64);
  const __m512i lo0 = _mm512_load_si512(tab.lo.data()), lo1 = _mm512_load_si512(tab.lo.data() + 64);
  const __m512i sign = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t r = 0; r < n_rows; ++r) {
    const uint8_t* row = static_cast<const uint8_t*>(w) + static_cast<size_t>(r) * w_stride;
    __m512 acc0[T], acc1[T];
    for (int t = 0; t < T; ++t) acc0[t] = acc1[t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < k; i += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(row + i + kGemvPrefetchBytes), _MM_HINT_T0);
      // Two 256-bit loads: one 512-bit load per 64 codes read ~10 GB/s from memory on one core here,
      // these ~25 (a scratch program, rows in 4 KiB pages, aligned or not).
      const __m512i c = _mm512_inserti64x4(
          _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + i))),
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + i + 32)), 1);
      // high byte | (code & 0x80): ternary-logic A | (B & C)
      const __m512i h = _mm512_ternarylogic_epi32(_mm512_permutex2var_epi8(hi0, c, hi1), c, sign, 0xF8);
      const __m512i l = _mm512_permutex2var_epi8(lo0, c, lo1);
      const auto w0 = reinterpret_cast<__m512bh>(_mm512_unpacklo_epi8(l, h));
      const auto w1 = reinterpret_cast<__m512bh>(_mm512_unpackhi_epi8(l, h));
      for (int t = 0; t < T; ++t) {
        const uint16_t* at = act.data() + t * k + i;
        acc0[t] = _mm512_dpbf16_ps(acc0[t], w0, reinterpret_cast<__m512bh>(_mm512_loadu_si512(at)));
        acc1[t] = _mm512_dpbf16_ps(acc1[t], w1, reinterpret_cast<__m512bh>(_mm512_loadu_si512(at + 32)));
      }
    }
    for (int t = 0; t < T; ++t) y[t * ldy + r] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[t], acc1[t]));
  }
}

void gemv_f8_bf16(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, float* y) {
  f8_tokens<1>(k, w, w_stride, n_rows, a, 0, y, 0);
}

}  // namespace

GemvFn gemv_f8_avx512bf16() { return gemv_f8_bf16; }
GemvTokensFn gemv_f8_tokens_avx512bf16() {
  return by_token_count<f8_tokens<1>, f8_tokens<2>, f8_tokens<3>, f8_tokens<4>>;
}

}  // namespace r1
