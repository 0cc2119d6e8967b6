#include "model/deepseek_linear.h"

#include "core/error.h"
#include "ops/matmul.h"

namespace r1 {

void linear(const Linear& l, const float* x, int64_t n, float* y, ThreadPool& pool) {
  linear_rows(l, 0, l.out(), x, n, y, pool);
}

void linear_rows(const Linear& l, int64_t row0, int64_t n_rows, const float* x, int64_t n, float* y, ThreadPool& pool) {
  if (!l.scale_inv.data) {
    matmul_rows(l.w, row0, n_rows, x, n, y, pool);
    return;
  }
  matmul_rows_block_scaled(l.w, static_cast<const float*>(l.scale_inv.data), l.scale_inv.ne[0], kFp8Block, row0,
                           n_rows, x, n, y, pool);
}

void linear_shared_input(const Linear& a, float* ya, const Linear& b, float* yb, const float* x, int64_t n,
                         ThreadPool& pool) {
  if (a.scale_inv.data || b.scale_inv.data) {
    linear(a, x, n, ya, pool);
    linear(b, x, n, yb, pool);
    return;
  }
  matmul_shared_input({{&a.w, ya}, {&b.w, yb}}, x, n, pool);
}

void linear_row(const Linear& l, int64_t r, float* out) {
  if (r < 0 || r >= l.w.rows()) fail("linear_row: row ", r, " out of range for tensor ", l.w.name);
  const int64_t in = l.in();
  matmul_row_values(l.w, r, out);
  if (!l.scale_inv.data) return;
  const float* s = static_cast<const float*>(l.scale_inv.data) + (r / kFp8Block) * l.scale_inv.ne[0];
  for (int64_t c = 0; c < in; c++) out[c] *= s[c / kFp8Block];
}

}  // namespace r1
