#include "ops/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "ops/convert.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"

namespace r1 {

namespace {

float widen(float x) { return x; }
float widen(uint16_t h) { return fp16_to_f32(h); }

}  // namespace

template <class KR, class VR>
void attend_scalar(const float* q, int64_t n_q, int64_t d_k, KR K, int64_t k_stride, int64_t n_keys, VR V,
                   int64_t v_stride, int64_t d_v, float scale, float* out, float* scores, float* lse, bool causal) {
  for (int64_t i = 0; i < n_q; ++i) {
    const float* qi = q + i * d_k;
    float* s = scores + i * n_keys;
    const int64_t seen = keys_seen(i, n_q, n_keys, causal);
    for (int64_t t = 0; t < seen; ++t) {
      KR kt = K + t * k_stride;
      float dot = 0;
      for (int64_t j = 0; j < d_k; ++j) dot += qi[j] * widen(kt[j]);
      s[t] = dot * scale;
    }
    const float l = softmax(s, seen);
    if (lse != nullptr) lse[i] = l;
    float* o = out + i * d_v;
    std::fill(o, o + d_v, 0.0f);
    for (int64_t t = 0; t < seen; ++t) {
      const float p = s[t];
      VR vt = V + t * v_stride;
      for (int64_t j = 0; j < d_v; ++j) o[j] += p * widen(vt[j]);
    }
  }
}

R1_INSTANTIATE_ATTENTION_KERNEL(attend_scalar)

#if defined(R1_HAVE_X86_KERNELS)
void pack_bf16_rows_avx512bf16(DType type, const void* rows, int64_t stride, int64_t n, int64_t d, uint16_t* dst);
void pack_bf16_pairs_avx512bf16(DType type, const void* rows, int64_t stride, int64_t n, int64_t d, uint16_t* dst);
void attend_bf16_avx512bf16(const float* q, int64_t n_q, int64_t d_k, const uint16_t* K, int64_t n_keys,
                            const uint16_t* Vp, int64_t d_v, float scale, float* out, bool causal);
template <class KR, class VR>
void attend_rows_avx512bf16(const float* q, int64_t n_q, int64_t d_k, KR K, int64_t k_stride, int64_t n_keys, VR V,
                            int64_t v_stride, int64_t d_v, float scale, float* out, float* lse, bool causal);
#endif

bool attend_bf16_available(int64_t d_k, int64_t d_v) {
  return bf16_dot_products() && d_k % 32 == 0 && d_v % 16 == 0 && d_k <= 1024;
}

namespace {

// KR, VR: the keys' and values' row pointer types (R1_ATTENTION_ROW_PAIRS); each kernel has every pair.
template <class KR, class VR>
void dispatch(const float* q, int64_t n_q, int64_t d_k, KR K, int64_t k_stride, int64_t n_keys, VR V,
              int64_t v_stride, int64_t d_v, float scale, float* out, float* scores, float* lse, bool causal) {
#if defined(R1_HAVE_X86_KERNELS)
  // Follows the matmul backend (so R1_MATMUL_BACKEND=avx2 gives the AVX2 kernel, =scalar the scalar one);
  // every x86 backend but scalar implies AVX2 + FMA.
  const char* be = matmul_backend();
  const bool avx512 = std::strncmp(be, "avx512", 6) == 0, avx2 = avx512 || std::strcmp(be, "avx2") == 0;
  // bf16 products while they are on (ops/matmul.h; the cache rows packed to bf16 block by block).
  if (avx512 && attend_bf16_available(d_k, d_v) && d_v <= 1024) {
    return attend_rows_avx512bf16(q, n_q, d_k, K, k_stride, n_keys, V, v_stride, d_v, scale, out, lse, causal);
  }
  if (avx512 && d_k % 16 == 0 && d_v % 16 == 0) {
    return attend_avx512(q, n_q, d_k, K, k_stride, n_keys, V, v_stride, d_v, scale, out, scores, lse, causal);
  }
  if (avx2 && d_k % 8 == 0 && d_v % 8 == 0) {
    return attend_avx2(q, n_q, d_k, K, k_stride, n_keys, V, v_stride, d_v, scale, out, scores, lse, causal);
  }
#endif
#if defined(R1_HAVE_NEON_KERNELS)
  // Follows the matmul backend too: R1_MATMUL_BACKEND=scalar gives the scalar kernel.
  if (std::strncmp(matmul_backend(), "neon", 4) == 0 && d_k % 4 == 0 && d_v % 4 == 0) {
    return attend_neon(q, n_q, d_k, K, k_stride, n_keys, V, v_stride, d_v, scale, out, scores, lse, causal);
  }
#endif
  attend_scalar(q, n_q, d_k, K, k_stride, n_keys, V, v_stride, d_v, scale, out, scores, lse, causal);
}

}  // namespace

void attend(const float* q, int64_t n_q, int64_t d_k, const float* K, int64_t k_stride, int64_t n_keys, const float* V,
            int64_t v_stride, int64_t d_v, float scale, float* out, float* scores) {
  dispatch(q, n_q, d_k, K, k_stride, n_keys, V, v_stride, d_v, scale, out, scores, nullptr, false);
}

void attend(const float* q, int64_t n_q, int64_t d_k, const uint16_t* K, int64_t k_stride, int64_t n_keys,
            const uint16_t* V, int64_t v_stride, int64_t d_v, float scale, float* out, float* scores) {
  dispatch(q, n_q, d_k, K, k_stride, n_keys, V, v_stride, d_v, scale, out, scores, nullptr, false);
}

void attend(const float* q, int64_t n_q, int64_t d_k, Q8Ptr K, int64_t k_stride, int64_t n_keys, Q8Ptr V,
            int64_t v_stride, int64_t d_v, float scale, float* out, float* scores) {
  if (k_stride % 32 != 0 || v_stride % 32 != 0 || K.e % 32 != 0 || V.e % 32 != 0) {
    fail("attention: Q8_0 rows must start on a block (strides ", k_stride, " / ", v_stride, ")");
  }
  dispatch(q, n_q, d_k, K, k_stride, n_keys, V, v_stride, d_v, scale, out, scores, nullptr, false);
}

namespace {

// f(K, V) with the keys and values as the row pointers of their types (F32, F16, Q8_0 or Q4_0, block
// types with strides of whole blocks); anything else throws r1::Error naming `what`.
template <class F>
void with_typed_rows(DType k_type, const void* K, int64_t k_stride, DType v_type, const void* V, int64_t v_stride,
                     const char* what, F&& f) {
  if ((is_block_row_type(k_type) && k_stride % 32 != 0) || (is_block_row_type(v_type) && v_stride % 32 != 0)) {
    fail(what, ": ", dtype_name(k_type), " / ", dtype_name(v_type), " rows must start on a block (strides ", k_stride,
         " / ", v_stride, ")");
  }
  with_row_pointer(k_type, K, what, [&](auto Kt) { with_row_pointer(v_type, V, what, [&](auto Vt) { f(Kt, Vt); }); });
}

}  // namespace

void attend(DType k_type, DType v_type, const float* q, int64_t n_q, int64_t d_k, const void* K, int64_t k_stride,
            int64_t n_keys, const void* V, int64_t v_stride, int64_t d_v, float scale, float* out, float* scores) {
  with_typed_rows(k_type, K, k_stride, v_type, V, v_stride, "attention", [&](auto Kt, auto Vt) {
    dispatch(q, n_q, d_k, Kt, k_stride, n_keys, Vt, v_stride, d_v, scale, out, scores, nullptr, false);
  });
}

void attend(DType type, const float* q, int64_t n_q, int64_t d_k, const void* K, int64_t k_stride, int64_t n_keys,
            const void* V, int64_t v_stride, int64_t d_v, float scale, float* out, float* scores) {
  attend(type, type, q, n_q, d_k, K, k_stride, n_keys, V, v_stride, d_v, scale, out, scores);
}

namespace {

void check_bf16(DType type, int64_t stride, int64_t d) {
  if (!is_cache_row_type(type)) fail("pack_bf16: rows of ", dtype_name(type), " (f32, f16, q8_0 or q4_0)");
  if (is_block_row_type(type) && stride % 32 != 0) {
    fail("pack_bf16: ", dtype_name(type), " rows ", stride, " apart (not whole blocks)");
  }
  if (!attend_bf16_available(32, 16)) fail("attend_bf16: no AVX-512 BF16 here, or bf16 products are off");
  if (d % 16 != 0) fail("pack_bf16: width ", d, " is not a multiple of 16");
}

}  // namespace

void pack_bf16_rows(DType type, const void* rows, int64_t stride, int64_t n, int64_t d, uint16_t* dst) {
  check_bf16(type, stride, d);
  if (d % 32 != 0 || stride < d) fail("pack_bf16_rows: width ", d, " (stride ", stride, ") is not a multiple of 32");
#if defined(R1_HAVE_X86_KERNELS)
  pack_bf16_rows_avx512bf16(type, rows, stride, n, d, dst);
#else
  (void)rows, (void)n, (void)dst;
#endif
}

void pack_bf16_pairs(DType type, const void* rows, int64_t stride, int64_t n, int64_t d, uint16_t* dst) {
  check_bf16(type, stride, d);
  if (stride < d) fail("pack_bf16_pairs: stride ", stride, " is below the width ", d);
#if defined(R1_HAVE_X86_KERNELS)
  pack_bf16_pairs_avx512bf16(type, rows, stride, n, d, dst);
#else
  (void)rows, (void)n, (void)dst;
#endif
}

void attend_bf16(const float* q, int64_t n_q, int64_t d_k, const uint16_t* K, int64_t n_keys, const uint16_t* Vp,
                 int64_t d_v, float scale, float* out, bool causal) {
  if (!attend_bf16_available(d_k, d_v)) fail("attend_bf16: not available for ", d_k, " / ", d_v, " here");
  if (causal && n_q > n_keys) fail("attend_bf16: ", n_q, " causal queries need at least as many keys, not ", n_keys);
#if defined(R1_HAVE_X86_KERNELS)
  attend_bf16_avx512bf16(q, n_q, d_k, K, n_keys, Vp, d_v, scale, out, causal);
#else
  (void)q, (void)n_q, (void)K, (void)n_keys, (void)Vp, (void)scale, (void)out, (void)causal;
#endif
}

void attend_part(DType k_type, DType v_type, const float* q, int64_t n_q, int64_t d_k, const void* K, int64_t k_stride,
                 int64_t k0, int64_t k1, const void* V, int64_t v_stride, int64_t d_v, float scale, float* out,
                 float* lse, float* scores) {
  if (k0 < 0 || k1 <= k0) fail("attend_part: empty or negative key range [", k0, ", ", k1, ")");
  with_typed_rows(k_type, K, k_stride, v_type, V, v_stride, "attend_part", [&](auto Kt, auto Vt) {
    dispatch(q, n_q, d_k, Kt + k0 * k_stride, k_stride, k1 - k0, Vt + k0 * v_stride, v_stride, d_v, scale, out, scores,
             lse, false);
  });
}

void merge_attention_parts(int64_t n_parts, int64_t n_q, int64_t d_v, const float* outs, const float* lses,
                           float* out) {
  for (int64_t i = 0; i < n_q; ++i) {
    float top = -std::numeric_limits<float>::infinity();
    for (int64_t p = 0; p < n_parts; ++p) top = std::max(top, lses[p * n_q + i]);
    float* o = out + i * d_v;
    std::fill(o, o + d_v, 0.0f);
    if (top == -std::numeric_limits<float>::infinity()) continue;  // no part saw a key
    double total = 0;
    for (int64_t p = 0; p < n_parts; ++p) total += std::exp(double(lses[p * n_q + i]) - top);
    for (int64_t p = 0; p < n_parts; ++p) {
      const float w = static_cast<float>(std::exp(double(lses[p * n_q + i]) - top) / total);
      if (w == 0.0f) continue;
      const float* op = outs + (p * n_q + i) * d_v;
      for (int64_t j = 0; j < d_v; ++j) o[j] += w * op[j];
    }
  }
}

void attend_causal(const float* q, int64_t n_q, int64_t d_k, const float* K, int64_t k_stride, int64_t n_keys,
                   const float* V, int64_t v_stride, int64_t d_v, float scale, float* out, float* scores) {
  if (n_q > n_keys) fail("attend_causal: ", n_q, " queries need at least as many keys, not ", n_keys);
  dispatch(q, n_q, d_k, K, k_stride, n_keys, V, v_stride, d_v, scale, out, scores, nullptr, true);
}

void attend_causal(const float* q, int64_t n_q, int64_t d_k, const uint16_t* K, int64_t k_stride, int64_t n_keys,
                   const uint16_t* V, int64_t v_stride, int64_t d_v, float scale, float* out, float* scores) {
  if (n_q > n_keys) fail("attend_causal: ", n_q, " queries need at least as many keys, not ", n_keys);
  dispatch(q, n_q, d_k, K, k_stride, n_keys, V, v_stride, d_v, scale, out, scores, nullptr, true);
}

}  // namespace r1
