// The per-token passes of a forward (norms, residual adds, SwiGLU, rope, cache writes), with a
// prompt's tokens split over the pool: on one thread they were ~9% of a 512-token pass's wall time
// while the other thread waited. One token (decode) stays on the calling thread.
#pragma once
#include <cstdint>
#include <functional>

#include "core/tensor.h"
#include "util/threadpool.h"

namespace r1 {

// fn(i) for every token i in [0, n), contiguous shares per thread.
void for_tokens(ThreadPool& pool, int64_t n, const std::function<void(int64_t)>& fn);

// x[i] = row ids[i] of the embedding table (d values, dequantized from the table's type), n rows.
void embed_rows(const TensorView& table, const int32_t* ids, int64_t n, int64_t d, float* x, ThreadPool& pool);

// out[i] = rmsnorm(x[i]) · weight (a float32 vector of d) for n rows of d.
void rmsnorm_rows(const float* x, const TensorView& weight, int64_t n, int64_t d, float eps, float* out,
                  ThreadPool& pool);

// y[i] += bias for n rows of d (a float32 vector of d); nothing when the tensor is absent.
void add_bias_rows(float* y, const TensorView& bias, int64_t n, int64_t d, ThreadPool& pool);

// y[i] += x[i] for n rows of d.
void add_rows(float* y, const float* x, int64_t n, int64_t d, ThreadPool& pool);

// gate[i] = silu(gate[i]) ⊙ up[i] for n rows of width.
void swiglu_rows(float* gate, const float* up, int64_t n, int64_t width, ThreadPool& pool);

}  // namespace r1
