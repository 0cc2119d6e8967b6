#include "model/deepseek_linear.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "ops/matmul.h"
#include "ops/quant.h"
#include "ops/repack.h"

namespace r1 {

void linear(const Linear& l, const float* x, int64_t n, float* y, ThreadPool& pool) {
  linear_rows(l, 0, l.out(), x, n, y, pool);
}

void linear_rows(const Linear& l, int64_t row0, int64_t n_rows, const float* x, int64_t n, float* y, ThreadPool& pool) {
  if (!l.scale_inv.data) {
    matmul_rows(l.w, row0, n_rows, x, n, y, pool);
    return;
  }
  if (row0 < 0 || n_rows < 0 || row0 + n_rows > l.out()) {
    fail("linear_rows: rows ", row0, "..", row0 + n_rows, " out of range for tensor ", l.w.name);
  }
  // W[r][c] = code[r][c] · s[r/128][c/128], so for the rows of one row block b,
  // y[t][r] = Σ_c code[r][c] · (x[t][c] · s[b][c/128]): scale x once per row block.
  const int64_t in = l.in(), n_col_blocks = l.scale_inv.ne[0];
  const float* s = static_cast<const float*>(l.scale_inv.data);
  if (n == 1) return matvec_rows_block_scaled(l.w, s, n_col_blocks, kFp8Block, row0, n_rows, x, y, pool);
  std::vector<float> xs(size_t(n * in)), ys;
  for (int64_t r0 = row0; r0 < row0 + n_rows;) {
    const int64_t rows = std::min((r0 / kFp8Block + 1) * kFp8Block, row0 + n_rows) - r0;  // to the block's end
    const float* s_row = s + (r0 / kFp8Block) * n_col_blocks;
    for (int64_t t = 0; t < n; t++) {
      for (int64_t c = 0; c < in; c++) xs[size_t(t * in + c)] = x[t * in + c] * s_row[c / kFp8Block];
    }
    ys.resize(size_t(n * rows));
    matmul_rows(l.w, r0, rows, xs.data(), n, ys.data(), pool);
    for (int64_t t = 0; t < n; t++) std::copy_n(ys.data() + t * rows, rows, y + t * n_rows + (r0 - row0));
    r0 += rows;
  }
}

void linear_row(const Linear& l, int64_t r, float* out) {
  if (r < 0 || r >= l.w.rows()) fail("linear_row: row ", r, " out of range for tensor ", l.w.name);
  const int64_t in = l.in();
  if (l.w.layout == RowLayout::Interleaved8) {  // repacked at load (ops/repack.h)
    std::vector<uint8_t> row(row_bytes(l.w.type, in));
    unpack_x8_row(l.w.type, static_cast<const uint8_t*>(l.w.data), l.w.rows(), in, r, row.data());
    dequantize_row(l.w.type, row.data(), out, in);
  } else {
    dequantize_row(l.w.type, l.w.row(r), out, in);
  }
  if (!l.scale_inv.data) return;
  const float* s = static_cast<const float*>(l.scale_inv.data) + (r / kFp8Block) * l.scale_inv.ne[0];
  for (int64_t c = 0; c < in; c++) out[c] *= s[c / kFp8Block];
}

}  // namespace r1
