// One token through coded BF16 rows (ops/coded_bf16.h) with bf16 products (vdpbf16ps), on CPUs with
// AVX-512 BF16, where the bf16 dot products are on (matmul.h). The float32 kernel
// (coded_bf16_avx512.cc) spends a shift or a mask and an FMA per 16 weights after decoding; here the
// two decoded registers of bf16 words go straight into two vdpbf16ps against the activation rounded
// to bf16 once per call (nearest even, as BF16 prefill and llama.cpp's BF16 kernels round it), laid
// out in the order the unpacks leave the words in. Exceptions are added with the same rounded values.
#include <immintrin.h>

#include <cstring>

#include "ops/coded_bf16_avx512.h"
#include "ops/gemm_tile.h"

namespace r1 {
namespace {

// One row: two blocks per step into separate accumulators, so that vdpbf16ps's latency (one chain
// per accumulator) does not bound the loop.
void coded_row(const BlockDecoder& dec, const uint8_t* w, int64_t k, const uint16_t* xs, float* y) {
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  int64_t b = 0;
  const uint8_t* block = w;
  auto step = [&](__m512& a0, __m512& a1) {
    prefetch_coded_block(block + kCodedPrefetchBytes);
    __m512i lo, hi;
    dec.words(block, lo, hi);
    a0 = _mm512_dpbf16_ps(a0, reinterpret_cast<__m512bh>(lo), reinterpret_cast<__m512bh>(_mm512_loadu_si512(xs + b)));
    a1 = _mm512_dpbf16_ps(a1, reinterpret_cast<__m512bh>(hi), reinterpret_cast<__m512bh>(_mm512_loadu_si512(xs + b + 32)));
    b += kCodedBlock;
    block += 96;
  };
  while (b + 2 * kCodedBlock <= k) {
    step(acc[0], acc[1]);
    step(acc[2], acc[3]);
  }
  if (b < k) step(acc[0], acc[1]);
  *y = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
}

// R rows side by side, as in coded_bf16_avx512.cc.
template <int R>
void coded_rows(const BlockDecoder& dec, const uint8_t* w, size_t stride, int64_t k, const uint16_t* xs, float* y) {
  __m512 acc[R][2];
  for (int j = 0; j < R; ++j) acc[j][0] = acc[j][1] = _mm512_setzero_ps();
  for (int64_t b = 0; b < k; b += kCodedBlock) {
    const size_t off = static_cast<size_t>(b) / kCodedBlock * 96;
    const size_t ahead = coded_prefetch_distance<R>(off, stride);
    const __m512bh x0 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(xs + b));
    const __m512bh x1 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(xs + b + 32));
    for (int j = 0; j < R; ++j) {
      const uint8_t* block = w + j * stride + off;
      prefetch_coded_block(block + ahead);
      __m512i lo, hi;
      dec.words(block, lo, hi);
      acc[j][0] = _mm512_dpbf16_ps(acc[j][0], reinterpret_cast<__m512bh>(lo), x0);
      acc[j][1] = _mm512_dpbf16_ps(acc[j][1], reinterpret_cast<__m512bh>(hi), x1);
    }
  }
  for (int j = 0; j < R; ++j) y[j] = _mm512_reduce_add_ps(_mm512_add_ps(acc[j][0], acc[j][1]));
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
                                float* y) {
  const int64_t k = m.k;
  const BlockDecoder dec(*m.header);
  walk_coded_rows(
      m, r0, r1, [&](const uint8_t* w, int64_t i) { coded_rows<kCodedStreams>(dec, w, m.row_bytes, k, xs, y + i); },
      [&](const uint8_t* w, int64_t i) { coded_row(dec, w, k, xs, y + i); });
  add_coded_bf16_exceptions(m, r0, r1, x, y, true);
}

}  // namespace r1
