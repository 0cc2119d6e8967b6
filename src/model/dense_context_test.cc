// DenseContext through the architecture-neutral interface: the same logits as llama.cpp's
// reference (tests/data/README.md §4), and truncate() really forgets the dropped positions.
#include "model/dense_context.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "ops/convert.h"
#include "ops/quant.h"
#include "model/model.h"
#include "util/threadpool.h"
#include "testing/reference_data.h"

namespace r1 {
namespace {
using r1::test_data::read_f32;
using r1::test_data::read_ids;

const std::string kData = R1_TEST_DATA_DIR;

double max_abs_diff(const float* a, const float* b, int64_t n) {
  double d = 0;
  for (int64_t i = 0; i < n; i++) d = std::max(d, std::fabs(double(a[i]) - b[i]));
  return d;
}

TEST(DenseContext, MatchesReferenceInSmallBatchesAndAfterTruncate) {
  const auto model = Model::load(kData + "/models/qwen2-mini-f32.gguf");
  const auto ids = read_ids(kData + "/refs/tokens.txt");
  const auto ref = read_f32(kData + "/refs/qwen2-mini-f32.logits.f32");
  const int64_t V = model->n_vocab(), n = int64_t(ids.size());
  ASSERT_EQ(ref.size(), size_t(n * V));
  double max_ref = 0;
  for (float x : ref) max_ref = std::max(max_ref, std::fabs(double(x)));

  ThreadPool pool(2);
  auto ctx = model->new_context(64, pool, /*max_batch=*/5);  // 32 tokens in chunks of 5
  EXPECT_EQ(ctx->n_ctx(), 64);
  EXPECT_EQ(ctx->n_past(), 0);
  std::vector<float> all(static_cast<size_t>(n * V));
  ctx->forward(ids.data(), n, true, all.data());
  EXPECT_EQ(ctx->n_past(), n);
  EXPECT_LT(max_abs_diff(all.data(), ref.data(), n * V) / max_ref, 1e-4);

  // Keep 20 tokens, redo the rest one at a time: the last row must not see stale positions.
  ctx->truncate(20);
  EXPECT_EQ(ctx->n_past(), 20);
  std::vector<float> last(static_cast<size_t>(V));
  for (int64_t i = 20; i < n; i++) ctx->forward(&ids[size_t(i)], 1, false, last.data());
  EXPECT_LT(max_abs_diff(last.data(), &ref[size_t((n - 1) * V)], V) / max_ref, 1e-4);

  EXPECT_THROW(ctx->truncate(n + 1), Error);
  std::vector<int32_t> too_many(size_t(64 - n + 1), 5);
  EXPECT_THROW(ctx->forward(too_many.data(), int64_t(too_many.size()), false, last.data()), Error);
  const int32_t bad = int32_t(V);
  EXPECT_THROW(ctx->forward(&bad, 1, false, last.data()), Error);
}

// Keys and values of their own types (`-ctk q8_0 -ctv q4_0`): each row holds its type's blocks
// (q4_0: 18 bytes per 32 values), no (layer, head, position) overlaps another's, and attend() reads
// the keys and values as stored -- the same as attention over the dequantized rows.
TEST(KVCacheTypes, KeysAndValuesKeepTheirOwnTypes) {
  const int64_t L = 2, H = 3, hd = 64, cap = 5;
  KVCache c(L, H, hd, cap, CacheTypes{DType::Q8_0, DType::Q4_0});
  EXPECT_EQ(c.row_bytes(0), 68u);
  EXPECT_EQ(c.row_bytes(1), 36u);
  EXPECT_EQ(c.type(0), DType::Q8_0);
  EXPECT_EQ(c.type(1), DType::Q4_0);
  auto row = [&](int64_t l, int64_t h, int64_t p, int kv) {
    std::vector<float> x(static_cast<size_t>(hd));
    for (int64_t j = 0; j < hd; ++j) x[size_t(j)] = std::sin(0.1f * float(j + 7 * p + 31 * h + 97 * l + 13 * kv));
    return x;
  };
  for (int64_t l = 0; l < L; ++l)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t p = 0; p < cap; ++p) c.write(l, h, p, row(l, h, p, 0).data(), row(l, h, p, 1).data());
  for (int64_t l = 0; l < L; ++l)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t p = 0; p < cap; ++p)
        for (int kv : {0, 1}) {
          const size_t n = c.row_bytes(kv);
          std::vector<uint8_t> want(n);
          quantize_row(c.type(kv), row(l, h, p, kv).data(), want.data(), hd);
          const uint8_t* got = c.rows(l, h, kv) + size_t(p) * n;
          ASSERT_EQ(std::vector<uint8_t>(got, got + n), want) << "layer " << l << " head " << h << " pos " << p << " kv " << kv;
        }
  // attend() of two queries over (1, 2)'s five positions, against float64 attention of the stored values.
  std::vector<float> q(size_t(2 * hd)), out(size_t(2 * hd)), scores(10), K(size_t(cap * hd)), V(K.size());
  for (size_t j = 0; j < q.size(); ++j) q[j] = std::cos(0.37f * float(j));
  dequantize_row(DType::Q8_0, c.rows(1, 2, 0), K.data(), cap * hd);
  dequantize_row(DType::Q4_0, c.rows(1, 2, 1), V.data(), cap * hd);
  c.attend(1, 2, q.data(), 2, cap, 0.5f, out.data(), scores.data());
  for (int64_t i = 0; i < 2; ++i) {
    double s[5], sum = 0;
    for (int64_t t = 0; t < cap; ++t) {
      double d = 0;
      for (int64_t j = 0; j < hd; ++j) d += double(q[size_t(i * hd + j)]) * K[size_t(t * hd + j)];
      sum += s[t] = std::exp(0.5 * d);
    }
    for (int64_t j = 0; j < hd; ++j) {
      double o = 0;
      for (int64_t t = 0; t < cap; ++t) o += s[t] / sum * V[size_t(t * hd + j)];
      EXPECT_NEAR(out[size_t(i * hd + j)], o, 1e-5) << i << " " << j;
    }
  }
  EXPECT_THROW(KVCache(1, 1, 40, 4, CacheTypes{DType::F16, DType::Q4_0}), Error);  // values not whole blocks
}

}  // namespace
}  // namespace r1

namespace r1 {
namespace {

// The cache's types: F16 rows take half the bytes and hold the values rounded to F16 (what the
// F16 attention kernels read); types llama.cpp has no cache of, and sizes that are not positive, are
// refused by name.
TEST(KVCacheTypes, F16RowsHoldRoundedValuesInHalfTheBytes) {
  KVCache f16(2, 2, 8, 4, DType::F16), f32(2, 2, 8, 4, DType::F32);
  EXPECT_EQ(f16.row_bytes(0), 16u);
  EXPECT_EQ(f32.row_bytes(1), 32u);
  float k[8], v[8];
  for (int j = 0; j < 8; ++j) k[j] = 1.0f + 1e-4f * float(j), v[j] = -3.0f * float(j);
  f16.write(1, 1, 3, k, v);
  const auto* kh = reinterpret_cast<const uint16_t*>(f16.rows(1, 1, 0)) + 3 * 8;
  const auto* vh = reinterpret_cast<const uint16_t*>(f16.rows(1, 1, 1)) + 3 * 8;
  for (int j = 0; j < 8; ++j) {
    EXPECT_EQ(kh[j], f32_to_fp16(k[j])) << j;
    EXPECT_EQ(vh[j], f32_to_fp16(v[j])) << j;
  }
  EXPECT_EQ(reinterpret_cast<const uint16_t*>(f16.rows(1, 0, 1))[3 * 8], 0);  // another head untouched
  for (DType bad : {DType::Q4_K, DType::Q6_K, DType::F8_E4M3}) {
    try {
      KVCache c(1, 1, 8, 4, bad);
      FAIL() << "made a cache of " << dtype_name(bad);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string(dtype_name(bad))), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(KVCache(0, 1, 8, 4, DType::F16), Error);
}

// Q8_0 rows: llama.cpp's q8_0 blocks of the values (quantize_row's bytes), 34 bytes per 32 values;
// heads that are not whole blocks wide are refused, naming the type and the width.
TEST(KVCacheTypes, Q8RowsHoldTheQuantizedBlocks) {
  KVCache q8(2, 2, 64, 4, DType::Q8_0);
  EXPECT_EQ(q8.row_bytes(0), 68u);
  EXPECT_EQ(q8.type(1), DType::Q8_0);
  std::vector<float> k(64), v(64);
  for (int j = 0; j < 64; ++j) k[size_t(j)] = std::sin(0.3f * float(j)), v[size_t(j)] = 0.01f * float(j * j);
  q8.write(1, 0, 2, k.data(), v.data());
  std::vector<uint8_t> want(68);
  quantize_row(DType::Q8_0, k.data(), want.data(), 64);
  EXPECT_EQ(std::vector<uint8_t>(q8.rows(1, 0, 0) + 2 * 68, q8.rows(1, 0, 0) + 3 * 68), want);
  quantize_row(DType::Q8_0, v.data(), want.data(), 64);
  EXPECT_EQ(std::vector<uint8_t>(q8.rows(1, 0, 1) + 2 * 68, q8.rows(1, 0, 1) + 3 * 68), want);
  try {
    KVCache c(1, 1, 40, 4, DType::Q8_0);
    FAIL() << "made a q8_0 cache of 40-wide heads";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("q8_0"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("40"), std::string::npos) << e.what();
  }
}

// Every cache type llama.cpp offers (-ctk / -ctv names) is one of ours by the same name, and its rows
// hold quantize_row's bytes of the keys and values: BF16 2 bytes per value, Q4_1 20, IQ4_NL 18, Q5_0
// 22, Q5_1 24 bytes per 32; block types refuse heads that are not whole blocks.
TEST(KVCacheTypes, LlamaCppCacheTypesHoldTheirRows) {
  const struct { const char* name; DType type; size_t bytes_per_64; } types[] = {
      {"f32", DType::F32, 256},  {"f16", DType::F16, 128},  {"bf16", DType::BF16, 128},
      {"q8_0", DType::Q8_0, 68}, {"q4_0", DType::Q4_0, 36}, {"q4_1", DType::Q4_1, 40},
      {"iq4_nl", DType::IQ4_NL, 36}, {"q5_0", DType::Q5_0, 44}, {"q5_1", DType::Q5_1, 48}};
  std::vector<float> k(64), v(64);
  for (int j = 0; j < 64; ++j) k[size_t(j)] = std::cos(0.7f * float(j)), v[size_t(j)] = 0.02f * float(j) - 0.5f;
  for (const auto& [name, type, bytes] : types) {
    SCOPED_TRACE(name);
    EXPECT_EQ(cache_type_from_name(name, "-ctk"), type);
    KVCache c(2, 2, 64, 4, CacheTypes{type, DType::F16});
    ASSERT_EQ(c.row_bytes(0), bytes);
    c.write(1, 1, 3, k.data(), v.data());
    std::vector<uint8_t> want(bytes);
    quantize_row(type, k.data(), want.data(), 64);
    EXPECT_EQ(std::vector<uint8_t>(c.rows(1, 1, 0) + 3 * bytes, c.rows(1, 1, 0) + 4 * bytes), want);
    if (type != DType::F32 && type != DType::F16 && type != DType::BF16) {
      EXPECT_THROW(KVCache(1, 1, 40, 4, type), Error) << "40-wide heads";
    }
  }
  EXPECT_THROW(cache_type_from_name("q4_k", "-ctk"), Error);
}

}  // namespace
}  // namespace r1
