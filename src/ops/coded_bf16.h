// Lossless load-time compression of BF16 matrices (RowLayout::CodedBf16), so that one-token decode,
// which is bound by reading the weights, reads 12 bits per weight instead of 16.
//
// Why it works: a bf16 value's high byte is its sign and the top 7 bits of its exponent. Trained (and
// our random) weights span a few binades around their scale, so a matrix uses few distinct high bytes:
// on the random Qwen-1.5B BF16 file the 16 commonest cover all but ~2e-4 of the weights (DFloat11 and
// ZipNN exploit the same skew of real checkpoints' exponents). The low byte (exponent's last bit and
// the 7 significand bits) is close to uniform and is kept as stored.
//
// Layout, in the tensor's own bytes (rewritten in place; the last quarter is left unused):
//   - row r at r · coded_row_bytes(k), k % 64 == 0, as k / 64 blocks of 96 bytes. A block holds 64
//     weights e0..e63: 32 code bytes (byte j: e_j's 4-bit code in the low nibble, e_{32+j}'s in the
//     high one), then the 64 low bytes in order;
//   - then the header (CodedBf16Header): the 16 high bytes the codes stand for (code 0 is always
//     0x00, +0 and the tiniest positives), the number of exceptions;
//   - then n_rows + 1 uint32 offsets into the exception list (row r's are [first[r], first[r+1]));
//   - then the exceptions, by row then column: weights whose high byte has no code. Such a weight is
//     stored as code 0 with low byte 0 (+0.0) and its own bf16 bits are listed with its column.
// Decoding a row gives the original bits exactly. A dot product through the codes adds each
// exception's product after the row's sum (a different order of the same float additions).
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/tensor.h"

namespace r1 {

constexpr int64_t kCodedBlock = 64;  // weights per block (32 code bytes + 64 low bytes)

constexpr size_t coded_row_bytes(int64_t k) { return static_cast<size_t>(k) / 2 * 3; }

struct CodedBf16Header {
  uint8_t high[16];  // high byte of code c
  uint32_t n_exceptions;
  uint32_t reserved;
};

struct CodedBf16Exception {
  uint32_t col;
  uint16_t bits;  // the weight's bf16 bits
  uint16_t reserved;
};

// Pointers into a coded matrix's bytes.
struct CodedBf16 {
  const uint8_t* rows;  // row r at rows + r * row_bytes
  size_t row_bytes;
  int64_t k, n_rows;
  const CodedBf16Header* header;
  const uint32_t* first;  // n_rows + 1 offsets into exceptions
  const CodedBf16Exception* exceptions;
};

// Whether a BF16 matrix of n_rows rows of k can take the layout (k % 64 == 0, n_rows ≥ 1).
bool can_code_bf16(int64_t k, int64_t n_rows);

// Rewrites n_rows BF16 rows of k (data, nbytes = n_rows · k · 2) into the coded layout, in place. Returns
// false, leaving the bytes as they were, when the shape does not allow it or more than 1/256 of the
// weights would be exceptions (then the matrix reads faster as stored).
bool code_bf16_matrix(uint8_t* data, size_t nbytes, int64_t n_rows, int64_t k);

// The same for F16 rows whose every value is a bf16 value, as in F16 files converted from a bf16
// checkpoint (an fp16 holding a bf16 value has its 3 lowest significand bits zero; fp16's exponent range
// lies within bf16's, and its subnormals made from bf16 values keep at most 8 significant bits). The
// rows are rewritten to their bf16 bits and coded; the caller then reads the matrix as coded BF16 with
// the same values. Returns false, leaving the bytes as they were, when a value is not a bf16 value or
// code_bf16_matrix declines.
bool code_f16_matrix_as_bf16(uint8_t* data, size_t nbytes, int64_t n_rows, int64_t k);

// The pointers of a coded tensor (t.layout == CodedBf16), its header and offsets checked.
CodedBf16 coded_bf16(const TensorView& t);

// Rows [r0, r1) back to their bf16 bits (out: (r1 - r0) · k values), exceptions included.
void decode_coded_bf16_rows(const CodedBf16& m, int64_t r0, int64_t r1, uint16_t* out);

// y[r - r0] += Σ over row r's exceptions of weight · x[col], for r in [r0, r1); x[col] rounded to bf16
// first where the kernel's products are bf16 (x_as_bf16).
void add_coded_bf16_exceptions(const CodedBf16& m, int64_t r0, int64_t r1, const float* x, float* y, bool x_as_bf16);

#if defined(R1_HAVE_X86_KERNELS)
// AVX2 kernels (coded_bf16_avx2.cc): one token or a few as the AVX-512 kernel below (float32 products),
// and rows [r0, r1) as float32 values (out: (r1 - r0) · k, exceptions included) for the float32 prefill tile.
void gemv_coded_bf16_avx2(const CodedBf16& m, int64_t r0, int64_t r1, const float* x, int64_t n_tok, float* y,
                          int64_t ldy);
void decode_coded_f32_rows_avx2(const CodedBf16& m, int64_t r0, int64_t r1, float* out);

// AVX-512 BW kernel (coded_bf16_avx512.cc). One token, or a few (1 .. kMaxFewTokens, x: n_tok rows
// of k): y[t · ldy + r - r0] = row r · token t (float32 products, exceptions included), rows read
// once for all the tokens; each token's products are those it gets alone, bit for bit.
void gemv_coded_bf16_avx512(const CodedBf16& m, int64_t r0, int64_t r1, const float* x, int64_t n_tok, float* y,
                            int64_t ldy);
// The same products with the activations rounded to bf16 (vdpbf16ps): AVX-512 BF16 CPUs only
// (coded_bf16_avx512bf16.cc). xs: x rounded by round_bf16_unpack_order (gemm_tile.h), n_tok rows of
// k, once per step for all its calls (TokenInput); x for the exceptions.
void gemv_coded_bf16_avx512bf16(const CodedBf16& m, int64_t r0, int64_t r1, const float* x, const uint16_t* xs,
                                int64_t n_tok, float* y, int64_t ldy);
// Prefill: rows [row0, row0 + n_rows) against n_tok bf16 activation rows (a_stride bytes apart), as the
// BF16 tile (gemm_tile.h, gemm_bf16_avx512bf16), decoding the rows as it lays them out for the tile
// (gemm_avx512bf16.cc); y[t * ldy + r] for r < n_rows.
void gemm_coded_bf16_avx512bf16(const CodedBf16& m, int64_t row0, int64_t n_rows, const void* a, size_t a_stride,
                                int64_t n_tok, float* y, int64_t ldy);
// The same with float32 products: float32 activation rows against the rows decoded as the float tile
// lays them out (gemm_float_avx512.cc; AVX-512 F/BW).
void gemm_coded_float_avx512(const CodedBf16& m, int64_t row0, int64_t n_rows, const void* a, size_t a_stride,
                             int64_t n_tok, float* y, int64_t ldy);
#endif

}  // namespace r1
