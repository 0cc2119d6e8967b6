// DenseContext through the architecture-neutral interface: the same logits as llama.cpp's
// reference (tests/data/README.md §4), and truncate() really forgets the dropped positions.
#include "model/dense_context.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "core/error.h"
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

}  // namespace
}  // namespace r1
