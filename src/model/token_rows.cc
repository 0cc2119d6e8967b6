#include "model/token_rows.h"

#include "ops/elementwise.h"
#include "ops/quant.h"

namespace r1 {

void for_tokens(ThreadPool& pool, int64_t n, const std::function<void(int64_t)>& fn) {
  pool.parallel_for(n, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) fn(i);
  });
}

void embed_rows(const TensorView& table, const int32_t* ids, int64_t n, int64_t d, float* x, ThreadPool& pool) {
  for_tokens(pool, n, [&](int64_t i) { dequantize_row(table.type, table.row(ids[i]), x + i * d, d); });
}

void rmsnorm_rows(const float* x, const TensorView& weight, int64_t n, int64_t d, float eps, float* out,
                  ThreadPool& pool) {
  for_tokens(pool, n, [&](int64_t i) {
    rmsnorm(out + i * d, x + i * d, static_cast<const float*>(weight.data), eps, d);
  });
}

void add_bias_rows(float* y, const TensorView& bias, int64_t n, int64_t d, ThreadPool& pool) {
  if (!bias.data) return;
  for_tokens(pool, n, [&](int64_t i) { add(y + i * d, y + i * d, static_cast<const float*>(bias.data), d); });
}

void add_rows(float* y, const float* x, int64_t n, int64_t d, ThreadPool& pool) {
  for_tokens(pool, n, [&](int64_t i) { add(y + i * d, y + i * d, x + i * d, d); });
}

void swiglu_rows(float* gate, const float* up, int64_t n, int64_t width, ThreadPool& pool) {
  for_tokens(pool, n, [&](int64_t i) { swiglu(gate + i * width, gate + i * width, up + i * width, width); });
}

}  // namespace r1
