#include "ops/coded_bf16.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "ops/convert.h"
#include "ops/matmul.h"
#include "util/cpu.h"
#include "util/threadpool.h"

namespace r1 {
namespace {

// n_rows rows of k bf16 weights ~ N(0, 0.05), with a few outliers whose high bytes are rare: a large
// value, -0, an infinity, a NaN and a subnormal, so that some rows carry exceptions.
std::vector<uint16_t> random_bf16(int64_t n_rows, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 0.05f);
  std::vector<uint16_t> w(static_cast<size_t>(n_rows * k));
  for (auto& v : w) v = f32_to_bf16(d(rng));
  const uint16_t odd[] = {f32_to_bf16(3.0e9f), 0x8000, 0x7F80, 0x7FC1, 0x0003, f32_to_bf16(-7.5e-20f)};
  for (size_t i = 0; i < std::size(odd) && i < w.size(); ++i) w[(i * 7919 + seed) % w.size()] = odd[i];
  return w;
}

// A coded view of n_rows × k BF16 weights at `data`.
TensorView coded_view(const uint16_t* data, int64_t n_rows, int64_t k) {
  TensorView t;
  t.name = "test.coded";
  t.type = DType::BF16;
  t.n_dims = 2;
  t.ne = {k, n_rows, 1, 1};
  t.data = data;
  t.nbytes = static_cast<size_t>(n_rows * k) * sizeof(uint16_t);
  t.layout = RowLayout::CodedBf16;
  return t;
}

#if defined(R1_HAVE_X86_KERNELS)
bool has_avx2() {
  const CpuFeatures& f = cpu_features();
  return f.avx2 && f.fma && f.f16c;
}
#endif

TEST(CodedBf16, RowsDecodeToTheirBitsExactly) {
  for (int64_t k : {int64_t(64), int64_t(192), int64_t(1536)})
    for (int64_t n_rows : {int64_t(1), int64_t(5), int64_t(37)}) {
      const std::vector<uint16_t> plain = random_bf16(n_rows, k, static_cast<uint32_t>(k + n_rows));
      std::vector<uint16_t> coded = plain;
      ASSERT_TRUE(code_bf16_matrix(reinterpret_cast<uint8_t*>(coded.data()), coded.size() * 2, n_rows, k));
      ASSERT_NE(coded, plain);
      const TensorView t = coded_view(coded.data(), n_rows, k);
      const CodedBf16 m = coded_bf16(t);
      // The header's table has 0x00 as code 0 and no repeats; the exceptions are exactly the weights
      // whose high bytes it lacks.
      EXPECT_EQ(m.header->high[0], 0);
      const std::set<uint8_t> table(m.header->high, m.header->high + 16);
      EXPECT_EQ(table.size(), 16u);
      uint32_t missing = 0;
      std::set<uint8_t> used;
      for (uint16_t v : plain) {
        missing += table.count(static_cast<uint8_t>(v >> 8)) == 0;
        used.insert(static_cast<uint8_t>(v >> 8));
      }
      EXPECT_EQ(m.header->n_exceptions, missing);
      EXPECT_EQ(missing > 0, used.size() + (used.count(0) ? 0 : 1) > 16);
      if (n_rows * k >= 5 * 1536) {
        EXPECT_GT(missing, 0u);  // the outliers at least
      }
      std::vector<uint16_t> out(plain.size());
      decode_coded_bf16_rows(m, 0, n_rows, out.data());
      ASSERT_EQ(out, plain) << "k=" << k << " rows=" << n_rows;
#if defined(R1_HAVE_X86_KERNELS)
      if (has_avx2()) {
        std::vector<float> f(plain.size());
        decode_coded_f32_rows_avx2(m, 0, n_rows, f.data());
        for (size_t i = 0; i < f.size(); ++i)
          ASSERT_EQ(std::bit_cast<uint32_t>(f[i]), std::bit_cast<uint32_t>(bf16_to_f32(plain[i])))
              << "avx2 k=" << k << " rows=" << n_rows << " at " << i;
        const int64_t r0 = n_rows / 3, r1 = n_rows - n_rows / 4;  // a slice of rows
        std::vector<float> part(static_cast<size_t>((r1 - r0) * k));
        decode_coded_f32_rows_avx2(m, r0, r1, part.data());
        ASSERT_EQ(std::memcmp(part.data(), f.data() + r0 * k, part.size() * sizeof(float)), 0);
      }
#endif
      std::vector<float> row(static_cast<size_t>(k));
      const int64_t r = n_rows - 1;
      matmul_row_values(t, r, row.data());
      for (int64_t i = 0; i < k; ++i) {
        const float want = bf16_to_f32(plain[static_cast<size_t>(r * k + i)]);
        if (std::isnan(want)) {
          ASSERT_TRUE(std::isnan(row[static_cast<size_t>(i)]));
        } else {
          ASSERT_EQ(row[static_cast<size_t>(i)], want) << i;
        }
      }
    }
}

// A tensor of a safetensors file may start at any even address: the table, offsets and exceptions
// after the rows still sit at multiples of 8, and the rows decode as at any other address.
TEST(CodedBf16, CodesAMatrixAtAnyEvenAddress) {
  const int64_t n_rows = 9, k = 192;
  const std::vector<uint16_t> plain = random_bf16(n_rows, k, 5);
  for (size_t shift = 0; shift < 4; ++shift) {
    std::vector<uint16_t> buffer(plain.size() + 4);
    std::copy(plain.begin(), plain.end(), buffer.begin() + static_cast<std::ptrdiff_t>(shift));
    uint16_t* at = buffer.data() + shift;
    ASSERT_TRUE(code_bf16_matrix(reinterpret_cast<uint8_t*>(at), plain.size() * 2, n_rows, k)) << shift;
    const CodedBf16 m = coded_bf16(coded_view(at, n_rows, k));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(m.header) % 8, 0u) << shift;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(m.first) % 4, 0u) << shift;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(m.exceptions) % 8, 0u) << shift;
    std::vector<uint16_t> out(plain.size());
    decode_coded_bf16_rows(m, 0, n_rows, out.data());
    EXPECT_EQ(out, plain) << shift;
  }
}

TEST(CodedBf16, DeclinesWhatItCannotCodeAndLeavesTheBytes) {
  std::vector<uint16_t> w = random_bf16(4, 96, 1);  // k not a multiple of 64
  std::vector<uint16_t> before = w;
  EXPECT_FALSE(code_bf16_matrix(reinterpret_cast<uint8_t*>(w.data()), w.size() * 2, 4, 96));
  EXPECT_EQ(w, before);
  w = random_bf16(4, 128, 2);
  before = w;
  EXPECT_FALSE(code_bf16_matrix(reinterpret_cast<uint8_t*>(w.data()), w.size() * 2 - 2, 4, 128));  // wrong size
  EXPECT_EQ(w, before);
  std::mt19937 rng(3);  // uniformly random bits: ~15/16 of the weights would be exceptions
  for (auto& v : w) v = static_cast<uint16_t>(rng());
  before = w;
  EXPECT_FALSE(code_bf16_matrix(reinterpret_cast<uint8_t*>(w.data()), w.size() * 2, 4, 128));
  EXPECT_EQ(w, before);
}

TEST(CodedBf16, DamagedOrPlainViewsThrow) {
  std::vector<uint16_t> w = random_bf16(8, 128, 4);
  TensorView t = coded_view(w.data(), 8, 128);
  t.layout = RowLayout::Plain;
  EXPECT_THROW(coded_bf16(t), Error);
  ASSERT_TRUE(code_bf16_matrix(reinterpret_cast<uint8_t*>(w.data()), w.size() * 2, 8, 128));
  t.layout = RowLayout::CodedBf16;
  EXPECT_NO_THROW(coded_bf16(t));
  const_cast<CodedBf16Header*>(coded_bf16(t).header)->n_exceptions += 1000;
  EXPECT_THROW(coded_bf16(t), Error);
}

// Every backend: a coded matrix's products are the plain matrix's, for decode (the coded kernel's
// own order of additions: to float rounding) and prefill (rows decoded for the plain kernels), also
// for slices of rows and through matmul_shared_input.
TEST(CodedBf16, MatmulMatchesThePlainMatrix) {
  const int64_t n_rows = 45;
  for (int64_t k : {int64_t(128), int64_t(1536), int64_t(16448)}) {  // 16448: the float tile in 3 blocks of k
    std::vector<uint16_t> plain = random_bf16(n_rows, k, static_cast<uint32_t>(k));
    // Finite weights only for the sums (the outliers' inf / NaN would make every sum inf or NaN).
    for (uint16_t& v : plain)
      if ((v & 0x7F80) == 0x7F80) v = 0x3F80;
    std::vector<uint16_t> coded = plain;
    ASSERT_TRUE(code_bf16_matrix(reinterpret_cast<uint8_t*>(coded.data()), coded.size() * 2, n_rows, k));
    TensorView pv = coded_view(plain.data(), n_rows, k);
    pv.layout = RowLayout::Plain;
    const TensorView cv = coded_view(coded.data(), n_rows, k);
    ASSERT_GT(coded_bf16(cv).header->n_exceptions, 0u);
    for (int64_t n_tok : {1, 2, 9, 37}) {
      std::mt19937 rng(static_cast<uint32_t>(n_tok));
      std::normal_distribution<float> d(0.0f, 1.0f);
      std::vector<float> x(static_cast<size_t>(n_tok * k));
      for (auto& v : x) v = d(rng);
      for (const char* b : {"scalar", "avx2", "avx2vnni", "avx512vnni", "neon"}) {
        if (!force_matmul_backend(b)) continue;
        ThreadPool pool(2);
        std::vector<float> yp(static_cast<size_t>(n_tok * n_rows)), yc(yp.size(), NAN);
        matmul(pv, x.data(), n_tok, yp.data(), pool);
        matmul(cv, x.data(), n_tok, yc.data(), pool);
        // Prefill: the plain kernels on the decoded rows. Decode and a few tokens: the coded kernel,
        // which rounds the activations to bf16 where the bf16 products are on, float32 otherwise.
        const bool bf16_decode = n_tok <= kMaxFewTokens && std::string(b) == "avx512vnni" && bf16_dot_products();
        const DType act = bf16_decode ? DType::BF16 : matmul_activation_type(DType::BF16, k, n_tok);
        for (int64_t t = 0; t < n_tok; ++t)
          for (int64_t r = 0; r < n_rows; ++r) {
            double ref = 0, mag = 0;
            for (int64_t i = 0; i < k; ++i) {
              const float xi = act == DType::BF16 ? bf16_to_f32(f32_to_bf16(x[t * k + i])) : x[t * k + i];
              const double p = double(bf16_to_f32(plain[r * k + i])) * xi;
              ref += p;
              mag += std::fabs(p);
            }
            const size_t j = static_cast<size_t>(t * n_rows + r);
            ASSERT_NEAR(yc[j], ref, 1e-5 * mag + 1e-30) << b << " k=" << k << " n_tok=" << n_tok << " row " << r;
            if (!bf16_decode) {
              ASSERT_NEAR(yc[j], yp[j], 2e-6 * mag + 1e-30) << b << " k=" << k << " n_tok=" << n_tok;
            }
          }
        // Rows [7, 40) alone, and the matrix beside another through one shared step: the same values.
        std::vector<float> ys(static_cast<size_t>(n_tok * 33));
        matmul_rows(cv, 7, 33, x.data(), n_tok, ys.data(), pool);
        for (int64_t t = 0; t < n_tok; ++t)
          for (int64_t r = 0; r < 33; ++r)
            ASSERT_NEAR(ys[t * 33 + r], yc[t * n_rows + 7 + r], 1e-6 * std::fabs(yc[t * n_rows + 7 + r]) + 1e-6) << b;
        std::vector<float> y1(yc.size(), NAN), y2(yp.size(), NAN);
        matmul_shared_input({{&cv, y1.data()}, {&pv, y2.data()}}, x.data(), n_tok, pool);
        ASSERT_EQ(y1, yc) << b << " n_tok=" << n_tok;
        ASSERT_EQ(y2, yp) << b << " n_tok=" << n_tok;
      }
    }
  }
  force_matmul_backend("auto");
}

// F16 rows holding bf16 values (an F16 file converted from a bf16 checkpoint) code as those values,
// outliers, fp16 subnormals and infinities included; one value that is not a bf16 value, a NaN, or
// too many exceptions leave the fp16 bytes exactly as they were.
TEST(CodedBf16, F16RowsOfBf16ValuesCodeAsThoseValues) {
  const int64_t n_rows = 7, k = 256;
  std::vector<uint16_t> w;
  for (const uint16_t b : random_bf16(n_rows, k, 8)) {
    const float v = bf16_to_f32(b);
    w.push_back(std::isnan(v) ? 0 : f32_to_fp16(v));  // fp16 of a bf16 value is a bf16 value
  }
  w[11] = 0x0001;  // the smallest fp16 subnormal, 2^-24
  w[12] = 0x83FF;  // the largest negative subnormal: 10 significant bits, not a bf16 value
  std::vector<uint16_t> before = w;
  EXPECT_FALSE(code_f16_matrix_as_bf16(reinterpret_cast<uint8_t*>(w.data()), w.size() * 2, n_rows, k));
  EXPECT_EQ(w, before);
  w[12] = 0x83F8;  // 7 significant bits: a bf16 value
  w[13] = 0x7E00;  // NaN
  before = w;
  EXPECT_FALSE(code_f16_matrix_as_bf16(reinterpret_cast<uint8_t*>(w.data()), w.size() * 2, n_rows, k));
  EXPECT_EQ(w, before);
  w[13] = 0xFC00;  // -inf
  before = w;
  ASSERT_TRUE(code_f16_matrix_as_bf16(reinterpret_cast<uint8_t*>(w.data()), w.size() * 2, n_rows, k));
  std::vector<uint16_t> out(before.size());
  decode_coded_bf16_rows(coded_bf16(coded_view(w.data(), n_rows, k)), 0, n_rows, out.data());
  for (size_t i = 0; i < out.size(); ++i)
    ASSERT_EQ(std::bit_cast<uint32_t>(bf16_to_f32(out[i])), std::bit_cast<uint32_t>(fp16_to_f32(before[i]))) << i;

  std::mt19937 rng(9);  // bf16 values spread over every exponent: far too many exceptions
  for (auto& v : w) {
    v = static_cast<uint16_t>(rng() & ~7u);
    if ((v & 0x7FFF) > 0x7C00) v = 0;
  }
  before = w;
  EXPECT_FALSE(code_f16_matrix_as_bf16(reinterpret_cast<uint8_t*>(w.data()), w.size() * 2, n_rows, k));
  EXPECT_EQ(w, before);
}

// The AVX-512 VNNI and AVX2 backends (which have the one-token coded kernels) ask for the coded layout
// for BF16 and F16 rows of whole blocks; no other backend, type or shape does, and R1_REPACK=0 turns
// it off (read once per process).
TEST(CodedBf16, WantedWhereTheKernelReadsIt) {
  const char* env = std::getenv("R1_REPACK");
  const bool off = env != nullptr && std::string(env) == "0";
  for (const char* b : {"scalar", "avx2", "avx2vnni", "avx512", "avx512vnni", "neon"}) {
    if (!force_matmul_backend(b)) continue;
    const std::string name = b;
    const bool kernel = (name == "avx512vnni" || name == "avx2" || name == "avx2vnni") && !off;
    EXPECT_EQ(matmul_preferred_layout(DType::BF16, 1536, 256) == RowLayout::CodedBf16, kernel) << b;
    EXPECT_NE(matmul_preferred_layout(DType::BF16, 1552, 256), RowLayout::CodedBf16) << b;
    EXPECT_EQ(matmul_preferred_layout(DType::F16, 1536, 256) == RowLayout::CodedBf16, kernel) << b;
    EXPECT_NE(matmul_preferred_layout(DType::Q8_0, 1536, 256), RowLayout::CodedBf16) << b;
  }
  force_matmul_backend("auto");
}

}  // namespace
}  // namespace r1
