// Softmax attention of a few queries that see the same keys: the query heads of one token that
// share a key/value head (GQA), or MLA's heads against the latent cache.
//   out_q = Σ_{t < n_keys} softmax_t(scale · q·k_t) · v_t
// q [n_q][d_k] and out [n_q][d_v] contiguous; key t at K + t·k_stride (d_k floats), value t at
// V + t·v_stride (d_v floats; MLA's values are the first d_v floats of its key rows);
// scores: scratch of n_q · n_keys floats. With an AVX-512 matmul backend (matmul_backend()), d_k
// and d_v multiples of 16 take the AVX-512 kernel (attention_avx512.cc); with those or the AVX2
// backend, multiples of 8 take the AVX2 kernel (attention_avx2.cc); with a NEON backend, multiples of 4
// take the NEON kernel (attention_neon.cc); anything else the scalar one. Keys and values are float32,
// IEEE F16 bits (uint16_t: the F16 attention caches, model/kv_cache.h), Q8_0 or Q4_0 blocks (Q8Ptr,
// Q4Ptr, ops/block_rows.h: `-ctk q8_0`, `-ctk q4_0`; strides multiples of 32), each widened as it is
// read; keys and values may be of different types (`-ctk q8_0 -ctv q4_0`).
#pragma once
#include <cstdint>

#include "core/dtype.h"
#include "ops/block_rows.h"

namespace r1 {

void attend(const float* q, int64_t n_q, int64_t d_k, const float* K, int64_t k_stride, int64_t n_keys, const float* V,
            int64_t v_stride, int64_t d_v, float scale, float* out, float* scores);
void attend(const float* q, int64_t n_q, int64_t d_k, const uint16_t* K, int64_t k_stride, int64_t n_keys,
            const uint16_t* V, int64_t v_stride, int64_t d_v, float scale, float* out, float* scores);

void attend(const float* q, int64_t n_q, int64_t d_k, Q8Ptr K, int64_t k_stride, int64_t n_keys, Q8Ptr V,
            int64_t v_stride, int64_t d_v, float scale, float* out, float* scores);

// The same over keys stored as k_type and values as v_type (each one of the attention caches' types,
// llama.cpp's -ctk / -ctv: F32, F16, BF16, Q8_0, Q4_0, Q4_1, IQ4_NL, Q5_0, Q5_1; anything else, or block
// strides that are not multiples of 32, throws r1::Error), strides in elements. The kernels read F32,
// F16, Q8_0 and Q4_0 rows in place; rows of the others (or a pair with one of them) are widened to
// float32: by the bf16 kernel 16 positions at a time as it packs them, for the float32 kernels 256
// positions at a time. The one-type form stores both as `type`.
void attend(DType k_type, DType v_type, const float* q, int64_t n_q, int64_t d_k, const void* K, int64_t k_stride,
            int64_t n_keys, const void* V, int64_t v_stride, int64_t d_v, float scale, float* out, float* scores);
void attend(DType type, const float* q, int64_t n_q, int64_t d_k, const void* K, int64_t k_stride, int64_t n_keys,
            const void* V, int64_t v_stride, int64_t d_v, float scale, float* out, float* scores);

// attend() for the query heads of n_tok consecutive tokens (token t's n_q queries at q + t · q_stride,
// its output at out + t · out_stride), token t seeing the first n_keys0 + t keys. Where the cache rows
// are widened for float32 kernels (attention_widens_rows), each 256-position chunk is widened once for
// all of the tokens (attend() per token widens its whole prefix again) and each token's parts merge
// by their log-sum-exps; otherwise attend() per token.
void attend_tokens(DType k_type, DType v_type, const float* q, int64_t q_stride, int64_t n_tok, int64_t n_q,
                   int64_t d_k, const void* K, int64_t k_stride, int64_t n_keys0, const void* V, int64_t v_stride,
                   int64_t d_v, float scale, float* out, int64_t out_stride, float* scores);
// Whether attend() widens rows of these types to float32 chunks: a type the kernels do not read in place,
// and no bf16 kernel that widens them itself (AVX-512 BF16 with bf16 products on).
bool attention_widens_rows(DType k_type, DType v_type, int64_t d_k, int64_t d_v);

// The same for the queries of n_q consecutive tokens of one head, the last of which sees n_keys keys:
// query i sees only the first n_keys − (n_q − 1 − i) keys (causal mask). The block shares each key
// row it loads between its queries (MLA's decompressed prefill, mla.cc). n_keys >= n_q.
void attend_causal(const float* q, int64_t n_q, int64_t d_k, const float* K, int64_t k_stride, int64_t n_keys,
                   const float* V, int64_t v_stride, int64_t d_v, float scale, float* out, float* scores);
void attend_causal(const float* q, int64_t n_q, int64_t d_k, const uint16_t* K, int64_t k_stride, int64_t n_keys,
                   const uint16_t* V, int64_t v_stride, int64_t d_v, float scale, float* out, float* scores);

// The kernels (causal as attend_causal; lse, when not null, gets each query's log-sum-exp as
// attend_part's), for keys and values of any two of the row pointer types
// (KR, VR: const float*, const uint16_t* (F16 bits), Q8Ptr, Q4Ptr; R1_ATTENTION_ROW_PAIRS lists the
// pairs each kernel file instantiates). The scalar one is always available (tests compare each with a
// float64 reference).
// X(A, KR, VR) for every pair; R1_INSTANTIATE_ATTENTION_KERNEL(name) instantiates a kernel of the
// signature below for all of them.
#define R1_ATTENTION_ROWS_WITH(X, A, KR) X(A, KR, const float*) X(A, KR, const uint16_t*) X(A, KR, Q8Ptr) X(A, KR, Q4Ptr)
#define R1_ATTENTION_ROW_PAIRS(X, A)                                                       \
  R1_ATTENTION_ROWS_WITH(X, A, const float*) R1_ATTENTION_ROWS_WITH(X, A, const uint16_t*) \
      R1_ATTENTION_ROWS_WITH(X, A, Q8Ptr) R1_ATTENTION_ROWS_WITH(X, A, Q4Ptr)
#define R1_ATTENTION_KERNEL_INSTANCE(name, KR, VR)                                                                    \
  template void name<KR, VR>(const float*, int64_t, int64_t, KR, int64_t, int64_t, VR, int64_t, int64_t, float, float*, \
                             float*, float*, bool);
#define R1_INSTANTIATE_ATTENTION_KERNEL(name) R1_ATTENTION_ROW_PAIRS(R1_ATTENTION_KERNEL_INSTANCE, name)

template <class KR, class VR>
void attend_scalar(const float* q, int64_t n_q, int64_t d_k, KR K, int64_t k_stride, int64_t n_keys, VR V,
                   int64_t v_stride, int64_t d_v, float scale, float* out, float* scores, float* lse, bool causal);
#if defined(R1_HAVE_X86_KERNELS)
template <class KR, class VR>
void attend_avx512(const float* q, int64_t n_q, int64_t d_k, KR K, int64_t k_stride, int64_t n_keys, VR V,
                   int64_t v_stride, int64_t d_v, float scale, float* out, float* scores, float* lse, bool causal);
template <class KR, class VR>
void attend_avx2(const float* q, int64_t n_q, int64_t d_k, KR K, int64_t k_stride, int64_t n_keys, VR V,
                 int64_t v_stride, int64_t d_v, float scale, float* out, float* scores, float* lse, bool causal);
#endif
#if defined(R1_HAVE_NEON_KERNELS)
template <class KR, class VR>
void attend_neon(const float* q, int64_t n_q, int64_t d_k, KR K, int64_t k_stride, int64_t n_keys, VR V,
                 int64_t v_stride, int64_t d_v, float scale, float* out, float* scores, float* lse, bool causal);
#endif

// Prompt attention in bf16 products: on CPUs with AVX-512 BF16, while bf16_dot_products() (ops/matmul.h)
// is on, vdpbf16ps takes twice the products per instruction of float32 FMAs -- prompt attention over a
// long context is bound by them. Queries, keys, values and the softmax's probabilities are rounded
// to bf16 (8 significant bits) for the products; sums, softmax and outputs stay float32. The keys
// and values are packed once per pass (pack_bf16_rows / pack_bf16_pairs, from cache rows of any cache
// type) and shared by all of the pass's queries.
bool attend_bf16_available(int64_t d_k, int64_t d_v);  // this CPU, switch on, d_k % 32 == 0, d_v % 16 == 0
// dst [n][d] bf16 from n rows of `type`, `stride` values apart (Q8_0, Q4_0: a multiple of 32), of which the
// first d are taken.
void pack_bf16_rows(DType type, const void* rows, int64_t stride, int64_t n, int64_t d, uint16_t* dst);
// dst [(n + 1) / 2][d][2] bf16: positions 2u and 2u + 1 side by side for each column (zero after an
// odd n), the layout in which one instruction sums two positions' products.
void pack_bf16_pairs(DType type, const void* rows, int64_t stride, int64_t n, int64_t d, uint16_t* dst);
// attend() (attend_causal() when causal) of n_q queries over the first n_keys packed keys K
// and value pairs Vp (packed from at least n_keys positions). Its softmax runs along the keys, 16 at a
// time (attention_avx512bf16.cc): no scores scratch.
void attend_bf16(const float* q, int64_t n_q, int64_t d_k, const uint16_t* K, int64_t n_keys, const uint16_t* Vp,
                 int64_t d_v, float scale, float* out, bool causal = false);

// Attention split over the keys (as flash-decoding splits it between threads): attend_part gives the
// attention over the keys k0 .. k1 − 1 only (keys of k_type at K, values of v_type at V, as
// attend(DType, DType); scores: scratch of n_q · (k1 − k0) floats) and each query's log-sum-exp of its
// scores lse_i = ln Σ_t e^(s_it), from whichever kernel attend() would use; merge_attention_parts
// combines parts over disjoint key ranges (outs [n_parts][n_q][d_v], lses [n_parts][n_q]) into the
// attention over their union, each part weighted by e^(lse_p − ln Σ_p e^lse_p), and (lse not null)
// the union's log-sum-exps ln Σ_p e^lse_p.
void attend_part(DType k_type, DType v_type, const float* q, int64_t n_q, int64_t d_k, const void* K, int64_t k_stride,
                 int64_t k0, int64_t k1, const void* V, int64_t v_stride, int64_t d_v, float scale, float* out,
                 float* lse, float* scores);
void merge_attention_parts(int64_t n_parts, int64_t n_q, int64_t d_v, const float* outs, const float* lses, float* out,
                           float* lse = nullptr);

// Keys query i of a block sees (attend: all n_keys; attend_causal: the mask above).
inline int64_t keys_seen(int64_t i, int64_t n_q, int64_t n_keys, bool causal) {
  return causal ? n_keys - (n_q - 1 - i) : n_keys;
}

}  // namespace r1
