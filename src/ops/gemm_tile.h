// Register-tiled matrix kernels: several weight rows × several tokens per pass, so each weight
// block is decoded once for all tokens of the tile and each activation block once for all rows.
// They sit beside the one-row dot products (vec_dot.h) and compute the same sums; matmul.cc uses
// a tile kernel when the CPU and the weight type have one, the dot products otherwise.
#pragma once
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "core/dtype.h"
#include "core/error.h"
#include "ops/matmul.h"  // kMaxFewTokens: the most tokens the one-pass kernels below take

namespace r1 {

// y[t * ldy + r] = (row r of w) · (activation row t of a), r < n_rows, t < n_tok.
// Rows are w_stride bytes apart, activation rows a_stride; both in the vec_dot.h formats.
using GemmTileFn = void (*)(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a,
                            size_t a_stride, int64_t n_tok, float* y, int64_t ldy);

// Scales of block-scaled weights (DeepSeek's FP8 checkpoints: a float per block × block square):
// row r (counted from the kernel's first row) at column c is w[r][c] · s[((row0 + r) / block) · cols + c / block].
struct BlockScales {
  const float* s;
  int64_t cols, block, row0;
};
// The same product for such weights (block % 32 == 0).
using GemmScaledTileFn = void (*)(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const BlockScales& scales,
                                  const void* a, size_t a_stride, int64_t n_tok, float* y, int64_t ldy);

// Kernels by weight type; null where none exists. Activations as for the dot products (vec_dot.h):
// Q8_0 blocks for Q8_0 / Q4_0 (k % 64 == 0), Q8_K for Q4_K / Q5_K / Q6_K, float32 for F32, F16,
// BF16 and F8_E4M3 (k % 16 == 0).
struct GemmTable {
  GemmTileFn q8_0 = nullptr, q4_0 = nullptr, q4_k = nullptr, q5_k = nullptr, q6_k = nullptr;
  GemmTileFn f32 = nullptr, f16 = nullptr, bf16 = nullptr, f8_e4m3 = nullptr;
  // Rows interleaved in groups of 8 (ops/repack.h; n_rows a multiple of 8, w at a group's start,
  // w_stride a plain row's bytes), the type's activations, any number of tokens (decode too).
  GemmTileFn q4_0_x8 = nullptr, q8_0_x8 = nullptr, q4_k_x8 = nullptr, q5_0_x8 = nullptr;
  GemmTileFn q4_1 = nullptr, q5_0 = nullptr, q5_1 = nullptr, iq4_nl = nullptr;  // Q8_0 activations, k % 64 == 0
};

// One token (decode): y[r] = (row r of w) · a for r < n_rows, rows w_stride bytes apart; a is one
// activation row in the vec_dot.h format. Rows are walked in order (one forward stream).
using GemvFn = void (*)(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, float* y);

// How far ahead of the bytes a step reads the AVX-512 one-row one-token kernels prefetch the weight stream (rows are
// contiguous, so near a row's end this lies in later rows; past the tensor's end it is a harmless
// hint). The hardware prefetcher alone kept one thread at ~28 GB/s on BM_gemv_cold (Q4_0); 16 KiB
// ahead gave ~34 (4 KiB: no gain, 32 KiB: as 16). The F16 / BF16 / F32 kernels use their own
// (gemv_avx512vnni.cc); the kernels for interleaved rows none (gemv_x8_avx512.cc says why).
constexpr size_t kGemvPrefetchBytes = 16384;

// A few tokens (1 .. kMaxFewTokens; activation rows a_stride bytes apart, in the one-token kernel's
// format) through the rows as GemvFn reads them, in one pass over the weights: y[t·ldy + r]. For the
// few tokens of a batched decode step or a short prompt, where the prefill tiles' layout costs more
// than it saves; each token's results are those of the one-token kernel, bit for bit.
using GemvTokensFn = void (*)(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
                              int64_t n_tok, float* y, int64_t ldy);
// fn(std::integral_constant<int, n_tok>{}) for n_tok in 1 .. kMaxFewTokens: a kernel's token count
// as a template argument.
template <class Fn>
void with_token_count(int64_t n_tok, Fn fn) {
  static_assert(kMaxFewTokens == 4);
  switch (n_tok) {
    case 1: return fn(std::integral_constant<int, 1>{});
    case 2: return fn(std::integral_constant<int, 2>{});
    case 3: return fn(std::integral_constant<int, 3>{});
    case 4: return fn(std::integral_constant<int, 4>{});
    default: fail("few-token kernel: ", n_tok, " tokens (1 to ", kMaxFewTokens, ")");
  }
}
// A kernel for a fixed count of tokens, and the GemvTokensFn made of the four (K1: 1 token, ...).
using GemvRowsFn = void (*)(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
                            float* y, int64_t ldy);
template <GemvRowsFn K1, GemvRowsFn K2, GemvRowsFn K3, GemvRowsFn K4>
void by_token_count(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
                    int64_t n_tok, float* y, int64_t ldy) {
  constexpr GemvRowsFn kernels[] = {K1, K2, K3, K4};
  with_token_count(n_tok, [&](auto T) { kernels[T - 1](k, w, w_stride, n_rows, a, a_stride, y, ldy); });
}

// Q8_0 / Q4_0 take Q8_0 activations, the K-quants Q8_K, F16 / BF16 / F32 float32; all need
// k % 256 == 0 (Q8_0 / Q4_0: whole groups of 8 blocks), F16 / BF16 / F32 k % 16 == 0. Null where none exists.
struct GemvTable {
  GemvFn q8_0 = nullptr, q4_0 = nullptr, q4_k = nullptr, q5_k = nullptr, q6_k = nullptr, f16 = nullptr, bf16 = nullptr,
         f32 = nullptr;
  GemvFn q4_1 = nullptr, q5_0 = nullptr, q5_1 = nullptr, iq4_nl = nullptr;  // Q8_0 activations, k % 32 == 0
  GemvFn f8_e4m3 = nullptr;                                                  // float32 activations, k % 16 == 0
  // A few tokens (above), up to most_tokens; null: none.
  GemvTokensFn q6_k_tokens = nullptr, q4_k_tokens = nullptr, q5_k_tokens = nullptr;
  GemvTokensFn f16_tokens = nullptr, bf16_tokens = nullptr, f32_tokens = nullptr;  // k % 16 == 0
  int64_t most_tokens = kMaxFewTokens;
};

#if defined(R1_HAVE_X86_KERNELS)
const GemmTable& gemm_avx2();        // AVX2 + FMA + F16C: Q8_0, Q4_0 and the K-quants (gemm_avx2_impl.h)
const GemmTable& gemm_avx2vnni();     // the same kernels with AVX-VNNI's vpdpbusd (gemm_avx2vnni.cc)
const GemmTable& gemm_avx512vnni();  // AVX-512 F/BW/VL + VNNI (vpdpbusd)
const GemvTable& gemv_avx512vnni();  // same CPU features (gemv_avx512vnni.cc)
// F32, F16, BF16 and F8_E4M3 rows × float32 activations, k % 16 == 0 (gemm_float_avx512.cc): the
// avx512vnni backend's float kernels; AVX-512 F/BW/VL. Null for other types.
GemmTileFn gemm_float_avx512(DType type);
// A few tokens (1 .. kMaxFewTokens, activation rows a_stride bytes apart, token t's products at
// y + t·ldy) through Q4_K rows interleaved at load (n_rows a multiple of 8, w at a group's start,
// w_stride a plain row's bytes, unused: the groups are contiguous; gemv_x8_avx512.cc) in
// one pass over the weights: decode, and the few tokens of a batched decode step or a short
// prompt, for which the prefill tile's layout costs more than it saves (gemm_avx512vnni()'s q4_k_x8).
// Each token's results are those it gets alone, bit for bit.
void gemv_q4_k_x8_avx512vnni(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
                             int64_t n_tok, float* y, int64_t ldy);
// The same for Q5_0, Q4_0 and Q8_0 rows (Q8_0 activations).
void gemv_q4_0_x8_avx512vnni(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
                             int64_t n_tok, float* y, int64_t ldy);
void gemv_q8_0_x8_avx512vnni(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
                             int64_t n_tok, float* y, int64_t ldy);
void gemv_q5_0_x8_avx512vnni(int64_t k, const void* w, size_t w_stride, int64_t n_rows, const void* a, size_t a_stride,
                             int64_t n_tok, float* y, int64_t ldy);
const GemvTable& gemv_avx2();        // the AVX2 dot products row by row, prefetching (vec_dot_avx2.cc)
// BF16 weights × activations rounded to bf16 (vdpbf16ps), k % 32 == 0: AVX-512 BF16 CPUs only. These
// three take bf16 activation rows (a_stride bytes apart), rounded by round_bf16_avx512bf16.
GemmTileFn gemm_bf16_avx512bf16();
void round_bf16_avx512bf16(const float* x, int64_t k, uint16_t* dst);  // k % 32 == 0, nearest even
// The same for F16 weights, rounded to bf16 for the products, and F8_E4M3 weights (exact in bf16).
GemmTileFn gemm_f16_avx512bf16();
GemmTileFn gemm_f8_avx512bf16();
// BF16, F16 or F8_E4M3 weights with block scales: each weight times its scale is rounded once to bf16
// as the rows are laid out for the tile (what converting the checkpoint to BF16 stores), so the
// activations are rounded once for all row blocks; null for other types.
GemmScaledTileFn gemm_scaled_avx512bf16(DType type);
// The integer formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL, Q4_K, Q5_K, Q6_K; interleaved: the
// repacked Q4_0, Q8_0, Q4_K, Q5_0 in whole groups of 8 rows) with their weights made bf16 as the rows
// are laid out, against bf16 activations like the kernels above: for prefill on AMX CPUs
// (gemm_avx512bf16.cc); null for other types.
GemmTileFn gemm_int_avx512bf16(DType type, bool interleaved);
// The products of gemm_avx512bf16.cc's tile through Intel AMX tiles (gemm_amx_bf16.cc; CPUs with
// cpu_features().amx_bf16 only), between amx_tiles_begin() and amx_tiles_end() on the calling thread:
// y[t·ldy + j] for t < n_tok <= 32 and j < n_rows <= 32, the rows laid out in element pairs (pair p of
// row j at lanes[p·16 + j], of row 16 + j at lanes[group + p·16 + j]), the bf16 tokens' rows lda
// elements apart and readable for whole tiles of 16 rows; k % 32 == 0.
void amx_tiles_begin();
void amx_tiles_end();
void amx_bf16_block(int64_t k, const uint32_t* lanes, int64_t group, int64_t n_rows, const uint16_t* a, int64_t lda,
                    int64_t n_tok, float* y, int64_t ldy);
// One token through F8_E4M3 rows with the activation rounded to bf16 (vdpbf16ps), k % 64 == 0; takes
// float32 activations like the other F8 kernels. AVX-512 BF16 and VBMI CPUs only (gemv_avx512bf16.cc).
GemvFn gemv_f8_avx512bf16();
// The same for 1 .. kMaxFewTokens float32 token rows in one pass; each token's results are its
// one-token results, bit for bit.
GemvTokensFn gemv_f8_tokens_avx512bf16();
// x (k % 64 == 0) rounded to bf16 (nearest even), each 64 in the order in which vpunpcklbw (first 32)
// and vpunpckhbw (last 32) leave 64 bytes' words: 128-bit lane L holds elements 16L..16L+7, then
// 16L+8..16L+15. For kernels that build bf16 weights from byte halves (gemv_avx512bf16.cc,
// coded_bf16_avx512bf16.cc); AVX-512 BF16 CPUs only.
void round_bf16_unpack_order(const float* x, int64_t k, uint16_t* dst);
#endif

#if defined(R1_HAVE_NEON_KERNELS)
const GemmTable& gemm_neon();          // Q4_0 / Q8_0 repacked rows, the K-quants, the float formats (gemm_neon_impl.h)
const GemmTable& gemm_neon_dotprod();  // the same with the dot-product extension
#endif

// Asks for the next group's weight bytes (into L2) while a tile kernel multiplies the current
// group: a group is read in one short burst, which the hardware prefetchers do not see coming.
// Tile kernels issue it a slice per token tile, so that the requests do not queue up together.
inline void prefetch_rows(const uint8_t* p, int64_t n_bytes) {
  for (int64_t i = 0; i < n_bytes; i += 64) __builtin_prefetch(p + i, 0, 2);
}

}  // namespace r1
