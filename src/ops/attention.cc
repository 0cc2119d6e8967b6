#include "ops/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/error.h"
#include "ops/convert.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/quant.h"

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
void attend_widened_avx512bf16(const float* q, int64_t n_q, int64_t d_k, DType k_type, const void* K, int64_t k_stride,
                               int64_t n_keys, DType v_type, const void* V, int64_t v_stride, int64_t d_v, float scale,
                               float* out, float* lse);
template <class KR, class VR>
void attend_rows_avx512bf16(const float* q, int64_t n_q, int64_t d_k, KR K, int64_t k_stride, int64_t n_keys, VR V,
                            int64_t v_stride, int64_t d_v, float scale, float* out, float* lse, bool causal);
#endif

#if defined(R1_HAVE_X86_KERNELS) || defined(R1_HAVE_NEON_KERNELS)
// A row of n values of a cache type to float32 at y, as dequantize_row computes them (within an ulp
// where a multiply and an add are fused): widen_row_avx2 (attention_avx2.cc) every cache type,
// widen_row_neon (vec_dot_neon.cc) BF16, Q4_1, Q5_0, Q5_1 and IQ4_NL; n whole blocks of the block
// types, F16 / BF16 a multiple of 8 (4 on NEON). False (nothing written) where they cannot.
bool widen_row_avx2(DType type, const void* row, float* y, int64_t n);
bool widen_row_neon(DType type, const void* row, float* y, int64_t n);
#endif

bool attend_bf16_available(int64_t d_k, int64_t d_v) {
  return bf16_dot_products() && d_k % 32 == 0 && d_v % 16 == 0 && d_k <= 1024;
}

namespace {

// Whether attention over cache rows takes the bf16 kernel (attention_avx512bf16.cc): bf16 products
// on, an AVX-512 backend, widths it takes.
[[maybe_unused]] bool bf16_rows_kernel(int64_t d_k, int64_t d_v) {
#if defined(R1_HAVE_X86_KERNELS)
  return std::strncmp(matmul_backend(), "avx512", 6) == 0 && attend_bf16_available(d_k, d_v) && d_v <= 1024;
#else
  (void)d_k, (void)d_v;
  return false;
#endif
}

// KR, VR: the keys' and values' row pointer types (R1_ATTENTION_ROW_PAIRS); each kernel has every pair.
template <class KR, class VR>
void dispatch(const float* q, int64_t n_q, int64_t d_k, KR K, int64_t k_stride, int64_t n_keys, VR V,
              int64_t v_stride, int64_t d_v, float scale, float* out, float* scores, float* lse, bool causal) {
#if defined(R1_HAVE_X86_KERNELS)
  // Follows the matmul backend (so R1_MATMUL_BACKEND=avx2 gives the AVX2 kernel, =scalar the scalar one);
  // every x86 backend but scalar implies AVX2 + FMA.
  const char* be = matmul_backend();
  const bool avx512 = std::strncmp(be, "avx512", 6) == 0, avx2 = avx512 || std::strncmp(be, "avx2", 4) == 0;
  // bf16 products while they are on (ops/matmul.h; the cache rows packed to bf16 block by block).
  if (bf16_rows_kernel(d_k, d_v)) {
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

// Throws r1::Error naming `what` unless both types are cache types (block_rows.h) whose rows start on
// a block.
void check_rows(DType k_type, int64_t k_stride, DType v_type, int64_t v_stride, const char* what) {
  for (DType t : {k_type, v_type}) {
    if (!is_cache_row_type(t)) {
      fail(what, ": rows of ", dtype_name(t), " (f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0 or q5_1)");
    }
  }
  if ((is_block_row_type(k_type) && k_stride % 32 != 0) || (is_block_row_type(v_type) && v_stride % 32 != 0)) {
    fail(what, ": ", dtype_name(k_type), " / ", dtype_name(v_type), " rows must start on a block (strides ", k_stride,
         " / ", v_stride, ")");
  }
}

// f(K, V) with the keys and values as the row pointers of their types (both kernel row types).
template <class F>
void with_typed_rows(DType k_type, const void* K, DType v_type, const void* V, const char* what, F&& f) {
  with_row_pointer(k_type, K, what, [&](auto Kt) { with_row_pointer(v_type, V, what, [&](auto Vt) { f(Kt, Vt); }); });
}

// Cache rows the kernels do not read in place (BF16, Q4_1, Q5_0, Q5_1, IQ4_NL) are widened to float32
// kWidenedKeys positions at a time: a chunk's keys and values stay in L2 (MLA's 576-wide latent rows:
// 590 KB) while the float32 kernel attends over them, and the chunks' results merge by their
// log-sum-exps (merge_attention_parts), as the threads' key ranges of a decode do.
constexpr int64_t kWidenedKeys = 256;

// Rows t0 .. t0 + n − 1 of `type` (row t at rows + t · stride values), their first
// widened_width(type, d) values in float32 to dst, rows widened_width apart. On x86 backends with AVX2
// (all but scalar) through widen_row_avx2 (attention_avx2.cc), ~10× the scalar dequantizer's speed, on
// the NEON ones through widen_row_neon; with the scalar backend through dequantize_row.
void widen_rows(DType type, const void* rows, int64_t stride, int64_t t0, int64_t n, int64_t d, float* dst) {
  const size_t row = row_bytes(type, stride);
  const int64_t width = widened_width(type, d);
  [[maybe_unused]] const bool simd = std::strcmp(matmul_backend(), "scalar") != 0;
  for (int64_t t = 0; t < n; ++t) {
    const void* src = static_cast<const uint8_t*>(rows) + size_t(t0 + t) * row;
#if defined(R1_HAVE_X86_KERNELS)
    if (simd && widen_row_avx2(type, src, dst + t * width, width)) continue;
#elif defined(R1_HAVE_NEON_KERNELS)
    if (simd && widen_row_neon(type, src, dst + t * width, width)) continue;
#endif
    dequantize_row(type, src, dst + t * width, width);
  }
}

// A chunk of up to kWidenedKeys positions' keys and values widened to float32 (for the float32 kernels):
// K at k, V at v, rows kw and vw floats apart. MLA's values are the first d_v values of its key rows:
// those rows are widened once and v is k.
struct WidenedChunk {
  DType k_type, v_type;
  const void *K, *V;
  int64_t k_stride, v_stride, d_k, d_v;
  bool shared = K == V && k_type == v_type && k_stride == v_stride;
  int64_t kw = widened_width(k_type, shared ? std::max(d_k, d_v) : d_k);
  int64_t vw = shared ? kw : widened_width(v_type, d_v);
  size_t floats() const { return size_t(kWidenedKeys * (kw + (shared ? 0 : vw))); }
  // Positions t0 .. t0 + n − 1 into buf (floats() long); k and v then point into it.
  void widen(int64_t t0, int64_t n, float* buf) {
    k = buf, v = shared ? buf : buf + kWidenedKeys * kw;
    widen_rows(k_type, K, k_stride, t0, n, shared ? std::max(d_k, d_v) : d_k, buf);
    if (!shared) widen_rows(v_type, V, v_stride, t0, n, d_v, buf + kWidenedKeys * kw);
  }
  const float *k = nullptr, *v = nullptr;
};

// attend_part over keys k0 .. k1 − 1 of rows that are not both kernel row types (lse may be null).
// The bf16 kernel widens them itself, 16 positions at a time as it packs them (a float32 chunk in
// between made decode attention at depth ~2.2× slower than over Q4_0 rows, BM_attention_cold_typed).
void attend_widened(DType k_type, const void* K, int64_t k_stride, DType v_type, const void* V, int64_t v_stride,
                    const float* q, int64_t n_q, int64_t d_k, int64_t k0, int64_t k1, int64_t d_v, float scale,
                    float* out, float* lse, float* scores) {
#if defined(R1_HAVE_X86_KERNELS)
  if (bf16_rows_kernel(d_k, d_v)) {
    const auto at = [](DType type, const void* rows, int64_t stride, int64_t t) {
      return static_cast<const uint8_t*>(rows) + size_t(t) * row_bytes(type, stride);
    };
    return attend_widened_avx512bf16(q, n_q, d_k, k_type, at(k_type, K, k_stride, k0), k_stride, k1 - k0, v_type,
                                     at(v_type, V, v_stride, k0), v_stride, d_v, scale, out, lse);
  }
#endif
  WidenedChunk chunk{k_type, v_type, K, V, k_stride, v_stride, d_k, d_v};
  const int64_t n_chunks = (k1 - k0 + kWidenedKeys - 1) / kWidenedKeys;
  thread_local std::vector<float> scratch;
  const size_t rows_size = chunk.floats();
  const size_t parts_size = n_chunks > 1 ? size_t(n_chunks * n_q * (d_v + 1)) : 0;
  if (scratch.size() < rows_size + parts_size) scratch.resize(rows_size + parts_size);
  float* outs = scratch.data() + rows_size;
  float* lses = outs + n_chunks * n_q * d_v;
  for (int64_t c = 0; c < n_chunks; ++c) {
    const int64_t t0 = k0 + c * kWidenedKeys, m = std::min(kWidenedKeys, k1 - t0);
    chunk.widen(t0, m, scratch.data());
    float* o = n_chunks > 1 ? outs + c * n_q * d_v : out;
    float* l = n_chunks > 1 ? lses + c * n_q : lse;
    dispatch(q, n_q, d_k, chunk.k, chunk.kw, m, chunk.v, chunk.vw, d_v, scale, o, scores, l, false);
  }
  if (n_chunks > 1) merge_attention_parts(n_chunks, n_q, d_v, outs, lses, out, lse);
  if (n_chunks == 0) {  // no keys: what the kernels give
    std::fill(out, out + n_q * d_v, 0.0f);
    if (lse != nullptr) std::fill(lse, lse + n_q, -std::numeric_limits<float>::infinity());
  }
}

// attend_part without its range check (attend() over no keys gives zeros).
void attend_range(DType k_type, DType v_type, const float* q, int64_t n_q, int64_t d_k, const void* K,
                  int64_t k_stride, int64_t k0, int64_t k1, const void* V, int64_t v_stride, int64_t d_v, float scale,
                  float* out, float* lse, float* scores, const char* what) {
  check_rows(k_type, k_stride, v_type, v_stride, what);
  if (!is_kernel_row_type(k_type) || !is_kernel_row_type(v_type)) {
    return attend_widened(k_type, K, k_stride, v_type, V, v_stride, q, n_q, d_k, k0, k1, d_v, scale, out, lse, scores);
  }
  with_typed_rows(k_type, K, v_type, V, what, [&](auto Kt, auto Vt) {
    dispatch(q, n_q, d_k, Kt + k0 * k_stride, k_stride, k1 - k0, Vt + k0 * v_stride, v_stride, d_v, scale, out, scores,
             lse, false);
  });
}

}  // namespace

void attend(DType k_type, DType v_type, const float* q, int64_t n_q, int64_t d_k, const void* K, int64_t k_stride,
            int64_t n_keys, const void* V, int64_t v_stride, int64_t d_v, float scale, float* out, float* scores) {
  attend_range(k_type, v_type, q, n_q, d_k, K, k_stride, 0, n_keys, V, v_stride, d_v, scale, out, nullptr, scores,
               "attention");
}

void attend(DType type, const float* q, int64_t n_q, int64_t d_k, const void* K, int64_t k_stride, int64_t n_keys,
            const void* V, int64_t v_stride, int64_t d_v, float scale, float* out, float* scores) {
  attend(type, type, q, n_q, d_k, K, k_stride, n_keys, V, v_stride, d_v, scale, out, scores);
}

bool attention_widens_rows(DType k_type, DType v_type, int64_t d_k, int64_t d_v) {
  if (is_kernel_row_type(k_type) && is_kernel_row_type(v_type)) return false;
#if defined(R1_HAVE_X86_KERNELS)
  if (bf16_rows_kernel(d_k, d_v)) return false;
#endif
  (void)d_k, (void)d_v;
  return true;
}

void attend_tokens(DType k_type, DType v_type, const float* q, int64_t q_stride, int64_t n_tok, int64_t n_q,
                   int64_t d_k, const void* K, int64_t k_stride, int64_t n_keys0, const void* V, int64_t v_stride,
                   int64_t d_v, float scale, float* out, int64_t out_stride, float* scores) {
  if (n_tok < 0 || n_keys0 < 0) fail("attend_tokens: ", n_tok, " tokens over ", n_keys0, " keys");
  if (!attention_widens_rows(k_type, v_type, d_k, d_v) || n_tok == 1) {
    for (int64_t t = 0; t < n_tok; ++t)
      attend_range(k_type, v_type, q + t * q_stride, n_q, d_k, K, k_stride, 0, n_keys0 + t, V, v_stride, d_v, scale,
                   out + t * out_stride, nullptr, scores, "attention");
    return;
  }
  check_rows(k_type, k_stride, v_type, v_stride, "attention");
  // Each chunk of positions is widened once and attended by every token that sees some of it; a
  // token's parts merge into its output as they come (a running log-sum-exp per query).
  WidenedChunk chunk{k_type, v_type, K, V, k_stride, v_stride, d_k, d_v};
  thread_local std::vector<float> scratch;
  const size_t rows_size = chunk.floats();
  const size_t state_size = size_t(n_tok * n_q + 2 * n_q * (d_v + 1));
  if (scratch.size() < rows_size + state_size) scratch.resize(rows_size + state_size);
  float* lse = scratch.data() + rows_size;  // [n_tok][n_q]: each token's running log-sum-exps
  float* pair = lse + n_tok * n_q;          // [2][n_q][d_v]: the output so far, then the chunk's part
  float* pair_lse = pair + 2 * n_q * d_v;   // [2][n_q]
  for (int64_t t = 0; t < n_tok; ++t) {     // no keys yet: what the kernels give for none
    std::fill(out + t * out_stride, out + t * out_stride + n_q * d_v, 0.0f);
    std::fill(lse + t * n_q, lse + (t + 1) * n_q, -std::numeric_limits<float>::infinity());
  }
  const int64_t n_keys_last = n_keys0 + n_tok - 1;
  for (int64_t c0 = 0; c0 < n_keys_last; c0 += kWidenedKeys) {
    const int64_t m = std::min(kWidenedKeys, n_keys_last - c0);
    chunk.widen(c0, m, scratch.data());
    for (int64_t t = std::max<int64_t>(0, c0 + 1 - n_keys0); t < n_tok; ++t) {
      const int64_t seen = std::min(m, n_keys0 + t - c0);
      float* o = out + t * out_stride;
      float* l = lse + t * n_q;
      if (c0 == 0) {  // the first part is the output so far
        dispatch(q + t * q_stride, n_q, d_k, chunk.k, chunk.kw, seen, chunk.v, chunk.vw, d_v, scale, o, scores, l,
                 false);
        continue;
      }
      std::copy_n(o, n_q * d_v, pair);
      std::copy_n(l, n_q, pair_lse);
      dispatch(q + t * q_stride, n_q, d_k, chunk.k, chunk.kw, seen, chunk.v, chunk.vw, d_v, scale, pair + n_q * d_v,
               scores, pair_lse + n_q, false);
      merge_attention_parts(2, n_q, d_v, pair, pair_lse, o, l);
    }
  }
}

namespace {

void check_bf16(DType type, int64_t stride, int64_t d) {
  check_rows(type, stride, type, stride, "pack_bf16");
  if (!attend_bf16_available(32, 16)) fail("attend_bf16: no AVX-512 BF16 here, or bf16 products are off");
  if (d % 16 != 0) fail("pack_bf16: width ", d, " is not a multiple of 16");
}

// pack(F32 or the rows' own type, rows, stride, n rows from row t0, dst for row t0): rows of a type the
// kernels do not read in place go through float32, kWidenedKeys rows at a time (an even number, as
// value pairs need).
template <class Pack>
void pack_bf16(DType type, const void* rows, int64_t stride, int64_t n, int64_t d, uint16_t* dst, Pack&& pack) {
  if (is_kernel_row_type(type)) return pack(type, rows, stride, n, dst);
  thread_local std::vector<float> widened;
  widened.resize(size_t(kWidenedKeys * widened_width(type, d)));
  for (int64_t t0 = 0; t0 < n; t0 += kWidenedKeys) {
    const int64_t m = std::min(kWidenedKeys, n - t0);
    widen_rows(type, rows, stride, t0, m, d, widened.data());
    pack(DType::F32, widened.data(), widened_width(type, d), m, dst + t0 * d);
  }
}

}  // namespace

void pack_bf16_rows(DType type, const void* rows, int64_t stride, int64_t n, int64_t d, uint16_t* dst) {
  check_bf16(type, stride, d);
  if (d % 32 != 0 || stride < d) fail("pack_bf16_rows: width ", d, " (stride ", stride, ") is not a multiple of 32");
  pack_bf16(type, rows, stride, n, d, dst, [&](DType t, const void* r, int64_t s, int64_t m, uint16_t* to) {
#if defined(R1_HAVE_X86_KERNELS)
    pack_bf16_rows_avx512bf16(t, r, s, m, d, to);
#else
    (void)t, (void)r, (void)s, (void)m, (void)to;
#endif
  });
}

void pack_bf16_pairs(DType type, const void* rows, int64_t stride, int64_t n, int64_t d, uint16_t* dst) {
  check_bf16(type, stride, d);
  if (stride < d) fail("pack_bf16_pairs: stride ", stride, " is below the width ", d);
  pack_bf16(type, rows, stride, n, d, dst, [&](DType t, const void* r, int64_t s, int64_t m, uint16_t* to) {
#if defined(R1_HAVE_X86_KERNELS)
    pack_bf16_pairs_avx512bf16(t, r, s, m, d, to);
#else
    (void)t, (void)r, (void)s, (void)m, (void)to;
#endif
  });
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
  attend_range(k_type, v_type, q, n_q, d_k, K, k_stride, k0, k1, V, v_stride, d_v, scale, out, lse, scores,
               "attend_part");
}

void merge_attention_parts(int64_t n_parts, int64_t n_q, int64_t d_v, const float* outs, const float* lses,
                           float* out, float* lse) {
  for (int64_t i = 0; i < n_q; ++i) {
    float top = -std::numeric_limits<float>::infinity();
    for (int64_t p = 0; p < n_parts; ++p) top = std::max(top, lses[p * n_q + i]);
    float* o = out + i * d_v;
    std::fill(o, o + d_v, 0.0f);
    if (lse != nullptr) lse[i] = top;
    if (top == -std::numeric_limits<float>::infinity()) continue;  // no part saw a key
    double total = 0;
    for (int64_t p = 0; p < n_parts; ++p) total += std::exp(double(lses[p * n_q + i]) - top);
    if (lse != nullptr) lse[i] = top + static_cast<float>(std::log(total));
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
