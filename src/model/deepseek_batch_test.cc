// Batched DeepSeek decoding gives what one sequence at a time gives: a step over sequences of
// different lengths matches deepseek_forward of each (logits and the latents it caches), and
// sequences decoding concurrently through a BatchEngine produce the same greedy tokens as alone,
// in fewer steps than tokens.
#include "model/deepseek_batch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include "core/error.h"
#include "model/batch.h"
#include "model/model.h"
#include "util/threadpool.h"

namespace r1 {
namespace {

const std::string kModel = std::string(R1_TEST_DATA_DIR) + "/models/deepseek2-mini-f32.gguf";

// A deterministic token sequence over the vocabulary (different for each seed).
std::vector<int32_t> tokens(int seed, int64_t n, int64_t n_vocab) {
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < n; i++) ids.push_back(int32_t((seed * 131 + i * 37 + i * i * 7) % n_vocab));
  return ids;
}

TEST(DeepseekBatch, StepMatchesForwardOfEachSequence) {
  const auto model = Model::load(kModel);
  const DeepseekConfig& c = model->deepseek()->config();
  const DeepseekWeights& w = model->deepseek()->weights();
  const int64_t V = c.n_vocab, n_ctx = 64;
  ThreadPool pool(2);
  DeepseekActivations act(c, 16, n_ctx, pool.size());
  // Three sequences of 3, 10 and 20 tokens; one step computes the next token of each.
  const std::vector<int64_t> lens = {3, 10, 20};
  std::vector<LatentKVCache> batched, alone;
  std::vector<std::vector<float>> ref;
  std::vector<int32_t> next;
  std::vector<float> scratch(static_cast<size_t>(V));
  for (size_t s = 0; s < lens.size(); s++) {
    const auto ids = tokens(int(s), lens[s] + 1, V);
    batched.push_back(make_latent_cache(c, n_ctx));
    alone.push_back(make_latent_cache(c, n_ctx));
    deepseek_forward(c, w, batched[s], act, pool, ids.data(), lens[s], false, scratch.data());
    ref.emplace_back(static_cast<size_t>(V));
    deepseek_forward(c, w, alone[s], act, pool, ids.data(), lens[s] + 1, false, ref[s].data());
    next.push_back(ids.back());
  }
  std::vector<LatentKVCache*> ptrs;
  for (auto& cache : batched) ptrs.push_back(&cache);
  std::vector<float> logits(lens.size() * size_t(V));
  deepseek_forward_step(c, w, ptrs, act, pool, next.data(), logits.data());
  for (size_t s = 0; s < lens.size(); s++) {
    ASSERT_EQ(batched[s].size(), lens[s] + 1);
    double max_ref = 0, d = 0;
    for (int64_t j = 0; j < V; j++) {
      max_ref = std::max(max_ref, std::fabs(double(ref[s][size_t(j)])));
      d = std::max(d, std::fabs(double(logits[s * size_t(V) + size_t(j)]) - ref[s][size_t(j)]));
    }
    EXPECT_GT(max_ref, 0.0);
    EXPECT_LE(d / max_ref, 1e-5) << "sequence " << s;
    // The new token's latents went into this sequence's cache, at its position, in every layer.
    for (int64_t l = 0; l < c.n_layer; l++) {
      double dl = 0, scale = 0;
      std::vector<float> row_a(size_t(c.latent_dim())), row_b(row_a.size());
      batched[s].read(l, lens[s], row_a.data());
      alone[s].read(l, lens[s], row_b.data());
      for (size_t j = 0; j < row_a.size(); j++) {
        const double a = row_a[j], b = row_b[j];
        dl = std::max(dl, std::fabs(a - b));
        scale = std::max(scale, std::fabs(b));
      }
      EXPECT_LE(dl, 1e-5 * scale) << "sequence " << s << " layer " << l;
    }
  }
}

TEST(DeepseekBatch, StepRefusesBadInputWithoutTouchingCaches) {
  const auto model = Model::load(kModel);
  const DeepseekConfig& c = model->deepseek()->config();
  const DeepseekWeights& w = model->deepseek()->weights();
  ThreadPool pool(1);
  DeepseekActivations act(c, 2, 8, pool.size());
  LatentKVCache a = make_latent_cache(c, 8), b = make_latent_cache(c, 8), full = make_latent_cache(c, 1);
  full.advance(1);
  std::vector<float> logits(3 * size_t(c.n_vocab));
  const int32_t ok[3] = {1, 2, 3}, bad[2] = {1, int32_t(c.n_vocab)};
  EXPECT_THROW(deepseek_forward_step(c, w, {&a, &b}, act, pool, bad, logits.data()), Error);      // id out of range
  EXPECT_THROW(deepseek_forward_step(c, w, {&a, &a}, act, pool, ok, logits.data()), Error);       // same cache twice
  EXPECT_THROW(deepseek_forward_step(c, w, {&a, &full}, act, pool, ok, logits.data()), Error);    // no room
  EXPECT_THROW(deepseek_forward_step(c, w, {&a, &b, &full}, act, pool, ok, logits.data()), Error);  // over max_batch
  EXPECT_EQ(a.size(), 0);
  EXPECT_EQ(b.size(), 0);
  deepseek_forward_step(c, w, {&a, &b}, act, pool, ok, logits.data());
  EXPECT_EQ(a.size(), 1);
  EXPECT_EQ(b.size(), 1);
}

// Greedy decoding of n tokens after a prompt on one context.
std::vector<int32_t> greedy(InferenceContext& ctx, const std::vector<int32_t>& prompt, int n, int64_t V) {
  std::vector<float> logits(static_cast<size_t>(V));
  ctx.forward(prompt.data(), int64_t(prompt.size()), false, logits.data());
  std::vector<int32_t> out;
  for (int i = 0; i < n; i++) {
    const int32_t id = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(id);
    ctx.forward(&id, 1, false, logits.data());
  }
  return out;
}

TEST(DeepseekBatch, ConcurrentSequencesDecodeAsAloneInSharedSteps) {
  const auto model = Model::load(kModel);
  const int64_t V = model->n_vocab();
  const std::vector<std::vector<int32_t>> prompts = {{1, 2, 3}, {7, 8, 9, 10, 11, 12}, {40}, {5, 6}};
  const int n_new = 40;
  ThreadPool pool(2);
  std::vector<std::vector<int32_t>> alone;
  for (const auto& p : prompts) {
    auto ctx = model->new_context(128, pool);  // a DeepseekContext, the per-sequence path
    alone.push_back(greedy(*ctx, p, n_new, V));
  }
  BatchEngine engine(*model, int(prompts.size()), 128, pool);
  std::vector<std::vector<int32_t>> together(prompts.size());
  std::vector<std::thread> threads;
  for (size_t s = 0; s < prompts.size(); s++) {
    threads.emplace_back([&, s] {
      auto ctx = engine.context(int(s));
      together[s] = greedy(*ctx, prompts[s], n_new, V);
      engine.finished(int(s));
    });
  }
  for (auto& t : threads) t.join();
  for (size_t s = 0; s < prompts.size(); s++) EXPECT_EQ(together[s], alone[s]) << "sequence " << s;
  EXPECT_EQ(engine.batched_tokens(), int64_t(prompts.size()) * n_new + 1);
  EXPECT_LT(engine.steps(), engine.batched_tokens());
  EXPECT_EQ(engine.latent_cache(0).size(), int64_t(prompts[0].size()) + n_new);
  EXPECT_THROW(engine.cache(0), Error);  // a DeepSeek engine has latent caches only
}

}  // namespace
}  // namespace r1
