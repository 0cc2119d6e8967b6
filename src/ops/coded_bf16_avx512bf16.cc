// One token or a few through coded BF16 rows (ops/coded_bf16.h) with bf16 products (vdpbf16ps), on
// CPUs with AVX-512 BF16, where the bf16 dot products are on (matmul.h). The float32 kernel
// (coded_bf16_avx512.cc) spends a shift or a mask and an FMA per 16 weights after decoding; here the
// two decoded registers of bf16 words go straight into two vdpbf16ps against each token's activation,
// rounded to bf16 once per step (TokenInput; nearest even, as BF16 prefill and llama.cpp's BF16
// kernels round it) and laid out in the order the unpacks leave the words in. Exceptions are added
// with the same rounded values.
#include <immintrin.h>

#include <cstring>

#include "ops/coded_bf16_avx512.h"
#include "ops/gemm_tile.h"

namespace r1 {
namespace {

// One row against T tokens (xs: their rounded activations, xs_stride apart; y: token t's at
// y[t * ldy]): two blocks per step into separate accumulators, so that vdpbf16ps's latency (one chain
// per accumulator) does not bound the loop. Each token's sum is formed as it is for one token alone.
template <int T>
void coded_row(const BlockDecoder& dec, const uint8_t* w, int64_t k, const uint16_t* xs, int64_t xs_stride, float* y,
               int64_t ldy) {
  const StreamPrefetch hint = stream_prefetch();
  __m512 even[T][2], odd[T][2];  // the accumulators of even and odd blocks
  for (int t = 0; t < T; ++t) even[t][0] = even[t][1] = odd[t][0] = odd[t][1] = _mm512_setzero_ps();
  int64_t b = 0;
  const uint8_t* block = w;
  auto step = [&](__m512 (&acc)[T][2]) {
    __m512i lo, hi;
    dec.words(block, lo, hi);
    for (int t = 0; t < T; ++t) {
      const uint16_t* x = xs + t * xs_stride + b;
      acc[t][0] = _mm512_dpbf16_ps(acc[t][0], reinterpret_cast<__m512bh>(lo), reinterpret_cast<__m512bh>(_mm512_loadu_si512(x)));
      acc[t][1] = _mm512_dpbf16_ps(acc[t][1], reinterpret_cast<__m512bh>(hi), reinterpret_cast<__m512bh>(_mm512_loadu_si512(x + 32)));
    }
    b += kCodedBlock;
    block += 96;
  };
  while (b + 2 * kCodedBlock <= k) {
    prefetch_coded_pair(block + kCodedPrefetchBytes, hint);
    step(even);
    step(odd);
  }
  if (b < k) {
    prefetch_coded_block(block + kCodedPrefetchBytes, hint);
    step(even);
  }
  for (int t = 0; t < T; ++t)
    y[t * ldy] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(even[t][0], even[t][1]), _mm512_add_ps(odd[t][0], odd[t][1])));
}

// R rows side by side against T tokens, as in coded_bf16_avx512.cc; a row's sums do not depend on R.
template <int R, int T>
void coded_rows(const BlockDecoder& dec, const uint8_t* w, size_t stride, int64_t k, const uint16_t* xs,
                int64_t xs_stride, float* y, int64_t ldy) {
  const StreamPrefetch hint = stream_prefetch();
  __m512 acc[R][T][2];
  for (int j = 0; j < R; ++j)
    for (int t = 0; t < T; ++t) acc[j][t][0] = acc[j][t][1] = _mm512_setzero_ps();
  for (int64_t b = 0; b < k; b += kCodedBlock) {
    const size_t off = static_cast<size_t>(b) / kCodedBlock * 96;
    const size_t ahead = coded_prefetch_distance<R>(off, stride);
    __m512bh x0[T], x1[T];
    for (int t = 0; t < T; ++t) {
      x0[t] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(xs + t * xs_stride + b));
      x1[t] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(xs + t * xs_stride + b + 32));
    }
    for (int j = 0; j < R; ++j) {
      const uint8_t* block = w + j * stride + off;
      prefetch_coded_step(block + ahead, b, k, hint);
      __m512i lo, hi;
      dec.words(block, lo, hi);
      for (int t = 0; t < T; ++t) {
        acc[j][t][0] = _mm512_dpbf16_ps(acc[j][t][0], reinterpret_cast<__m512bh>(lo), x0[t]);
        acc[j][t][1] = _mm512_dpbf16_ps(acc[j][t][1], reinterpret_cast<__m512bh>(hi), x1[t]);
      }
    }
  }
  for (int j = 0; j < R; ++j)
    for (int t = 0; t < T; ++t) y[t * ldy + j] = _mm512_reduce_add_ps(_mm512_add_ps(acc[j][t][0], acc[j][t][1]));
}

// Rows [r0, r1) against T tokens, walked as for one token, long rows in fewer streams the more tokens
// there are, so that the accumulators stay in registers.
template <int T>
void coded_tokens(const CodedBf16& m, const BlockDecoder& dec, int64_t r0, int64_t r1, const uint16_t* xs, float* y,
                  int64_t ldy) {
  constexpr int R = T == 1 ? kCodedStreams : T == 2 ? 4 : 2;
  walk_coded_rows<R>(
      m, r0, r1, [&](const uint8_t* w, int64_t i) { coded_rows<R, T>(dec, w, m.row_bytes, m.k, xs, m.k, y + i, ldy); },
      [&](const uint8_t* w, int64_t i) { coded_row<T>(dec, w, m.k, xs, m.k, y + i, ldy); });
}

}  // namespace

void round_bf16_unpack_order(const float* x, int64_t k, uint16_t* dst) {
  for (int64_t b = 0; b < k; b += 64)
    for (int half = 0; half < 2; ++half) {
      alignas(64) float v[32];
      for (int lane = 0; lane < 4; ++lane) std::memcpy(v + 8 * lane, x + b + 16 * lane + 8 * half, 8 * sizeof(float));
      const __m512bh w = _mm512_cvtne2ps_pbh(_mm512_load_ps(v + 16), _mm512_load_ps(v));
      _mm512_storeu_si512(dst + b + 32 * half, reinterpret_cast<const __m512i&>(w));
    }
}

void gemv_coded_bf16_avx512bf16(const CodedBf16& m, int64_t r0, int64_t r1, const float* x, const uint16_t* xs,
                                int64_t n_tok, float* y, int64_t ldy) {
  const BlockDecoder dec(*m.header);
  with_token_count(n_tok, [&](auto T) { coded_tokens<T>(m, dec, r0, r1, xs, y, ldy); });
  for (int64_t t = 0; t < n_tok; ++t) add_coded_bf16_exceptions(m, r0, r1, x + t * m.k, y + t * ldy, true);
}

}  // namespace r1
