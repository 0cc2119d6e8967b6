#include "model/deepseek_linear.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/quant.h"
#include "ops/repack.h"
#include "util/threadpool.h"

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
  // y[t][r] = Σ_c code[r][c] · (x[t][c] · s[b][c/128]): x scaled once per row block.
  const int64_t in = l.in(), n_col_blocks = l.scale_inv.ne[0];
  const float* s = static_cast<const float*>(l.scale_inv.data);
  if (n == 0 || n_rows == 0) return;
  if (n == 1) return matvec_rows_block_scaled(l.w, s, n_col_blocks, kFp8Block, row0, n_rows, x, y, pool);
  // Several tokens: one parallel pass over (row block, chunk of tokens) items; each thread scales its
  // item's activations and runs the item serially (a parallel pass per row block, with the scaling on
  // one thread between them, left DeepSeek-0.66B FP8 prefill at ~1/5 of its Q8_0 speed). The tokens
  // are split only as far as needed for ~4 items per thread: each item converts its block's codes for
  // the tile kernel again.
  const int64_t rb0 = row0 / kFp8Block, rb1 = (row0 + n_rows + kFp8Block - 1) / kFp8Block;
  const int64_t want_chunks = (4 * pool.size() + (rb1 - rb0) - 1) / (rb1 - rb0);
  const int64_t chunk = std::max<int64_t>(16, (n + want_chunks - 1) / want_chunks);
  const int64_t n_chunks = (n + chunk - 1) / chunk;
  pool.parallel_for((rb1 - rb0) * n_chunks, 1, [&](int64_t u0, int64_t u1) {
    thread_local std::vector<float> xs, ys;
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t b = rb0 + u / n_chunks, t0 = (u % n_chunks) * chunk, m = std::min(chunk, n - t0);
      const int64_t r0 = std::max(row0, b * kFp8Block), rows = std::min(row0 + n_rows, (b + 1) * kFp8Block) - r0;
      const float* s_row = s + b * n_col_blocks;
      xs.resize(size_t(m * in));
      for (int64_t t = 0; t < m; ++t) scale_blocks(xs.data() + t * in, x + (t0 + t) * in, s_row, kFp8Block, in);
      ys.resize(size_t(m * rows));
      matmul_rows(l.w, r0, rows, xs.data(), m, ys.data(), serial_pool());
      for (int64_t t = 0; t < m; ++t) std::copy_n(ys.data() + t * rows, rows, y + (t0 + t) * n_rows + (r0 - row0));
    }
  });
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
