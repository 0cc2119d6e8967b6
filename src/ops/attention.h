// Softmax attention of a few queries that see the same keys: the query heads of one token that
// share a key/value head (GQA), or MLA's heads against the latent cache.
//   out_q = Σ_{t < n_keys} softmax_t(scale · q·k_t) · v_t
// q [n_q][d_k] and out [n_q][d_v] contiguous; key t at K + t·k_stride (d_k floats), value t at
// V + t·v_stride (d_v floats; MLA's values are the first d_v floats of its key rows);
// scores: scratch of n_q · n_keys floats. With an AVX-512 matmul backend (matmul_backend()), d_k
// and d_v multiples of 16 take the AVX-512 kernel (attention_avx512.cc); with those or the AVX2
// backend, multiples of 8 take the AVX2 kernel (attention_avx2.cc); with a NEON backend, multiples of 4
// take the NEON kernel (attention_neon.cc); anything else the scalar one. Keys and values are float32,
// or IEEE F16 bits (uint16_t: a dense model's F16 KV cache, model/kv_cache.h), widened as they are read.
#pragma once
#include <cstdint>

#include "core/dtype.h"

namespace r1 {

void attend(const float* q, int64_t n_q, int64_t d_k, const float* K, int64_t k_stride, int64_t n_keys, const float* V,
            int64_t v_stride, int64_t d_v, float scale, float* out, float* scores);
void attend(const float* q, int64_t n_q, int64_t d_k, const uint16_t* K, int64_t k_stride, int64_t n_keys,
            const uint16_t* V, int64_t v_stride, int64_t d_v, float scale, float* out, float* scores);

// The same over rows stored as `type` (F32 or F16, the attention caches' types; anything else
// throws r1::Error), strides in elements.
void attend(DType type, const float* q, int64_t n_q, int64_t d_k, const void* K, int64_t k_stride, int64_t n_keys,
            const void* V, int64_t v_stride, int64_t d_v, float scale, float* out, float* scores);

// The same for the queries of n_q consecutive tokens of one head, the last of which sees n_keys keys:
// query i sees only the first n_keys − (n_q − 1 − i) keys (causal mask). The block shares each key
// row it loads between its queries (MLA's decompressed prefill, mla.cc). n_keys >= n_q.
void attend_causal(const float* q, int64_t n_q, int64_t d_k, const float* K, int64_t k_stride, int64_t n_keys,
                   const float* V, int64_t v_stride, int64_t d_v, float scale, float* out, float* scores);
void attend_causal(const float* q, int64_t n_q, int64_t d_k, const uint16_t* K, int64_t k_stride, int64_t n_keys,
                   const uint16_t* V, int64_t v_stride, int64_t d_v, float scale, float* out, float* scores);

// The kernels (causal as attend_causal). The scalar one is always available (tests compare each
// with a float64 reference).
void attend_scalar(const float* q, int64_t n_q, int64_t d_k, const float* K, int64_t k_stride, int64_t n_keys,
                   const float* V, int64_t v_stride, int64_t d_v, float scale, float* out, float* scores, bool causal);
void attend_scalar(const float* q, int64_t n_q, int64_t d_k, const uint16_t* K, int64_t k_stride, int64_t n_keys,
                   const uint16_t* V, int64_t v_stride, int64_t d_v, float scale, float* out, float* scores, bool causal);

#if defined(R1_HAVE_X86_KERNELS)
void attend_avx512(const float* q, int64_t n_q, int64_t d_k, const float* K, int64_t k_stride, int64_t n_keys,
                   const float* V, int64_t v_stride, int64_t d_v, float scale, float* out, float* scores, bool causal);
void attend_avx512(const float* q, int64_t n_q, int64_t d_k, const uint16_t* K, int64_t k_stride, int64_t n_keys,
                   const uint16_t* V, int64_t v_stride, int64_t d_v, float scale, float* out, float* scores,
                   bool causal);
void attend_avx2(const float* q, int64_t n_q, int64_t d_k, const float* K, int64_t k_stride, int64_t n_keys,
                 const float* V, int64_t v_stride, int64_t d_v, float scale, float* out, float* scores, bool causal);
void attend_avx2(const float* q, int64_t n_q, int64_t d_k, const uint16_t* K, int64_t k_stride, int64_t n_keys,
                 const uint16_t* V, int64_t v_stride, int64_t d_v, float scale, float* out, float* scores, bool causal);
#endif
#if defined(R1_HAVE_NEON_KERNELS)
void attend_neon(const float* q, int64_t n_q, int64_t d_k, const float* K, int64_t k_stride, int64_t n_keys,
                 const float* V, int64_t v_stride, int64_t d_v, float scale, float* out, float* scores, bool causal);
void attend_neon(const float* q, int64_t n_q, int64_t d_k, const uint16_t* K, int64_t k_stride, int64_t n_keys,
                 const uint16_t* V, int64_t v_stride, int64_t d_v, float scale, float* out, float* scores, bool causal);
#endif

// Keys query i of a block sees (attend: all n_keys; attend_causal: the mask above).
inline int64_t keys_seen(int64_t i, int64_t n_q, int64_t n_keys, bool causal) {
  return causal ? n_keys - (n_q - 1 - i) : n_keys;
}

}  // namespace r1
