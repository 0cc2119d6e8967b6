#include "ops/matmul.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <string>
#include <random>
#include <vector>

#include "core/error.h"
#include "ops/coded_bf16.h"
#include "ops/convert.h"
#include "ops/prefetch.h"
#include "ops/quant.h"
#include "ops/repack.h"
#include "ops/vec_dot.h"
#include "util/cpu.h"
#include "util/threadpool.h"

namespace r1 {
namespace {

const DType kWeightTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::F8_E4M3, DType::Q8_0,
                              DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::IQ4_NL,
                              DType::Q4_K, DType::Q5_K, DType::Q6_K};

struct Weights {
  std::vector<uint8_t> bytes;
  TensorView view;
};

Weights make_weights(DType t, int64_t k, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, t == DType::F8_E4M3 ? 8.0f : 0.05f);
  Weights w;
  const size_t rb = row_bytes(t, k);
  w.bytes.resize(rb * n);
  std::vector<float> row(k);
  for (int64_t r = 0; r < n; ++r) {
    for (auto& v : row) v = d(rng);
    quantize_row(t, row.data(), w.bytes.data() + r * rb, k);
  }
  w.view.name = "test.weight";
  w.view.type = t;
  w.view.n_dims = 2;
  w.view.ne = {k, n, 1, 1};
  w.view.data = w.bytes.data();
  w.view.nbytes = w.bytes.size();
  return w;
}

std::vector<float> random_acts(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// One activation row in a quantized activation format, as the kernels quantize it (Q8_0 rounds as
// llama.cpp's activation quantizer does, not as a Q8_0 weight row).
void quantize_activations(DType at, const float* x, uint8_t* dst, int64_t k) {
  if (at == DType::Q8_0) {
    quantize_row_q8_0_activations(x, dst, k);
  } else {
    quantize_row(at, x, dst, k);
  }
}

// Exact (double) y = dequant(W) · act(x), where act() is the activation format the kernel sees (with
// bf16 activations, F16 weights are rounded to bf16 too).
std::vector<double> reference(const Weights& w, const std::vector<float>& x, int64_t n_tok, std::vector<double>* mag) {
  const int64_t k = w.view.ne[0], n = w.view.ne[1];
  const DType at = matmul_activation_type(w.view.type, k, n_tok);  // on the current backend
  std::vector<float> xa(x.size());
  std::vector<uint8_t> buf(row_bytes(at, k));
  for (int64_t t = 0; t < n_tok; ++t) {
    if (at == DType::F32) {
      std::copy(x.begin() + t * k, x.begin() + (t + 1) * k, xa.begin() + t * k);
      continue;
    }
    quantize_activations(at, x.data() + t * k, buf.data(), k);
    dequantize_row(at, buf.data(), xa.data() + t * k, k);
  }
  std::vector<float> wr(k);
  std::vector<uint8_t> wbf(row_bytes(DType::BF16, k));
  std::vector<double> y(n_tok * n);
  mag->assign(n_tok * n, 0.0);
  for (int64_t r = 0; r < n; ++r) {
    dequantize_row(w.view.type, w.view.row(r), wr.data(), k);
    if (at == DType::BF16 && w.view.type == DType::F16) {
      quantize_row(DType::BF16, wr.data(), wbf.data(), k);
      dequantize_row(DType::BF16, wbf.data(), wr.data(), k);
    }
    for (int64_t t = 0; t < n_tok; ++t) {
      double s = 0, m = 0;
      for (int64_t i = 0; i < k; ++i) {
        s += double(wr[i]) * xa[t * k + i];
        m += std::fabs(double(wr[i]) * xa[t * k + i]);
      }
      y[t * n + r] = s;
      (*mag)[t * n + r] = m;
    }
  }
  return y;
}

std::vector<const char*> backends() {
  std::vector<const char*> out;
  for (const char* b : {"scalar", "avx2", "avx2vnni", "avx512", "avx512vnni", "neon", "neon_dotprod"})
    if (force_matmul_backend(b)) out.push_back(b);
  force_matmul_backend("auto");
  return out;
}

// matmul of w and x on backend b into y, checked against the exact product within 1e-5 of the sum of
// |products| (mag, per output; the backend's activation rounding included).
void expect_exact_product(const char* b, const Weights& w, const std::vector<float>& x, int64_t n_tok,
                          ThreadPool& pool, std::vector<float>& y, std::vector<double>& mag) {
  ASSERT_TRUE(force_matmul_backend(b));
  const auto ref = reference(w, x, n_tok, &mag);
  const int64_t n = w.view.rows(), k = w.view.ne[0];
  y.assign(static_cast<size_t>(n_tok * n), NAN);
  matmul(w.view, x.data(), n_tok, y.data(), pool);
  for (int64_t i = 0; i < n_tok * n; ++i)
    ASSERT_NEAR(y[i], ref[i], 1e-5 * mag[i] + 1e-30)
        << b << " " << dtype_name(w.view.type) << " K=" << k << " N=" << n << " n_tok=" << n_tok << " i=" << i;
}

// The items of matrices of 40, 0, 16 and 17 rows (3, 0, 1 and 2 items of up to 16 rows): every range of
// items [b, e) reaches each of its rows once, one call per matrix it touches, in matrix order.
TEST(RowItems, RunsCoverEachRowOnceOneCallPerMatrix) {
  const std::vector<int64_t> rows = {40, 0, 16, 17};
  RowItems items;
  items.add(999);
  items.clear();  // forgets the matrix above
  for (int64_t r : rows) items.add(r);
  ASSERT_EQ(items.size(), 6);
  const int64_t first_item[] = {0, 3, 3, 4};  // of each matrix
  for (int64_t b = 0; b <= items.size(); ++b) {
    for (int64_t e = b; e <= items.size(); ++e) {
      std::vector<std::vector<int>> hits(rows.size());
      for (size_t m = 0; m < rows.size(); ++m) hits[m].assign(size_t(rows[m]), 0);
      int32_t last = -1;
      items.for_runs(b, e, [&](int32_t m, int64_t r0, int64_t r1) {
        EXPECT_GT(m, last) << "matrices out of order or called twice";
        last = m;
        ASSERT_LT(r0, r1);
        for (int64_t r = r0; r < r1; ++r) hits[size_t(m)][size_t(r)]++;
      });
      for (size_t m = 0; m < rows.size(); ++m)
        for (int64_t r = 0; r < rows[m]; ++r) {
          const int64_t item = first_item[m] + r / kRowItemRows;
          EXPECT_EQ(hits[m][size_t(r)], item >= b && item < e ? 1 : 0) << "items [" << b << ", " << e << ") matrix " << m << " row " << r;
        }
    }
  }
}

// Every backend, every weight type, odd shapes: y matches the exact product of the dequantized
// operands to float rounding (1e-5 of Σ|w·x|), and the SIMD backends match the scalar one.
TEST(Matmul, AllBackendsAllTypesMatchReference) {
  ThreadPool pool(3);
  const auto bs = backends();
  ASSERT_FALSE(bs.empty());
  std::printf("backends available: %zu (best: %s)\n", bs.size(), matmul_backend());
  for (DType t : kWeightTypes) {
    const bool k_quant = t == DType::Q4_K || t == DType::Q5_K || t == DType::Q6_K;
    const bool block32 = dtype_traits(t).block_size == 32;
    for (int64_t k : {int64_t(256), int64_t(768)}) {
      // Block-32 types: an odd block count at 288 (no tile kernel). Float types: the tile kernel at
      // K = 256, K not a multiple of 16 (dot products only) at 781.
      const int64_t kk = k_quant ? k : block32 ? (k == 256 ? 288 : k) : k == 256 ? k : k + 13;
      for (int64_t n : {int64_t(1), int64_t(7), int64_t(33)}) {
        const Weights w = make_weights(t, kk, n, static_cast<uint32_t>(kk * 31 + n));
        for (int64_t n_tok : {1, 2, 3, 7, 8, 9, 10, 17}) {  // every tile width 1..6
          const auto x = random_acts(n_tok * kk, static_cast<uint32_t>(n_tok));
          std::vector<float> y_scalar;
          for (const char* b : bs) {
            std::vector<double> mag;
            std::vector<float> y;
            ASSERT_NO_FATAL_FAILURE(expect_exact_product(b, w, x, n_tok, pool, y, mag));
            if (y_scalar.empty()) {
              y_scalar = y;
            } else if (matmul_activation_type(t, kk, n_tok) == activation_type_for(t)) {  // same rounding
              for (int64_t i = 0; i < n_tok * n; ++i) ASSERT_NEAR(y[i], y_scalar[i], 2e-6 * mag[i] + 1e-30) << b;
            }
          }
        }
      }
    }
  }
  force_matmul_backend("auto");
}

// The float formats' prefill tile past the shapes above: rows longer than a panel block (k = 16400:
// two blocks along k, the accumulators carried through y), two full tiles of tokens and a part, and
// a last panel of 8 rows; every backend against the exact product.
TEST(Matmul, FloatPrefillAcrossBlocksAndTiles) {
  ThreadPool pool(2);
  const int64_t k = 16400, n = 40, n_tok = 31;
  const auto x = random_acts(n_tok * k, 5);
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::F8_E4M3}) {
    const Weights w = make_weights(t, k, n, 77);
    for (const char* b : backends()) {
      std::vector<double> mag;
      std::vector<float> y;
      ASSERT_NO_FATAL_FAILURE(expect_exact_product(b, w, x, n_tok, pool, y, mag));
    }
  }
  force_matmul_backend("auto");
}

// One-token (decode) kernels at the shapes of real models (K = 1536 / 2560 / 8960: whole groups of
// 8 blocks / super-blocks; 1408, V2-Lite's expert width, and 1344: the Q4_0 / Q8_0 kernels' last
// group of 4 / 2 blocks; 4112 = 16 mod 32, the long-row float kernel's half step), rows split over 1, 2 and 3 threads
// (so a thread's range starts mid-matrix) and odd row counts: every backend matches the exact
// product and the scalar backend, and matmul_rows on a slice (an expert) matches the full matmul.
TEST(Matmul, DecodeKernelsAtModelShapes) {
  const auto bs = backends();
  for (DType t : kWeightTypes) {
    for (int64_t k : {int64_t(1536), int64_t(2560), int64_t(8960), int64_t(1408), int64_t(1344), int64_t(4112)}) {
      if (k % dtype_traits(t).block_size != 0) continue;  // K-quants: whole super-blocks
      const int64_t n = k == 8960 ? 19 : 45;
      const Weights w = make_weights(t, k, n, static_cast<uint32_t>(k + n));
      const auto x = random_acts(k, static_cast<uint32_t>(k));
      for (int threads : {1, 2, 3}) {
        ThreadPool pool(threads);
        std::vector<float> y_scalar;
        for (const char* b : bs) {
          ASSERT_TRUE(force_matmul_backend(b));
          std::vector<double> mag;
          const auto ref = reference(w, x, 1, &mag);  // this backend's activation rounding
          std::vector<float> y(n, NAN);
          matmul(w.view, x.data(), 1, y.data(), pool);
          for (int64_t i = 0; i < n; ++i)
            ASSERT_NEAR(y[i], ref[i], 1e-5 * mag[i] + 1e-30)
                << b << " " << dtype_name(t) << " K=" << k << " threads=" << threads << " row " << i;
          if (y_scalar.empty()) {
            y_scalar = y;
          } else if (matmul_activation_type(t, k, 1) == activation_type_for(t)) {  // same rounding
            for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(y[i], y_scalar[i], 2e-6 * mag[i] + 1e-30) << b;
          }
          std::vector<float> y_rows(n - 7, NAN);
          matmul_rows(w.view, 5, n - 7, x.data(), 1, y_rows.data(), pool);
          for (int64_t i = 0; i < n - 7; ++i) ASSERT_EQ(y_rows[i], y[i + 5]) << b << " " << dtype_name(t) << " row " << i;
        }
      }
    }
  }
  force_matmul_backend("auto");
}

// Every F8_E4M3 code (subnormals and ±0 included) reaches the products as exactly its value on every
// backend, in decode (one token: the gemv kernels) and in prefill (256 tokens: the tiles, bf16 ones
// included): 2 rows hold all 256 codes but the NaNs, the tokens are the unit vectors, so
// y[t][r] = w[r][t]. A row with a NaN code gives NaN.
TEST(Matmul, F8CodesReachTheProductsExactly) {
  const int64_t k = 128, n = 2;
  std::vector<uint8_t> codes(size_t(n * k));
  for (int c = 0; c < 256; ++c) codes[size_t(c)] = (c & 0x7F) == 0x7F ? 0 : static_cast<uint8_t>(c);
  TensorView w;
  w.name = "f8.weight", w.type = DType::F8_E4M3, w.n_dims = 2, w.ne = {k, n, 1, 1};
  w.data = codes.data(), w.nbytes = codes.size();
  std::vector<float> eye(size_t(k * k), 0.0f);
  for (int64_t t = 0; t < k; ++t) eye[size_t(t * k + t)] = 1.0f;
  ThreadPool pool(2);
  for (bool bf16 : {false, true}) {
    set_bf16_dot_products(bf16);
    for (const char* b : backends()) {
      ASSERT_TRUE(force_matmul_backend(b));
      std::vector<float> y(size_t(k * n), NAN);
      matmul(w, eye.data(), k, y.data(), pool);
      for (int64_t t = 0; t < k; ++t) {
        std::vector<float> y1(size_t(n), NAN);
        matmul(w, eye.data() + t * k, 1, y1.data(), pool);
        for (int64_t r = 0; r < n; ++r) {
          const float want = fp8_e4m3_to_f32(codes[size_t(r * k + t)]);
          ASSERT_EQ(y[size_t(t * n + r)], want) << b << " bf16=" << bf16 << " prefill, code " << int(codes[size_t(r * k + t)]);
          ASSERT_EQ(y1[size_t(r)], want) << b << " bf16=" << bf16 << " decode, code " << int(codes[size_t(r * k + t)]);
        }
      }
      codes[5] = 0x7F, codes[size_t(k + 9)] = 0xFF;
      std::vector<float> y_nan(static_cast<size_t>(n));
      matmul(w, eye.data(), 1, y_nan.data(), pool);
      EXPECT_TRUE(std::isnan(y_nan[0]) && std::isnan(y_nan[1])) << b << ": NaN codes";
      codes[5] = 5, codes[size_t(k + 9)] = static_cast<uint8_t>(k + 9);
    }
  }
  set_bf16_dot_products(false);  // as the suite runs
  force_matmul_backend("auto");
}

// Block-scaled weights (DeepSeek's FP8 layout: a float per 128 × 128 block) in float32 products: decode
// and prefill match the exact product with the scaled weights on every backend, for row ranges that
// start and end inside row blocks and a last column block that is partial (K = 320), over 1 and 3
// threads; bad scale shapes and integer weight types are refused by name.
TEST(Matmul, BlockScaledProductsMatchTheScaledWeights) {
  const int64_t k = 320, n = 300, block = 128, cb = 3, rbs = 3;
  set_bf16_dot_products(false);
  for (DType t : {DType::F8_E4M3, DType::BF16}) {
    const Weights w = make_weights(t, k, n, 5);
    std::vector<float> scales(static_cast<size_t>(rbs * cb));
    for (size_t i = 0; i < scales.size(); ++i) scales[i] = 0.25f + 0.5f * float(i);
    for (const int64_t n_tok : {1, 9, 40}) {
      const auto x = random_acts(n_tok * k, 6);
      std::vector<double> want(static_cast<size_t>(n_tok * n)), mag(want.size());
      std::vector<float> row(static_cast<size_t>(k));
      for (int64_t r = 0; r < n; ++r) {
        dequantize_row(t, w.bytes.data() + size_t(r) * row_bytes(t, k), row.data(), k);
        for (int64_t tok = 0; tok < n_tok; ++tok)
          for (int64_t c = 0; c < k; ++c) {
            const double v = double(row[size_t(c)]) * scales[size_t((r / block) * cb + c / block)] * x[size_t(tok * k + c)];
            want[size_t(tok * n + r)] += v, mag[size_t(tok * n + r)] += std::fabs(v);
          }
      }
      const int64_t row0 = 100, n_rows = 150;  // rows 100 .. 249: inside row blocks 0, 1 and 1
      for (int threads : {1, 3}) {
        ThreadPool pool(threads);
        for (const char* b : backends()) {
          ASSERT_TRUE(force_matmul_backend(b));
          std::vector<float> y(static_cast<size_t>(n_tok * n_rows), NAN);
          matmul_rows_block_scaled(w.view, scales.data(), cb, block, row0, n_rows, x.data(), n_tok, y.data(), pool);
          for (int64_t tok = 0; tok < n_tok; ++tok)
            for (int64_t i = 0; i < n_rows; ++i) {
              const size_t at = size_t(tok * n + row0 + i);
              ASSERT_NEAR(y[size_t(tok * n_rows + i)], want[at], 1e-5 * mag[at] + 1e-30)
                  << b << " " << dtype_name(t) << " threads=" << threads << " tokens=" << n_tok << " row " << row0 + i;
            }
        }
      }
    }
    ThreadPool pool(1);
    std::vector<float> x(static_cast<size_t>(k)), y(static_cast<size_t>(n));
    EXPECT_THROW(matmul_rows_block_scaled(w.view, scales.data(), 2, block, 0, n, x.data(), 1, y.data(), pool), Error);
  }
  force_matmul_backend("auto");
  const Weights q = make_weights(DType::Q8_0, k, 4, 7);
  std::vector<float> scales(3, 1.0f), x(static_cast<size_t>(2 * k)), y(8);
  ThreadPool pool(1);
  EXPECT_THROW(matmul_rows_block_scaled(q.view, scales.data(), 3, 128, 0, 4, x.data(), 2, y.data(), pool), Error);
}

// With bf16 products (AVX-512 BF16 CPUs), block-scaled prefill is the prefill of the BF16 matrix that
// converting the checkpoint gives (each weight times its scale in float32, rounded to bf16): the same
// floats, bit for bit, for ranges of rows that straddle row blocks, 1 and 3 threads.
// FP8 decode with the bf16 products on (gemv_avx512bf16.cc, where the CPU has AVX-512 BF16 and
// VBMI): each row block's activation x·s, as scale_blocks computes it in float32, is rounded to
// bf16 once, and the codes meet it exactly: y matches that double-precision sum to float rounding,
// on 1 and 3 threads, in rows that start and end inside row blocks. Without those features, or with
// the products off, the activation stays float32.
TEST(Matmul, Fp8DecodeRoundsTheScaledActivationToBf16) {
  const int64_t k = 448, n = 300, block = 128, cb = 4, rbs = 3;
  const Weights w = make_weights(DType::F8_E4M3, k, n, 8);
  std::vector<float> scales(static_cast<size_t>(rbs * cb));
  for (size_t i = 0; i < scales.size(); ++i) scales[i] = 0.125f + 0.375f * float(i);
  const auto x = random_acts(k, 9);
  const bool has = cpu_features().avx512bf16 && cpu_features().avx512vbmi && std::string(matmul_backend()) == "avx512vnni";
  for (bool on : {true, false}) {
    set_bf16_dot_products(on);
    const bool rounds = on && has;
    EXPECT_EQ(matmul_activation_type(DType::F8_E4M3, k, 1) == DType::BF16, rounds);
    std::vector<double> want(static_cast<size_t>(n)), mag(want.size());
    std::vector<float> row(static_cast<size_t>(k));
    for (int64_t r = 0; r < n; ++r) {
      dequantize_row(DType::F8_E4M3, w.bytes.data() + size_t(r) * row_bytes(DType::F8_E4M3, k), row.data(), k);
      for (int64_t c = 0; c < k; ++c) {
        float xs = x[size_t(c)] * scales[size_t((r / block) * cb + c / block)];
        if (rounds) xs = bf16_to_f32(f32_to_bf16(xs));
        const double v = double(row[size_t(c)]) * xs;
        want[size_t(r)] += v, mag[size_t(r)] += std::fabs(v);
      }
    }
    for (int threads : {1, 3}) {
      ThreadPool pool(threads);
      const int64_t row0 = 70, n_rows = 200;
      std::vector<float> y(static_cast<size_t>(n_rows), NAN);
      matmul_rows_block_scaled(w.view, scales.data(), cb, block, row0, n_rows, x.data(), 1, y.data(), pool);
      for (int64_t i = 0; i < n_rows; ++i)
        ASSERT_NEAR(y[size_t(i)], want[size_t(row0 + i)], 1e-5 * mag[size_t(row0 + i)] + 1e-30)
            << "bf16 " << on << " threads=" << threads << " row " << row0 + i;
    }
  }
  set_bf16_dot_products(false);
}


// A few block-scaled FP8 tokens (a batched decode step, MTP's verification) go through the rows in
// one pass where the bf16 one-token kernel takes them (gemv_avx512bf16.cc): each token's products are
// those it gets alone, bit for bit, in rows that start and end inside row blocks, on 1 and 3 threads.
TEST(Matmul, Fp8FewTokensGiveEachTokenItsOwnProducts) {
  if (!(cpu_features().avx512bf16 && cpu_features().avx512vbmi && std::string(matmul_backend()) == "avx512vnni"))
    GTEST_SKIP() << "no AVX-512 BF16 and VBMI on this CPU";
  set_bf16_dot_products(true);
  const int64_t k = 448, n = 300, block = 128, cb = 4, rbs = 3;
  const Weights w = make_weights(DType::F8_E4M3, k, n, 18);
  std::vector<float> scales(static_cast<size_t>(rbs * cb));
  for (size_t i = 0; i < scales.size(); ++i) scales[i] = 0.25f + 0.125f * float(i);
  const auto x = random_acts(kMaxFewTokens * k, 19);
  for (int threads : {1, 3}) {
    ThreadPool pool(threads);
    const int64_t row0 = 37, rows = 250;
    std::vector<float> alone(static_cast<size_t>(kMaxFewTokens * rows));
    for (int64_t t = 0; t < kMaxFewTokens; ++t)
      matmul_rows_block_scaled(w.view, scales.data(), cb, block, row0, rows, x.data() + t * k, 1, alone.data() + t * rows, pool);
    for (int64_t n_tok = 2; n_tok <= kMaxFewTokens; ++n_tok) {
      std::vector<float> y(static_cast<size_t>(n_tok * rows), NAN);
      matmul_rows_block_scaled(w.view, scales.data(), cb, block, row0, rows, x.data(), n_tok, y.data(), pool);
      for (int64_t i = 0; i < n_tok * rows; ++i)
        ASSERT_EQ(y[size_t(i)], alone[size_t(i)]) << n_tok << " tokens, threads=" << threads << " at " << i;
    }
  }
  set_bf16_dot_products(false);
}
// matmul of w (n rows of k) with the first n_tok rows of x for each n_tok in `tokens` (outputs into ys),
// each product checked against the double sum of wb (the weights as the bf16 products see them) times
// the bf16-rounded activations, to float32 accumulation.
void run_against_bf16_sums(const TensorView& w, const std::vector<float>& wb, const std::vector<float>& x, int64_t k,
                           int64_t n, const std::vector<int64_t>& tokens, ThreadPool& pool, const std::string& name,
                           std::vector<std::vector<float>>& ys) {
  for (int64_t n_tok : tokens) {
    std::vector<float> y(size_t(n_tok * n), NAN);
    matmul(w, x.data(), n_tok, y.data(), pool);
    for (int64_t t = 0; t < n_tok; ++t)
      for (int64_t r = 0; r < n; ++r) {
        double want = 0, mag = 0;
        for (int64_t i = 0; i < k; ++i) {
          const double v = double(wb[size_t(r * k + i)]) * bf16_to_f32(f32_to_bf16(x[size_t(t * k + i)]));
          want += v, mag += std::fabs(v);
        }
        ASSERT_NEAR(y[size_t(t * n + r)], want, 1e-5 * mag + 1e-30) << name << " tokens=" << n_tok << " token " << t << " row " << r;
      }
    ys.push_back(std::move(y));
  }
}

// Where the CPU has AMX (util/cpu.h), prefill's bf16 products go through its tiles (gemm_amx_bf16.cc):
// for BF16, F16 and F8_E4M3 rows as stored and BF16 rows coded at load, 17 and 70 rows (whole and
// partial 16-row tiles), 5 to 100 tokens (whole and partial 32-token blocks) and k from one tile step
// to 1536, each product matches the double-precision sum of the bf16-rounded weights and activations
// to float32 accumulation, and a token gets the same bits whatever the prompt's length (its block
// whole or the padded last one). With AMX off, the vdpbf16ps tile meets the same bound.
TEST(Matmul, AmxPrefillMatchesTheBf16Sums) {
  if (!(cpu_features().amx_bf16 && std::string(matmul_backend()) == "avx512vnni")) GTEST_SKIP() << "no AMX on this CPU";
  set_bf16_dot_products(true);
  ThreadPool pool(2);
  struct Case {
    DType type;
    bool coded;
    int64_t k;
  };
  std::vector<Case> cases;
  for (DType t : {DType::BF16, DType::F16, DType::F8_E4M3})
    for (int64_t k : {32, 96, 1536}) cases.push_back({t, false, k});
  for (int64_t k : {128, 1536}) cases.push_back({DType::BF16, true, k});  // coded in blocks of 64
  const std::vector<int64_t> kTokens = {5, 16, 17, 32, 45, 100};
  for (const Case& c : cases)
    for (int64_t n : {17, 70}) {
      Weights w = make_weights(c.type, c.k, n, static_cast<uint32_t>(c.k + n));
      const std::string name = std::string(dtype_name(c.type)) + (c.coded ? " coded" : "") + " k=" + std::to_string(c.k) +
                               " rows=" + std::to_string(n);
      std::vector<float> wb(static_cast<size_t>(n * c.k));  // the weights as the products see them
      for (int64_t r = 0; r < n; ++r) {
        dequantize_row(c.type, w.bytes.data() + size_t(r) * row_bytes(c.type, c.k), wb.data() + r * c.k, c.k);
        for (int64_t i = 0; i < c.k; ++i) wb[size_t(r * c.k + i)] = bf16_to_f32(f32_to_bf16(wb[size_t(r * c.k + i)]));
      }
      if (c.coded) {
        ASSERT_TRUE(code_bf16_matrix(w.bytes.data(), w.bytes.size(), n, c.k)) << name;
        w.view.data = w.bytes.data();
        w.view.layout = RowLayout::CodedBf16;
      }
      const auto x = random_acts(100 * c.k, static_cast<uint32_t>(3 * c.k + n));
      for (bool amx : {true, false}) {
        set_amx_products(amx);
        ASSERT_EQ(amx_products(), amx) << name;
        ASSERT_EQ(matmul_activation_type(c.type, c.k, 8), DType::BF16) << name;
        std::vector<std::vector<float>> ys;
        run_against_bf16_sums(w.view, wb, x, c.k, n, kTokens, pool, name + " amx=" + std::to_string(amx), ys);
        if (HasFatalFailure()) return;
        if (!amx) continue;
        const std::vector<float>& longest = ys.back();  // 100 tokens: three whole blocks and a padded one
        for (size_t j = 0; j + 1 < ys.size(); ++j)
          for (int64_t i = 0; i < kTokens[j] * n; ++i)
            ASSERT_EQ(ys[j][size_t(i)], longest[size_t(i)]) << name << " tokens=" << kTokens[j] << " at " << i;
      }
    }
  reset_amx_products();
  set_bf16_dot_products(false);  // as the suite runs
}

// On AMX CPUs the integer formats' prefill (64 tokens or more) takes their weights made bf16
// (gemm_int_avx512bf16) and the activations rounded to bf16, in place of the vpdpbusd tile's 8-bit
// activations. For every integer format, as stored and (where it has the layout) interleaved at load,
// 43 rows (5 groups of 8 and 3 rows past them), 64 to 100 tokens (whole 32-token blocks, and one padded): each product is the double sum of the
// bf16-rounded dequantized weights and activations to float32 accumulation; a token gets the same bits
// whatever the prompt's length; and the products are closer to the exact ones (dequantized weights ×
// float32 activations) than the vpdpbusd tile's, in root mean square over the matrix.
TEST(Matmul, AmxIntegerPrefillIsTheBf16WeightsProducts) {
  if (!(cpu_features().amx_bf16 && std::string(matmul_backend()) == "avx512vnni")) GTEST_SKIP() << "no AMX on this CPU";
  set_bf16_dot_products(true);
  set_amx_products(true);  // whatever R1_AMX says
  ThreadPool pool(2);
  const DType kTypes[] = {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0,
                          DType::IQ4_NL, DType::Q4_K, DType::Q5_K, DType::Q6_K};
  const std::vector<int64_t> kTokens = {64, 81, 100};
  for (DType type : kTypes)
    for (bool interleaved : {false, true}) {
      if (interleaved && !can_interleave(type)) continue;
      const int64_t k = dtype_traits(type).block_size == 256 ? 512 : 288, n = 43;
      Weights w = make_weights(type, k, n, static_cast<uint32_t>(k + 11 * static_cast<int>(type)));
      const std::string name = std::string(dtype_name(type)) + (interleaved ? " interleaved" : "");
      std::vector<float> exact(static_cast<size_t>(n * k)), wb(exact.size());  // dequantized; as the products see it
      for (int64_t r = 0; r < n; ++r) dequantize_row(type, w.bytes.data() + size_t(r) * row_bytes(type, k), exact.data() + r * k, k);
      for (size_t i = 0; i < exact.size(); ++i) wb[i] = bf16_to_f32(f32_to_bf16(exact[i]));
      if (interleaved) {
        repack_x8(type, w.bytes.data(), n, k);
        w.view.data = w.bytes.data();
        w.view.layout = RowLayout::Interleaved8;
      }
      const auto x = random_acts(100 * k, static_cast<uint32_t>(5 * k + n));
      EXPECT_EQ(matmul_activation_type(type, k, 64), DType::BF16) << name;
      EXPECT_EQ(matmul_activation_type(type, k, 63), activation_type_for(type)) << name;
      std::vector<std::vector<float>> ys;
      run_against_bf16_sums(w.view, wb, x, k, n, kTokens, pool, name, ys);
      if (HasFatalFailure()) return;
      for (size_t j = 0; j + 1 < ys.size(); ++j)
        for (int64_t i = 0; i < kTokens[j] * n; ++i) ASSERT_EQ(ys[j][size_t(i)], ys.back()[size_t(i)]) << name << " at " << i;
      // Against the exact products: this path, and the vpdpbusd tile (AMX off).
      set_amx_products(false);
      std::vector<float> int8(size_t(100 * n), NAN);
      matmul(w.view, x.data(), 100, int8.data(), pool);
      set_amx_products(true);
      double err_bf16 = 0, err_int8 = 0;
      for (int64_t t = 0; t < 100; ++t)
        for (int64_t r = 0; r < n; ++r) {
          double want = 0;
          for (int64_t i = 0; i < k; ++i) want += double(exact[size_t(r * k + i)]) * x[size_t(t * k + i)];
          err_bf16 += std::pow(ys.back()[size_t(t * n + r)] - want, 2), err_int8 += std::pow(int8[size_t(t * n + r)] - want, 2);
        }
      EXPECT_LT(err_bf16, err_int8) << name << ": rms error " << std::sqrt(err_bf16 / (100 * n)) << " against the int8 tile's "
                                    << std::sqrt(err_int8 / (100 * n));
    }
  reset_amx_products();
  set_bf16_dot_products(false);  // as the suite runs
}

TEST(Matmul, BlockScaledBf16PrefillIsTheConvertedBf16Matrix) {
  if (!(cpu_features().avx512bf16 && std::string(matmul_backend()) == "avx512vnni")) {
    GTEST_SKIP() << "no AVX-512 BF16 products on this CPU";
  }
  const int64_t k = 384, n = 300, block = 128, cb = 3, n_tok = 37;
  set_bf16_dot_products(true);
  for (DType t : {DType::F8_E4M3, DType::BF16, DType::F16}) {
    const Weights w = make_weights(t, k, n, 11);
    std::vector<float> scales(static_cast<size_t>(3 * cb));
    for (size_t i = 0; i < scales.size(); ++i) scales[i] = 0.3f + 0.37f * float(i);  // not powers of 2: they round
    Weights converted = make_weights(DType::BF16, k, n, 1);
    std::vector<float> row(static_cast<size_t>(k));
    for (int64_t r = 0; r < n; ++r) {
      dequantize_row(t, w.bytes.data() + size_t(r) * row_bytes(t, k), row.data(), k);
      for (int64_t c = 0; c < k; ++c) row[size_t(c)] *= scales[size_t((r / block) * cb + c / block)];
      quantize_row(DType::BF16, row.data(), converted.bytes.data() + size_t(r) * row_bytes(DType::BF16, k), k);
    }
    const auto x = random_acts(n_tok * k, 12);
    for (const auto& [row0, n_rows] : {std::pair<int64_t, int64_t>{0, n}, {100, 150}, {120, 17}}) {
      for (int threads : {1, 3}) {
        ThreadPool pool(threads);
        std::vector<float> got(size_t(n_tok * n_rows), NAN), want(got.size(), NAN);
        matmul_rows_block_scaled(w.view, scales.data(), cb, block, row0, n_rows, x.data(), n_tok, got.data(), pool);
        matmul_rows(converted.view, row0, n_rows, x.data(), n_tok, want.data(), pool);
        ASSERT_EQ(got, want) << dtype_name(t) << " rows " << row0 << "+" << n_rows << " threads=" << threads;
      }
    }
  }
  set_bf16_dot_products(false);
}

// The float tile of the AVX2 and NEON backends (float_gemm.h) splits a product over passes along k,
// row blocks and token chunks and carries its lane sums between passes, so an output is the same bits
// whichever tile, block and chunk it falls in: a prefill of 133 tokens (chunks of 128 + 5) over 72
// rows (blocks of 64 + 8) at k = 2064 (passes of 1024, 1024, 16) equals the same tokens taken
// kMaxFewTokens + 1 at a time (a count every backend's tile takes; the last group overlapping the
// one before), and the exact product.
TEST(Matmul, FloatTileGivesTheSameBitsInEveryPass) {
  ThreadPool pool(2);
  const int64_t k = 2064, n = 72, n_tok = 133;
  const auto x = random_acts(n_tok * k, 21);
  int ran = 0;
  for (const char* b : {"avx2", "avx2vnni", "neon", "neon_dotprod"}) {
    if (!force_matmul_backend(b)) continue;
    ++ran;
    for (DType t : {DType::F32, DType::F16, DType::BF16}) {
      const Weights w = make_weights(t, k, n, 22);
      std::vector<double> mag;
      constexpr int64_t g = kMaxFewTokens + 1;
      std::vector<float> batch, group(g * n);
      ASSERT_NO_FATAL_FAILURE(expect_exact_product(b, w, x, n_tok, pool, batch, mag));
      for (int64_t i0 = 0; i0 < n_tok; i0 += g) {
        const int64_t i = std::min(i0, n_tok - g);
        matmul(w.view, x.data() + i * k, g, group.data(), pool);
        for (int64_t j = 0; j < g * n; ++j)
          ASSERT_EQ(batch[i * n + j], group[j]) << b << " " << dtype_name(t) << " token " << i + j / n << " row " << j % n;
      }
    }
  }
  force_matmul_backend("auto");
  if (ran == 0) GTEST_SKIP() << "no backend with the float tile on this CPU";
}

#if defined(R1_HAVE_X86_KERNELS) || defined(R1_HAVE_NEON_KERNELS)
// The prefill tiles of backend b (forced) give the dot products of `table` (which decode uses too)
// bit for bit: n rows of every block and K-quant type at k = 768 against n_tok tokens, prefill and
// decode, a Q8_0 code of -128 included (files may hold one).
void expect_tiles_equal_dot_products(const char* b, const VecDotTable& table, int64_t n, int64_t n_tok, uint32_t seed,
                                     ThreadPool& pool) {
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::IQ4_NL, DType::Q4_K,
                 DType::Q5_K, DType::Q6_K}) {
    const int64_t k = 768;
    Weights w = make_weights(t, k, n, seed);
    if (t == DType::Q8_0) w.bytes[2] = 0x80;
    const auto x = random_acts(n_tok * k, seed + 1);
    std::vector<float> batch(n_tok * n), one(n);
    const DType at = activation_type_for(t);
    std::vector<uint8_t> xq(row_bytes(at, k));
    const VecDotFn dot = vec_dot_for(table, t);
    matmul(w.view, x.data(), n_tok, batch.data(), pool);
    for (int64_t i = 0; i < n_tok; ++i) {
      matmul(w.view, x.data() + i * k, 1, one.data(), pool);
      quantize_activations(at, x.data() + i * k, xq.data(), k);
      for (int64_t r = 0; r < n; ++r) {
        const float want = dot(k, w.view.row(r), xq.data());
        ASSERT_EQ(batch[i * n + r], want) << b << " " << dtype_name(t) << " prefill, token " << i << " row " << r;
        ASSERT_EQ(one[r], want) << b << " " << dtype_name(t) << " decode, token " << i << " row " << r;
      }
    }
  }
}
#endif

#if defined(R1_HAVE_X86_KERNELS)
// The AVX2 prefill tiles (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, Q4_K, Q5_K, Q6_K) take the AVX2 dot
// products' steps per block, so they equal the dot products (which decode uses) bit for bit; so do
// the same tiles with AVX-VNNI's products (avx2vnni), whose integer sums are the same. (A one-token
// kernel of 2 or 4 rows per pass was tried: 2x slower than the dot products in decode, as on
// AVX-512 — rows walked side by side stream worse.)
TEST(Matmul, Avx2TilesEqualTheDotProducts) {
  if (!force_matmul_backend("avx2")) GTEST_SKIP() << "no AVX2 on this CPU";
  ThreadPool pool(2);
  for (const char* b : {"avx2", "avx2vnni"}) {
    if (!force_matmul_backend(b)) continue;  // avx2vnni: CPUs with AVX-VNNI only
    // Row and token tails of the 2 x 4 and 1 x 32 tiles (8-token groups).
    ASSERT_NO_FATAL_FAILURE(expect_tiles_equal_dot_products(b, vec_dot_avx2(), 7, 41, 11, pool));
  }
  force_matmul_backend("auto");
}

// The repacked Q4_0 / Q8_0 kernels with AVX-VNNI's products give what the AVX2 ones give, bit for bit
// (the same integer sums), prefill and decode.
TEST(Matmul, Avx2VnniRepackedKernelsEqualAvx2) {
  if (!force_matmul_backend("avx2vnni")) GTEST_SKIP() << "no AVX-VNNI on this CPU";
  ThreadPool pool(2);
  for (DType type : {DType::Q4_0, DType::Q8_0}) {
    const int64_t k = 1536, n = 40;
    Weights w = make_weights(type, k, n, 21);
    if (type == DType::Q8_0) w.bytes[2] = 0x80;
    repack_x8(type, w.bytes.data(), n, k);
    w.view.data = w.bytes.data();
    w.view.layout = RowLayout::Interleaved8;
    for (int64_t n_tok : {1, 3, 37}) {
      const auto x = random_acts(n_tok * k, static_cast<uint32_t>(n_tok));
      std::vector<float> want(n_tok * n), got(n_tok * n);
      ASSERT_TRUE(force_matmul_backend("avx2"));
      matmul(w.view, x.data(), n_tok, want.data(), pool);
      ASSERT_TRUE(force_matmul_backend("avx2vnni"));
      matmul(w.view, x.data(), n_tok, got.data(), pool);
      ASSERT_EQ(got, want) << dtype_name(type) << " n_tok=" << n_tok;
    }
  }
  force_matmul_backend("auto");
}
#endif

#if defined(R1_HAVE_NEON_KERNELS)
// The NEON prefill tiles for rows as stored (gemm_neon_impl.h: the 32-element blocks 4 rows × 4 tokens,
// the K-quants 1 row × 32 tokens of expanded super-blocks, neon_kquant.h) take the dot products' steps
// per block, so prefill equals the dot products, which decode uses, bit for bit; with and without the
// dot-product extension. Checked under qemu (scripts/test_arm.sh).
TEST(Matmul, NeonTilesEqualTheDotProducts) {
  ThreadPool pool(2);
  int ran = 0;
  for (const char* b : {"neon", "neon_dotprod"}) {
    if (!force_matmul_backend(b)) continue;  // neon_dotprod: CPUs with the extension only
    const VecDotTable& table = std::string(b) == "neon" ? vec_dot_neon() : vec_dot_neon_dotprod();
    // Row and token tails of the tiles, a chunk of 32 tokens and a part.
    ASSERT_NO_FATAL_FAILURE(expect_tiles_equal_dot_products(b, table, 7, 37, 13, pool));
    ++ran;
  }
  force_matmul_backend("auto");
  ASSERT_GT(ran, 0);
}
#endif

// The dot-product tables whose activation quantizers this CPU runs: the scalar one, and the x86 ones it has.
std::vector<const VecDotTable*> quantizer_tables() {
  std::vector<const VecDotTable*> tables = {&vec_dot_scalar()};
#if defined(R1_HAVE_X86_KERNELS)
  for (const char* b : backends()) {
    if (std::string(b) == "avx2") tables.push_back(&vec_dot_avx2());
    if (std::string(b) == "avx512") tables.push_back(&vec_dot_avx512());
  }
#endif
  return tables;
}

// Every build's Q8_0 and Q8_K activation quantizers write the bytes of the scalar ones (ties, zeros, large
// and tiny blocks included), so the backends see the same activations.
TEST(Matmul, ActivationQuantizersAgree) {
  const int64_t k = 32 * 64;
  std::vector<float> x = random_acts(k, 11);
  for (int j = 0; j < 32; ++j) x[j] = 0.0f;                    // an all-zero block
  for (int j = 32; j < 64; ++j) x[j] = float(j - 48) + 0.5f;   // amax 127 (below): exact ties
  x[32] = 127.0f;
  for (int j = 256; j < 512; ++j) x[j] = 0.0f;                  // an all-zero Q8_K block
  x[600] = -50.0f, x[700] = 50.0f;                             // largest magnitude twice, signs differ
  for (int j = 64; j < 96; ++j) x[j] *= 1e-6f;                 // tiny values
  for (int j = 96; j < 128; ++j) x[j] *= 1e4f;                 // large values
  std::vector<uint8_t> want(row_bytes(DType::Q8_0, k)), got(want.size());
  quantize_row_q8_0_activations(x.data(), want.data(), k);
  const std::vector<const VecDotTable*> tables = quantizer_tables();
  std::vector<uint8_t> want_k(row_bytes(DType::Q8_K, k)), got_k(want_k.size());
  quantize_row(DType::Q8_K, x.data(), want_k.data(), k);
  for (const VecDotTable* t : tables) {
    std::fill(got.begin(), got.end(), 0xAB);
    t->quantize_q8_0(x.data(), got.data(), k);
    EXPECT_EQ(got, want) << t->name;
    std::fill(got_k.begin(), got_k.end(), 0xAB);
    t->quantize_q8_k(x.data(), got_k.data(), k);
    EXPECT_EQ(got_k, want_k) << t->name;
  }
}

// A NaN among the activations (a broken model) leaves every quantizer inside its block: the vector
// ones look for the element of largest magnitude, which a NaN can be (AddressSanitizer checks the reads).
TEST(Matmul, ActivationQuantizersStayInTheBlockOnNaN) {
  const std::vector<const VecDotTable*> tables = quantizer_tables();
  for (size_t nan_at : {size_t(0), size_t(100), size_t(255)}) {
    std::vector<float> x = random_acts(256, 13);  // exactly one Q8_K block, so a read past it is caught
    x[nan_at] = std::nanf("");
    std::vector<uint8_t> q8k(row_bytes(DType::Q8_K, 256)), q80(row_bytes(DType::Q8_0, 256));
    for (const VecDotTable* t : tables) {
      t->quantize_q8_k(x.data(), q8k.data(), 256);
      t->quantize_q8_0(x.data(), q80.data(), 256);
    }
  }
  SUCCEED();
}

// With bf16 dot products on (AVX-512 BF16 CPUs), BF16, F16 and F8_E4M3 prefill round the activations
// (and F16 weights) to bf16 and match that reference; off, they are exact again.
TEST(Matmul, Bf16DotProductsRoundTheActivations) {
  ThreadPool pool(2);
  const int64_t k = 512;
  const bool has = cpu_features().avx512bf16 && std::string(matmul_backend()) == "avx512vnni";
  const bool f8_decode = has && cpu_features().avx512vbmi;  // F8 decode rounds too (gemv_avx512bf16.cc)
  for (const DType type : {DType::BF16, DType::F16, DType::F8_E4M3}) {
    // 1-2 groups and tails for prefill; one token (decode) at 45 rows
    for (const auto& [n, n_tok] : {std::pair<int64_t, int64_t>{37, 21}, {70, 5}, {16, 13}, {45, 1}}) {
      const Weights w = make_weights(type, k, n, 3);
      const auto x = random_acts(n_tok * k, 4);
      std::vector<float> rounded, exact;
      for (bool on : {true, false}) {
        set_bf16_dot_products(on);
        const bool rounds = matmul_activation_type(type, k, n_tok) == DType::BF16;
        EXPECT_EQ(rounds, on && (n_tok > 1 ? has : type == DType::F8_E4M3 && f8_decode));
        // Decode stays exact for BF16 / F16 (memory-bound), and for F8 rows not whole 64-code steps.
        EXPECT_EQ(matmul_activation_type(type, k, 1) == DType::BF16, on && type == DType::F8_E4M3 && f8_decode);
        EXPECT_EQ(matmul_activation_type(type, 480, 1), activation_type_for(type));
        std::vector<double> mag;
        const auto ref = reference(w, x, n_tok, &mag);
        std::vector<float> y(n_tok * n, NAN);
        matmul(w.view, x.data(), n_tok, y.data(), pool);
        for (int64_t i = 0; i < n_tok * n; ++i) {
          ASSERT_NEAR(y[i], ref[i], 1e-5 * mag[i] + 1e-30) << dtype_name(type) << " " << on << " " << i;
        }
        (on ? rounded : exact) = y;
      }
      if (n_tok > 1 ? has : type == DType::F8_E4M3 && f8_decode) {
        EXPECT_NE(rounded, exact) << dtype_name(type) << " n_tok=" << n_tok;  // the rounding is real
      }
    }
  }
  set_bf16_dot_products(false);
}

// R1_BF16_DOT unset or "auto": prefill takes the bf16 products only on AMD's AVX-512 BF16 CPUs (Intel's
// vdpbf16ps runs at half the float32 FMA rate) and on CPUs with AMX, decode where it did; "1"
// everywhere, "0" nowhere; another value is an error naming it.
TEST(Matmul, Bf16PrefillIsChosenPerCpu) {
  const char* saved = std::getenv("R1_BF16_DOT");
  const std::string before = saved ? saved : "";
  const bool has = cpu_features().avx512bf16 && std::string(matmul_backend()) == "avx512vnni";
  const bool f8_decode = has && cpu_features().avx512vbmi;
  for (const char* v : {"", "auto", "0", "1"}) {
    ::setenv("R1_BF16_DOT", v, 1);
    reset_bf16_dot_products();
    const std::string s = v;
    const bool prefill = has && (s == "1" || (s != "0" && (cpu_features().amd || cpu_features().amx_bf16)));
    EXPECT_EQ(matmul_activation_type(DType::F16, 512, 8) == DType::BF16, prefill) << "R1_BF16_DOT=" << s;
    EXPECT_EQ(matmul_activation_type(DType::BF16, 512, 8) == DType::BF16, prefill) << "R1_BF16_DOT=" << s;
    EXPECT_EQ(matmul_activation_type(DType::F8_E4M3, 512, 1) == DType::BF16, f8_decode && s != "0") << s;
    EXPECT_EQ(bf16_dot_products(), has && s != "0") << s;  // prompt attention's switch
  }
  ::setenv("R1_BF16_DOT", "yes", 1);
  reset_bf16_dot_products();
  try {
    (void)matmul_activation_type(DType::F16, 512, 8);
    if (has) ADD_FAILURE() << "R1_BF16_DOT=yes was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("R1_BF16_DOT=yes"), std::string::npos) << e.what();
  }
  if (saved) ::setenv("R1_BF16_DOT", before.c_str(), 1);
  else ::unsetenv("R1_BF16_DOT");
  reset_bf16_dot_products();
}

// R1_AMX: unset or "1" AMX where the CPU has it, "0" never (the bf16 products then take vdpbf16ps, and
// prefill on Intel goes back to float32); another value is an error naming it.
TEST(Matmul, AmxIsChosenByCpuAndEnvironment) {
  const char* saved = std::getenv("R1_AMX");
  const std::string before = saved ? saved : "";
  for (const char* v : {"", "1", "0"}) {
    ::setenv("R1_AMX", v, 1);
    reset_amx_products();
    EXPECT_EQ(amx_products(), std::string(v) != "0" && cpu_features().amx_bf16) << "R1_AMX=" << v;
  }
  ::setenv("R1_AMX", "on", 1);
  reset_amx_products();
  try {
    (void)amx_products();
    ADD_FAILURE() << "R1_AMX=on was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("R1_AMX=on"), std::string::npos) << e.what();
  }
  if (saved) ::setenv("R1_AMX", before.c_str(), 1);
  else ::unsetenv("R1_AMX");
  reset_amx_products();
}

// R1_MATMUL_BACKEND names the default backend; force_matmul_backend("auto") returns to it.
TEST(Matmul, AutoBackendIsTheBestOrTheEnvironmentsChoice) {
  ASSERT_TRUE(force_matmul_backend("auto"));
  const char* env = std::getenv("R1_MATMUL_BACKEND");
  const std::string best = backends().back();
  EXPECT_EQ(std::string(matmul_backend()), env && *env && std::string(env) != "auto" ? std::string(env) : best);
  ASSERT_TRUE(force_matmul_backend("scalar"));
  EXPECT_STREQ(matmul_backend(), "scalar");
  ASSERT_TRUE(force_matmul_backend("auto"));
}

// matmul_rows on a stacked [experts][rows][K] tensor equals matmul on that expert's slice.
TEST(Matmul, RowsOfStackedTensor) {
  ThreadPool pool(2);
  const int64_t k = 256, rows = 6, experts = 3;
  Weights all = make_weights(DType::Q4_K, k, rows * experts, 5);
  all.view.n_dims = 3;
  all.view.ne = {k, rows, experts, 1};
  const auto x = random_acts(2 * k, 9);
  std::vector<float> y(2 * rows), y_slice(2 * rows);
  matmul_rows(all.view, 1 * rows, rows, x.data(), 2, y.data(), pool);
  TensorView slice = all.view;
  slice.n_dims = 2;
  slice.ne = {k, rows, 1, 1};
  slice.data = all.bytes.data() + row_bytes(DType::Q4_K, k) * rows;
  slice.nbytes = row_bytes(DType::Q4_K, k) * rows;
  matmul(slice, x.data(), 2, y_slice.data(), pool);
  EXPECT_EQ(y, y_slice);
}

// matmul_heads is one matmul_rows per head, in one parallel step: every backend and weight type,
// each head with its own activations, bit for bit what matmul_rows gives for the head, on 1 to 4
// threads (more threads than heads included). Rows that are not whole heads are an error.
TEST(Matmul, HeadsAreMatmulRowsPerHead) {
  for (DType type : kWeightTypes)
  for (auto [k, rows] : {std::pair<int64_t, int64_t>{64, 24}, {256, 8}, {512, 5}}) {
    if (k % dtype_traits(type).block_size != 0) continue;
    const int64_t H = 3;
    Weights w = make_weights(type, k, H * rows, static_cast<uint32_t>(k + rows));
    w.view.n_dims = 3;
    w.view.ne = {k, rows, H, 1};
    const auto x = random_acts(H * (k + 7), static_cast<uint32_t>(rows));
    for (const char* b : backends()) {
      ASSERT_TRUE(force_matmul_backend(b));
      std::vector<float> want(H * rows);
      for (int64_t h = 0; h < H; h++)
        matmul_rows(w.view, h * rows, rows, x.data() + h * (k + 7), 1, want.data() + h * rows, serial_pool());
      for (int threads : {1, 2, 3, 4}) {
        ThreadPool pool(threads);
        std::vector<float> y(H * rows, NAN);
        matmul_heads(w.view, H, x.data(), k + 7, y.data(), pool);
        for (int64_t i = 0; i < H * rows; i++)
          ASSERT_EQ(y[i], want[i]) << dtype_name(type) << " " << b << " K=" << k << " threads " << threads << " i=" << i;
      }
    }
    ThreadPool pool(2);
    std::vector<float> y(H * rows);
    EXPECT_THROW(matmul_heads(w.view, 7, x.data(), k + 7, y.data(), pool), Error);  // 7 divides none of them
  }
  force_matmul_backend("auto");
}

// Q4_0 / Q8_0 / Q4_K / Q5_0 rows repacked at load (ops/repack.h): unpacking gives every row's bytes back
// (rows past the last whole group untouched), and matmul / matmul_rows on the repacked tensor give on
// every backend what they give on the file's layout: the exact product to float rounding, and the
// scalar backend's results on the plain rows to 2e-6 of Σ|w·x| (the same integer sums, summed in
// another order).
TEST(Matmul, InterleavedRowsMatchThePlainRows) {
  ThreadPool pool(2);
  for (DType type : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q5_0})
  for (int64_t k : type == DType::Q4_K   ? std::vector<int64_t>{256, 1536, 2048, 8960}
                   : type == DType::Q5_0 ? std::vector<int64_t>{288, 1408, 1536}
                   : type == DType::Q8_0 ? std::vector<int64_t>{288, 1024, 1536}
                                         : std::vector<int64_t>{288, 1536}) {
    const int64_t n = 43;  // 5 groups of 8 and 3 rows past them
    Weights plain = make_weights(type, k, n, static_cast<uint32_t>(k));
    if (type == DType::Q8_0) plain.bytes[2] = 0x80;  // a code of -128 (files may hold one)
    Weights packed = plain;
    repack_x8(type, packed.bytes.data(), n, k);
    packed.view.data = packed.bytes.data();
    packed.view.layout = RowLayout::Interleaved8;
    const size_t rb = row_bytes(type, k);
    ASSERT_NE(packed.bytes, plain.bytes);
    EXPECT_TRUE(std::equal(plain.bytes.begin() + 40 * rb, plain.bytes.end(), packed.bytes.begin() + 40 * rb));
    std::vector<uint8_t> row(rb);
    for (int64_t r = 0; r < n; ++r) {
      unpack_x8_row(type, packed.bytes.data(), n, k, r, row.data());
      ASSERT_EQ(std::memcmp(row.data(), plain.view.row(r), rb), 0) << dtype_name(type) << " row " << r;
    }
    for (int64_t n_tok : {1, 2, 3, 4, 5, 9, 37}) {
      const auto x = random_acts(n_tok * k, static_cast<uint32_t>(n_tok + k));
      ASSERT_TRUE(force_matmul_backend("scalar"));
      std::vector<double> mag;
      const auto ref = reference(plain, x, n_tok, &mag);
      std::vector<float> y_plain(n_tok * n);
      matmul(plain.view, x.data(), n_tok, y_plain.data(), pool);
      for (const char* b : backends()) {
        ASSERT_TRUE(force_matmul_backend(b));
        std::vector<float> y(n_tok * n, NAN);
        matmul(packed.view, x.data(), n_tok, y.data(), pool);
        for (int64_t i = 0; i < n_tok * n; ++i) {
          ASSERT_NEAR(y[i], ref[i], 1e-5 * mag[i] + 1e-30)
              << dtype_name(type) << " " << b << " K=" << k << " n_tok=" << n_tok << " i=" << i;
          ASSERT_NEAR(y[i], y_plain[i], 2e-6 * mag[i] + 1e-30) << dtype_name(type) << " " << b << " K=" << k;
        }
        // Slices that start and end inside groups, on group edges, and past the last group.
        for (auto [row0, rows] : {std::pair<int64_t, int64_t>{5, 30}, {8, 16}, {16, 27}, {41, 2}}) {
          std::vector<float> ys(n_tok * rows, NAN);
          matmul_rows(packed.view, row0, rows, x.data(), n_tok, ys.data(), pool);
          for (int64_t t = 0; t < n_tok; ++t)
            for (int64_t r = 0; r < rows; ++r)
              ASSERT_NEAR(ys[t * rows + r], y_plain[t * n + row0 + r], 2e-6 * mag[t * n + row0 + r] + 1e-30)
                  << dtype_name(type) << " " << b << " rows [" << row0 << ", " << row0 + rows << ") token " << t << " row " << r;
        }
      }
    }
  }
  force_matmul_backend("auto");
}

// A few tokens (a batched decode step, a short prompt) through rows repacked at load, K-quant and
// float rows as stored, and coded BF16 rows (float32 and bf16 products): each token's products are
// those it gets alone, bit for bit (on AVX-512 VNNI, which takes all of these in one pass: up to
// kMaxFewTokens; more tokens go through the prefill tiles, in another order), so a sequence decodes
// the same whatever shares its batched steps. The integer formats so on every backend; the float
// formats where the backend takes them in one pass.
TEST(Matmul, FewTokensGiveEachTokenItsOwnProducts) {
  ThreadPool pool(2);
  struct Case {
    DType type;
    RowLayout layout;
    bool bf16_products = false;
  };
  const Case cases[] = {{DType::Q4_0, RowLayout::Interleaved8}, {DType::Q8_0, RowLayout::Interleaved8},
                        {DType::Q4_K, RowLayout::Interleaved8}, {DType::Q5_0, RowLayout::Interleaved8},
                        {DType::Q4_K, RowLayout::Plain},        {DType::Q5_K, RowLayout::Plain},
                        {DType::Q6_K, RowLayout::Plain},        {DType::F16, RowLayout::Plain},
                        {DType::BF16, RowLayout::Plain},        {DType::F32, RowLayout::Plain},
                        {DType::BF16, RowLayout::CodedBf16},    {DType::BF16, RowLayout::CodedBf16, true}};
  for (const Case& c : cases) {
    const bool is_float = dtype_traits(c.type).block_size == 1;
    // Short rows, and long ones (the float and coded kernels read those several rows side by side;
    // 4112: the float kernels' half step).
    std::vector<int64_t> ks = dtype_traits(c.type).block_size == 256 ? std::vector<int64_t>{256, 1536}
                              : is_float                            ? std::vector<int64_t>{1536, 4608}
                                                                    : std::vector<int64_t>{288, 1536};
    if (is_float && c.layout == RowLayout::Plain) ks.push_back(4112);
    for (int64_t k : ks) {
      const int64_t n = 43;  // 5 groups of 8 and 3 rows past them; 3 items of 16 rows
      Weights w = make_weights(c.type, k, n, static_cast<uint32_t>(3 * k));
      if (c.layout == RowLayout::Interleaved8) repack_x8(c.type, w.bytes.data(), n, k);
      if (c.layout == RowLayout::CodedBf16) {
        ASSERT_TRUE(code_bf16_matrix(w.bytes.data(), w.bytes.size(), n, k));
      }
      w.view.data = w.bytes.data();
      w.view.layout = c.layout;
      set_bf16_dot_products(c.bf16_products);
      const std::string name = std::string(dtype_name(c.type)) + (c.layout == RowLayout::Interleaved8 ? " interleaved"
                                                                  : c.layout == RowLayout::CodedBf16 ? " coded"
                                                                                                      : "") +
                               (c.bf16_products ? " bf16 products" : "") + " K=" + std::to_string(k);
      for (const char* b : backends()) {
        ASSERT_TRUE(force_matmul_backend(b));
        for (int64_t n_tok = 2; n_tok <= kMaxFewTokens; ++n_tok) {
          // The other backends' float prefill tiles sum in another order than their one-token kernels.
          const bool one_pass = matmul_takes_tokens(w.view, n_tok);
          if (std::string(b) == "avx512vnni") {
            EXPECT_TRUE(one_pass) << name;
          }
          if (is_float && !one_pass) continue;
          const auto x = random_acts(n_tok * k, static_cast<uint32_t>(7 * n_tok + k));
          std::vector<float> y(n_tok * n, NAN), alone(n, NAN);
          matmul(w.view, x.data(), n_tok, y.data(), pool);
          for (int64_t t = 0; t < n_tok; ++t) {
            matmul(w.view, x.data() + t * k, 1, alone.data(), pool);
            ASSERT_EQ(std::memcmp(alone.data(), y.data() + t * n, n * sizeof(float)), 0)
                << name << " " << b << " token " << t << " of " << n_tok;
          }
        }
      }
    }
  }
  set_bf16_dot_products(false);  // as the suite runs
  force_matmul_backend("auto");
}

// The weight stream's prefetch hint (ops/prefetch.h) changes no product: one token through every
// backend's kernels (interleaved rows, float rows short and long, coded BF16 rows) gives the same
// bits under each hint. And the hint comes from R1_STREAM_PREFETCH, else from the CPU's vendor.
TEST(Matmul, ProductsDoNotDependOnThePrefetchHint) {
  ThreadPool pool(2);
  std::vector<std::pair<Weights, std::string>> cases;
  for (DType type : {DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q5_0, DType::Q6_K, DType::F16, DType::BF16})
    for (int64_t k : {int64_t(1536), int64_t(4608)}) {
      Weights w = make_weights(type, k, 43, static_cast<uint32_t>(k) + static_cast<uint32_t>(type));
      if (can_interleave(type)) {
        repack_x8(type, w.bytes.data(), 43, k);
        w.view.data = w.bytes.data();
        w.view.layout = RowLayout::Interleaved8;
      } else if (type == DType::BF16) {
        Weights coded = w;
        ASSERT_TRUE(code_bf16_matrix(coded.bytes.data(), coded.bytes.size(), 43, k));
        coded.view.data = coded.bytes.data();
        coded.view.layout = RowLayout::CodedBf16;
        cases.emplace_back(std::move(coded), "coded BF16 K=" + std::to_string(k));
      }
      cases.emplace_back(std::move(w), std::string(dtype_name(type)) + " K=" + std::to_string(k));
    }
  for (auto& [w, name] : cases) {
    const int64_t k = w.view.ne[0];
    const auto x = random_acts(k, static_cast<uint32_t>(k));
    for (const char* b : backends()) {
      ASSERT_TRUE(force_matmul_backend(b));
      std::vector<float> y_none(43, NAN);
      set_stream_prefetch(StreamPrefetch::kNone);
      matmul(w.view, x.data(), 1, y_none.data(), pool);
      for (StreamPrefetch hint : {StreamPrefetch::kNonTemporal, StreamPrefetch::kL1, StreamPrefetch::kL2}) {
        set_stream_prefetch(hint);
        std::vector<float> y(43, NAN);
        matmul(w.view, x.data(), 1, y.data(), pool);
        ASSERT_EQ(y, y_none) << name << " " << b << " hint " << static_cast<int>(hint);
      }
    }
  }
  force_matmul_backend("auto");

  const char* env = std::getenv("R1_STREAM_PREFETCH");
  const std::string saved = env ? env : "";
  const std::pair<const char*, StreamPrefetch> named[] = {{"nta", StreamPrefetch::kNonTemporal},
                                                          {"t0", StreamPrefetch::kL1},
                                                          {"t1", StreamPrefetch::kL2},
                                                          {"none", StreamPrefetch::kNone}};
  for (const auto& [value, hint] : named) {
    setenv("R1_STREAM_PREFETCH", value, 1);
    EXPECT_EQ(decide_stream_prefetch(), hint) << value;
  }
  unsetenv("R1_STREAM_PREFETCH");
  EXPECT_EQ(decide_stream_prefetch(), cpu_features().amd ? StreamPrefetch::kNonTemporal : StreamPrefetch::kL1);
  setenv("R1_STREAM_PREFETCH", "t9", 1);
  try {
    decide_stream_prefetch();
    ADD_FAILURE() << "R1_STREAM_PREFETCH=t9 was taken";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("R1_STREAM_PREFETCH=t9"), std::string::npos) << e.what();
  }
  if (env) setenv("R1_STREAM_PREFETCH", saved.c_str(), 1); else unsetenv("R1_STREAM_PREFETCH");
  set_stream_prefetch(decide_stream_prefetch());
}

// The AVX2 and NEON backends ask for the interleaved layout for Q4_0 / Q8_0, the AVX-512 VNNI one for
// Q4_0, Q8_0, Q4_K and Q5_0, none for the other types, and never with R1_REPACK=0 (the switch is read once per process: the
// test checks whichever the environment set).
TEST(Matmul, InterleavingIsWantedWhereAKernelReadsIt) {
  const char* env = std::getenv("R1_REPACK");
  const bool off = env != nullptr && std::string(env) == "0";
  for (const char* b : backends()) {
    ASSERT_TRUE(force_matmul_backend(b));
    const std::string name = b;
    const bool kernel = name == "avx2" || name == "avx2vnni" || name == "neon" || name == "neon_dotprod";
    EXPECT_EQ(matmul_preferred_layout(DType::Q4_0, 1536, 256) == RowLayout::Interleaved8,
              (kernel || name == "avx512vnni") && !off)
        << b;
    EXPECT_EQ(matmul_preferred_layout(DType::Q8_0, 1536, 256) == RowLayout::Interleaved8,
              (kernel || name == "avx512vnni") && !off)
        << b;
    EXPECT_EQ(matmul_preferred_layout(DType::Q4_K, 1536, 256) == RowLayout::Interleaved8, name == "avx512vnni" && !off)
        << b;
    EXPECT_EQ(matmul_preferred_layout(DType::Q5_0, 1408, 256) == RowLayout::Interleaved8, name == "avx512vnni" && !off)
        << b;
    EXPECT_NE(matmul_preferred_layout(DType::Q5_K, 1536, 256), RowLayout::Interleaved8) << b;
    EXPECT_NE(matmul_preferred_layout(DType::Q4_0, 1536, 7), RowLayout::Interleaved8) << b;  // not one whole group
  }
  force_matmul_backend("auto");
}

// matmul_shared_input gives every weight bit for bit what matmul gives it, whether the weights go
// through one parallel step (one token, one activation format: three F16, Q8_0 beside Q4_0, Q4_K beside
// Q6_K, row counts that are not whole 16-row steps) or one matmul each (several tokens, F16 beside
// Q8_0), on every backend and 1 to 3 threads; and each product is the exact one to float rounding.
TEST(Matmul, SharedInputIsOneMatmulPerWeight) {
  const int64_t k = 512;
  const std::vector<std::vector<DType>> groups = {{DType::F16, DType::F16, DType::F16},
                                                  {DType::Q8_0, DType::Q4_0, DType::Q8_0},
                                                  {DType::Q4_K, DType::Q6_K},
                                                  {DType::F16, DType::Q8_0}};
  const int64_t rows[] = {45, 8, 19};
  for (const auto& types : groups) {
    std::vector<Weights> ws;
    for (size_t i = 0; i < types.size(); ++i) ws.push_back(make_weights(types[i], k, rows[i], uint32_t(40 + i)));
    for (int64_t n_tok : {1, 3}) {
      const auto x = random_acts(n_tok * k, uint32_t(n_tok));
      for (const char* b : backends()) {
        ASSERT_TRUE(force_matmul_backend(b));
        for (int threads : {1, 2, 3}) {
          ThreadPool pool(threads);
          std::vector<std::vector<float>> y(ws.size()), y_each(ws.size());
          for (size_t i = 0; i < ws.size(); ++i) {
            y[i].assign(size_t(n_tok * rows[i]), NAN);
            y_each[i].assign(size_t(n_tok * rows[i]), NAN);
            matmul(ws[i].view, x.data(), n_tok, y_each[i].data(), pool);
          }
          if (ws.size() == 3) {
            matmul_shared_input({{&ws[0].view, y[0].data()}, {&ws[1].view, y[1].data()}, {&ws[2].view, y[2].data()}},
                                x.data(), n_tok, pool);
          } else {
            matmul_shared_input({{&ws[0].view, y[0].data()}, {&ws[1].view, y[1].data()}}, x.data(), n_tok, pool);
          }
          for (size_t i = 0; i < ws.size(); ++i) {
            std::vector<double> mag;
            const auto ref = reference(ws[i], x, n_tok, &mag);
            for (size_t j = 0; j < y[i].size(); ++j) {
              ASSERT_EQ(y[i][j], y_each[i][j]) << b << " " << dtype_name(types[i]) << " weight " << i << " n_tok=" << n_tok
                                               << " threads=" << threads << " j=" << j;
              ASSERT_NEAR(y[i][j], ref[j], 1e-5 * mag[j] + 1e-30) << b << " " << dtype_name(types[i]);
            }
          }
        }
      }
    }
  }
  force_matmul_backend("auto");
  ThreadPool pool(2);
  const Weights a = make_weights(DType::F16, 512, 4, 1), narrow = make_weights(DType::F16, 256, 4, 2);
  std::vector<float> x(512), y1(4), y2(4);
  EXPECT_THROW(matmul_shared_input({{&a.view, y1.data()}, {&narrow.view, y2.data()}}, x.data(), 1, pool), Error);
  EXPECT_THROW(matmul_shared_input({{&a.view, y1.data()}, {nullptr, y2.data()}}, x.data(), 1, pool), Error);
}

// The same with Q4_K rows interleaved at load (one parallel step when every matrix is whole groups of
// 8, on the backends that read the layout; one matmul each otherwise) and Q4_0 beside Q8_0 interleaved.
TEST(Matmul, SharedInputTakesInterleavedRows) {
  const int64_t k = 512;
  const std::vector<std::vector<std::pair<DType, int64_t>>> groups = {
      {{DType::Q4_K, 48}, {DType::Q4_K, 16}},
      {{DType::Q4_K, 48}, {DType::Q4_K, 43}},  // 43: three rows past the last group, as stored
      {{DType::Q4_0, 24}, {DType::Q8_0, 40}},
      {{DType::Q5_0, 16}, {DType::Q5_0, 24}}};
  const auto x = random_acts(k, 7);
  for (const auto& group : groups) {
    std::vector<Weights> ws;
    for (size_t i = 0; i < group.size(); ++i) {
      ws.push_back(make_weights(group[i].first, k, group[i].second, uint32_t(60 + i)));
      repack_x8(group[i].first, ws.back().bytes.data(), group[i].second, k);
      ws.back().view.data = ws.back().bytes.data();
      ws.back().view.layout = RowLayout::Interleaved8;
    }
    for (const char* b : backends()) {
      ASSERT_TRUE(force_matmul_backend(b));
      for (int threads : {1, 2, 3}) {
        ThreadPool pool(threads);
        std::vector<std::vector<float>> y(2), y_each(2);
        for (size_t i = 0; i < 2; ++i) {
          y[i].assign(size_t(group[i].second), NAN);
          y_each[i].assign(size_t(group[i].second), NAN);
          matmul(ws[i].view, x.data(), 1, y_each[i].data(), pool);
        }
        matmul_shared_input({{&ws[0].view, y[0].data()}, {&ws[1].view, y[1].data()}}, x.data(), 1, pool);
        for (size_t i = 0; i < 2; ++i) {
          for (size_t j = 0; j < y[i].size(); ++j)
            ASSERT_EQ(y[i][j], y_each[i][j]) << b << " " << dtype_name(group[i].first) << " weight " << i
                                             << " threads=" << threads << " j=" << j;
        }
      }
    }
  }
  force_matmul_backend("auto");
}

TEST(Matmul, BadInputsThrow) {
  ThreadPool pool(1);
  Weights w = make_weights(DType::Q8_0, 64, 4, 1);
  std::vector<float> x(64), y(8);
  EXPECT_THROW(matmul_rows(w.view, 3, 2, x.data(), 1, y.data(), pool), Error);  // rows out of range
  TensorView short_view = w.view;
  short_view.nbytes -= 1;
  EXPECT_THROW(matmul(short_view, x.data(), 1, y.data(), pool), Error);
  TensorView odd = w.view;
  odd.ne = {48, 4, 1, 1};
  EXPECT_THROW(matmul(odd, x.data(), 1, y.data(), pool), Error);  // K not a multiple of 32
  TensorView ints = w.view;
  ints.type = DType::I32;
  ints.ne = {16, 4, 1, 1};
  EXPECT_THROW(matmul(ints, x.data(), 1, y.data(), pool), Error);
  TensorView null_data = w.view;
  null_data.data = nullptr;
  EXPECT_THROW(matmul(null_data, x.data(), 1, y.data(), pool), Error);
  Weights k_quant = make_weights(DType::Q5_K, 256, 4, 1);  // Q5_K has no interleaved layout
  k_quant.view.layout = RowLayout::Interleaved8;
  std::vector<float> xk(256);
  EXPECT_THROW(matmul(k_quant.view, xk.data(), 1, y.data(), pool), Error);
  EXPECT_FALSE(force_matmul_backend("no-such-backend"));
}

}  // namespace
}  // namespace r1
