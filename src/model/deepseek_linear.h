// A projection weight of a DeepSeek model: a matrix in any matmul type, or DeepSeek's FP8 form —
// e4m3fn codes plus one F32 multiplier per 128×128 block (`<name>_scale_inv`, SPEC §2). FP8
// weights are used as stored: y = x · Wᵀ is computed per 128-row block with the activations
// pre-multiplied by that block's column-block scales, so the codes are never expanded in memory
// (one parallel pass over the row blocks, or over row blocks × chunks of tokens).
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace r1 {

class ThreadPool;

constexpr int64_t kFp8Block = 128;  // weight_block_size of DeepSeek's FP8 checkpoints

struct Linear {
  TensorView w;          // ne {in, out}
  TensorView scale_inv;  // F32 ne {ceil(in/128), ceil(out/128)} when w is F8_E4M3; no data otherwise

  int64_t in() const { return w.ne[0]; }
  int64_t out() const { return w.ne[1]; }
};

// y[n][out] = x[n][in] · Wᵀ (W dequantized, block scales applied).
void linear(const Linear& l, const float* x, int64_t n, float* y, ThreadPool& pool);

// linear for two weights that read the same x (MLA's query and latent projections, an FFN's gate and
// up): one parallel step for one token through matmul_shared_input, unless either is block-scaled.
void linear_shared_input(const Linear& a, float* ya, const Linear& b, float* yb, const float* x, int64_t n,
                         ThreadPool& pool);
// Rows [row0, row0 + n_rows) of W only: y[n][n_rows].
void linear_rows(const Linear& l, int64_t row0, int64_t n_rows, const float* x, int64_t n, float* y, ThreadPool& pool);

// Row r of W as floats (block scales applied): out[0..in).
void linear_row(const Linear& l, int64_t r, float* out);

}  // namespace r1
