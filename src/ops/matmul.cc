#include "ops/matmul.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "ops/quant.h"
#include "ops/vec_dot.h"
#include "util/cpu.h"
#include "util/threadpool.h"

namespace r1 {
namespace {

const VecDotTable* best_table() {
#if defined(R1_HAVE_X86_KERNELS)
  const CpuFeatures& f = cpu_features();
  if (f.avx512f && f.avx512bw && f.avx512vl && f.avx2 && f.fma && f.f16c) return &vec_dot_avx512();
  if (f.avx2 && f.fma && f.f16c) return &vec_dot_avx2();
#endif
  return &vec_dot_scalar();
}

std::atomic<const VecDotTable*> g_table{nullptr};

const VecDotTable& table() {
  const VecDotTable* t = g_table.load(std::memory_order_acquire);
  if (!t) {
    t = best_table();
    g_table.store(t, std::memory_order_release);
  }
  return *t;
}

// Tile sizes: a tile is kRowTile weight rows × kTokTile tokens. The rows of a tile stay in L1/L2
// while every token of the tile is multiplied with them, so for prefill each weight byte is read
// from memory once per kTokTile tokens instead of once per token.
constexpr int64_t kRowTile = 16;
constexpr int64_t kTokTile = 8;

void check(const TensorView& w, int64_t row0, int64_t n_rows, const float* x, int64_t n_tok, const float* y) {
  if (w.data == nullptr) fail("matmul: tensor ", w.name, " has no data");
  if (n_tok < 0 || n_rows < 0 || row0 < 0) fail("matmul: negative size for tensor ", w.name);
  const int64_t k = w.ne[0];
  const size_t rb = row_bytes(w.type, k);  // throws if K is not a multiple of the block size
  if (row0 + n_rows > w.rows()) {
    fail("matmul: rows [", row0, ", ", row0 + n_rows, ") out of range for tensor ", w.name, " with ", w.rows(),
         " rows");
  }
  if (static_cast<size_t>(w.rows()) * rb > w.nbytes)
    fail("matmul: tensor ", w.name, " ", w.shape_string(), " holds ", w.nbytes, " bytes, needs ", w.rows() * rb);
  if (n_tok > 0 && (x == nullptr || y == nullptr)) fail("matmul: null activations for tensor ", w.name);
}

}  // namespace

void matmul_rows(const TensorView& w, int64_t row0, int64_t n_rows, const float* x, int64_t n_tok, float* y,
                 ThreadPool& pool) {
  check(w, row0, n_rows, x, n_tok, y);
  if (n_tok == 0 || n_rows == 0) return;
  const int64_t k = w.ne[0];
  const VecDotFn dot = vec_dot_for(table(), w.type);
  const size_t w_stride = row_bytes(w.type, k);
  const uint8_t* w0 = static_cast<const uint8_t*>(w.data) + static_cast<size_t>(row0) * w_stride;

  // Activations in the format this weight type's dot product consumes.
  const DType act_type = activation_type_for(w.type);
  const void* act = x;
  size_t act_stride = static_cast<size_t>(k) * sizeof(float);
  std::vector<uint8_t> act_buf;
  if (act_type != DType::F32) {
    act_stride = row_bytes(act_type, k);
    act_buf.resize(act_stride * static_cast<size_t>(n_tok));
    pool.parallel_for(n_tok, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        uint8_t* dst = act_buf.data() + static_cast<size_t>(t) * act_stride;
        if (act_type == DType::Q8_0) {
          quantize_row_q8_0_activations(x + t * k, dst, k);
        } else {
          quantize_row(act_type, x + t * k, dst, k);
        }
      }
    });
    act = act_buf.data();
  }
  const uint8_t* a0 = static_cast<const uint8_t*>(act);

  // Rows are split over threads; a thread walks its rows tile by tile.
  const int64_t grain = n_tok > 1 ? kRowTile : 4;
  pool.parallel_for(n_rows, grain, [&](int64_t r_begin, int64_t r_end) {
    for (int64_t r0 = r_begin; r0 < r_end; r0 += kRowTile) {
      const int64_t r1 = std::min(r_end, r0 + kRowTile);
      for (int64_t t0 = 0; t0 < n_tok; t0 += kTokTile) {
        const int64_t t1 = std::min(n_tok, t0 + kTokTile);
        for (int64_t r = r0; r < r1; ++r) {
          const uint8_t* wr = w0 + static_cast<size_t>(r) * w_stride;
          for (int64_t t = t0; t < t1; ++t) y[t * n_rows + r] = dot(k, wr, a0 + static_cast<size_t>(t) * act_stride);
        }
      }
    }
  });
}

void matmul(const TensorView& w, const float* x, int64_t n_tok, float* y, ThreadPool& pool) {
  matmul_rows(w, 0, w.rows(), x, n_tok, y, pool);
}

const char* matmul_backend() { return table().name; }

bool force_matmul_backend(const char* name) {
  const std::string n = name ? name : "";
  const VecDotTable* t = nullptr;
  if (n == "scalar") t = &vec_dot_scalar();
#if defined(R1_HAVE_X86_KERNELS)
  const CpuFeatures& f = cpu_features();
  const bool avx2 = f.avx2 && f.fma && f.f16c;
  if (n == "avx2" && avx2) t = &vec_dot_avx2();
  if (n == "avx512" && avx2 && f.avx512f && f.avx512bw && f.avx512vl) t = &vec_dot_avx512();
#endif
  if (n == "auto") t = best_table();
  if (!t) return false;
  g_table.store(t, std::memory_order_release);
  return true;
}

}  // namespace r1
