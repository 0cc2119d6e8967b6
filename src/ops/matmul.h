// y = x · Wᵀ for a weight matrix W (ne = {K, N}: N rows of K elements, any weight type) and
// activations x [n_tok][K] (float32, row-major); y [n_tok][N].
// Integer formats quantize x to int8 blocks (Q8_0 / Q8_K, as llama.cpp) and use integer dot
// products; F16/BF16/F8 weights use float dot products. Kernels are picked at run time from
// the CPU's features (AVX-512 / AVX2 / scalar).
#pragma once
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "core/tensor.h"

namespace r1 {

class ThreadPool;

void matmul(const TensorView& w, const float* x, int64_t n_tok, float* y, ThreadPool& pool);

// The most tokens matmul takes in one pass over the weights, as decode walks them, where the CPU's
// kernels for the weight's layout and type have a one-pass form (a batched decode step, a short
// prompt; matmul_takes_tokens; the AVX2 backends' row-by-row ones take two): each token's products
// are then bit for bit those it gets alone. More tokens go through the prefill tiles.
constexpr int kMaxFewTokens = 4;

// One weight of matmul_shared_input and where its products go (y [n_tok][w->rows()]).
struct MatmulTarget {
  const TensorView* w;
  float* y;
};

// y_i = x · W_iᵀ for weights that read the same activations (a layer's q/k/v, or gate/up). One token:
// the activations converted once per format and all the matrices' rows one parallel step (items of
// ThreadPool::run_items), instead of a step, a barrier and a new prefetch stream per matrix; the same
// for a few tokens where every weight has a one-pass kernel for them (matmul.cc, token_rows_take).
// Prefill: one matmul per weight. The products are those of matmul, bit for bit.
void matmul_shared_input(std::initializer_list<MatmulTarget> targets, const float* x, int64_t n_tok, ThreadPool& pool);

// Same, for an expert slice: rows [row0, row0+n_rows) of a 3-D stacked weight as one matrix.
void matmul_rows(const TensorView& w, int64_t row0, int64_t n_rows, const float* x, int64_t n_tok, float* y,
                 ThreadPool& pool);

// One token's activations converted once for the one-token kernels of several matrices, for the many
// matmul_token_rows calls of one parallel step (decode's MoE runs hundreds of pieces of its experts'
// matrices per step; matmul_rows converts its activations on every call). Or a few tokens'
// (n_tok <= kMaxFewTokens), for matmul's one-pass kernels.
class TokenInput {
 public:
  // x: n_tok rows of k floats, kept by pointer (unchanged while in use). Drops what was converted before.
  void set(const float* x, int64_t k, int64_t n_tok = 1);
  // Converts x for w's one-token kernels unless that was done since set(). Not for several threads at
  // once: before the parallel step for every matrix the step reads, or on an input of the thread's own.
  void prepare(const TensorView& w);
  const float* x() const { return x_; }
  int64_t k() const { return k_; }
  int64_t n_tok() const { return n_tok_; }
  // x in a kernel's activation type (F32, Q8_0 or Q8_K: activation_type_for; BF16: rounded for the
  // coded BF16 kernel with bf16 products, in the order it reads); prepare converted it. Token t's row
  // is at t · stride(type).
  const uint8_t* as(DType type) const;
  size_t stride(DType type) const;

 private:
  const float* x_ = nullptr;
  int64_t k_ = 0, n_tok_ = 1;
  std::vector<uint8_t> q8_0_, q8_k_;
  std::vector<uint16_t> bf16_;
  bool has_q8_0_ = false, has_q8_k_ = false, has_bf16_ = false;
};

// Whether matmul_token_rows takes n_tok tokens through w on this CPU: one always; up to kMaxFewTokens
// where the kernels for w's layout and type have a one-pass form.
bool matmul_takes_tokens(const TensorView& w, int64_t n_tok);

// in's tokens through rows [r0, r1) of w on the calling thread: token t's products at y + t·ldy
// (y[0 .. r1 − r0) for one token), those of matmul_rows bit for bit when r0 − row0 is a multiple of 16
// (row0: the rows matmul_rows would start at). w takes in.k() inputs and matmul_takes_tokens(w,
// in.n_tok()); in was prepared for w.
void matmul_token_rows(const TensorView& w, int64_t r0, int64_t r1, const TokenInput& in, float* y, int64_t ldy = 0);

// One-token work over several matrices' rows for ThreadPool::run_items: items of kRowItemRows rows,
// matrix after matrix (each thread streams runs of its share of them, and a thread that is ahead
// takes the last items of one behind). Kept as each matrix's first item, not as a list of items:
// rebuilt every step, the list took ~0.9% of Qwen-1.5B's decode time and ~1.4% of DeepSeek-0.66B's
// (`r1 bench --steps`, PERFORMANCE.md, Kernels, session 50).
constexpr int64_t kRowItemRows = 16;
class RowItems {
 public:
  void clear() {
    first_.assign(1, 0);
    rows_.clear();
  }
  void add(int64_t n_rows) {  // the next matrix
    first_.push_back(first_.back() + (n_rows + kRowItemRows - 1) / kRowItemRows);
    rows_.push_back(n_rows);
  }
  int64_t size() const { return first_.back(); }
  // Calls fn(matrix, r0, r1) for each matrix's rows among items [begin, end), in order: one kernel call
  // per matrix (a matrix's last item may be shorter).
  template <typename Fn>
  void for_runs(int64_t begin, int64_t end, Fn fn) const {
    for (size_t m = 0; m < rows_.size(); ++m) {
      const int64_t b = std::max(begin, first_[m]), e = std::min(end, first_[m + 1]);
      if (b < e) fn(int32_t(m), (b - first_[m]) * kRowItemRows, std::min(rows_[m], (e - first_[m]) * kRowItemRows));
    }
  }

 private:
  std::vector<int64_t> first_{0};  // matrix m's items are [first_[m], first_[m + 1])
  std::vector<int64_t> rows_;      // matrix m's rows
};

// One token through the heads of w, whose rows are n_heads blocks of w.rows() / n_heads:
// y[h][i] = row i of block h times x + h·x_head (w.ne[0] values). MLA's decode absorbs W_UK into each
// head's query and decompresses each head's latent with W_UV this way: one parallel step.
void matmul_heads(const TensorView& w, int64_t n_heads, const float* x, int64_t x_head, float* y, ThreadPool& pool);

// matmul_rows through weights whose values are w[r][c] · scales[r / block][c / block] (DeepSeek's FP8
// weights and their 128×128 `scale_inv` blocks; scale_cols = ceil(K / block) floats per row block).
// Float-activation weight types only (F32, F16, BF16, F8_E4M3). Decode keeps float32 (x scaled per row
// block); prefill with bf16 products (below) rounds each scaled weight to bf16 once, as converting the
// checkpoint to BF16 does, and gives the same products as that BF16 matrix.
void matmul_rows_block_scaled(const TensorView& w, const float* scales, int64_t scale_cols, int64_t block,
                              int64_t row0, int64_t n_rows, const float* x, int64_t n_tok, float* y, ThreadPool& pool);

// BF16, F16 or F8_E4M3 weights, more tokens than decode's kernels take (F8_E4M3: two or more), a
// CPU with AVX-512 BF16 where vdpbf16ps outruns
// float32 FMAs: round the activations to bfloat16 and use vdpbf16ps (about 2x faster prefill than
// float32 FMAs on AMD Zen 5; llama.cpp rounds BF16's activations the same way). F16 weights are
// rounded to bf16 for these products too (as ik_llama.cpp's repacking does); F8_E4M3 values are all
// bf16 values. Intel's vdpbf16ps (the Xeon measured) runs at half the float32 FMA rate, so there
// prefill stays in float32 (gemm_float_avx512.cc) unless the CPU has AMX: then the bf16 products
// go through AMX tiles (gemm_amx_bf16.cc; amx_products below), and auto means on. Decode (and a few tokens, kMaxFewTokens) keeps
// float32 activations and the weights as stored, but for F8_E4M3 rows (k % 64 == 0, one token) on
// CPUs with AVX-512 VBMI too, and for BF16 rows coded at load (ops/coded_bf16.h): their float32
// products could not keep up with memory, so there decode rounds the activations to bf16 as well
// (gemv_avx512bf16.cc, coded_bf16_avx512bf16.cc) on every AVX-512 BF16 CPU.
// R1_BF16_DOT in the environment: unset or "auto" as above, "0" float32 everywhere, "1" bf16
// products in prefill on every AVX-512 BF16 CPU too; another value is an error naming it.
// set_bf16_dot_products(on) is "1" / "0"; reset_bf16_dot_products() goes back to the environment's.
void set_bf16_dot_products(bool on);
void reset_bf16_dot_products();
// Whether those bf16 products run here: on, and a CPU with AVX-512 BF16 on the avx512vnni backend
// (prompt attention uses them too, ops/attention.h).
bool bf16_dot_products();
// Whether prefill's bf16 products go through Intel AMX tiles (tdpbf16ps) instead of vdpbf16ps: where
// cpu_features().amx_bf16 (util/cpu.h), unless R1_AMX=0 in the environment ("1" or unset: where the
// CPU has it; another value is an error naming it) or set_amx_products(false). For A/B timing and tests;
// reset_amx_products() goes back to the environment's.
bool amx_products();
void set_amx_products(bool on);
void reset_amx_products();

// The precision the kernel gives the activations of rows as stored (RowLayout::Plain), for tests'
// references: activation_type_for(type), or BF16 where the bf16 dot products above are on and used
// (then F16 weights are rounded to bf16 too; not for the few tokens that go through decode's kernels).
DType matmul_activation_type(DType weight_type, int64_t k, int64_t n_tok);

// The layout the kernels this CPU runs read such a weight matrix fastest in, to rewrite it into at load
// (unless R1_REPACK=0, then Plain):
//   - Interleaved8 (ops/repack.h): Q4_0 / Q8_0 on the AVX2 backends (CPUs without AVX-512 VNNI) and on
//     ARM (NEON); Q4_0, Q8_0, Q4_K and Q5_0 on the avx512vnni backend;
//   - CodedBf16 (ops/coded_bf16.h): BF16 and F16 with k % 64 == 0 on the avx512vnni and AVX2
//     backends, whose one-token kernels then read 12 bits a weight (the rewrite can still decline,
//     code_bf16_matrix; an F16 matrix is coded only when its values are all bf16 values, and is then
//     marked BF16);
//   - Plain otherwise.
// matmul reads every layout on every backend (TensorView::layout says which).
RowLayout matmul_preferred_layout(DType type, int64_t k, int64_t n_rows);

// Row r of w as float32 values (k = w.ne[0]), whatever its layout: for the few readers of single rows.
void matmul_row_values(const TensorView& w, int64_t r, float* out);

// Name of the kernel family selected on this CPU ("avx512vnni", "avx512", "avx2vnni", "avx2", "neon_dotprod",
// "neon", "scalar").
// avx512vnni = the AVX-512 dot products plus register-tiled prefill kernels for every weight type
// and one-token kernels (ops/gemm_tile.h); avx2 = the AVX2 dot products plus prefill tiles for
// every weight type, and kernels for Q4_0 / Q8_0 repacked at load (ops/repack.h); avx2vnni = avx2
// with AVX-VNNI's int8 products in the prefill tiles of the 32-element block formats.
const char* matmul_backend();
// For tests and benchmarks: force a backend by name, or "auto"; false if the CPU lacks it.
bool force_matmul_backend(const char* name);

}  // namespace r1
