// Batched decoding gives what one sequence at a time gives: forward_step over sequences of
// different lengths matches dense_forward row by row (against llama.cpp's reference logits,
// tests/data/README.md §4), and sequences decoding concurrently through a BatchEngine produce
// the same greedy tokens as alone, in fewer steps than tokens.
#include "model/batch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <fstream>
#include <thread>

#include "model/model.h"
#include "ops/matmul.h"
#include "util/threadpool.h"
#include "testing/reference_data.h"

namespace r1 {
namespace {
using r1::test_data::read_f32;
using r1::test_data::read_ids;
using r1::test_data::rel_err;

const std::string kData = R1_TEST_DATA_DIR;

// With F32 caches and with F16 ones (whose rounding of keys and values moves logits by ~2e-4 here,
// dense_test.cc).
TEST(BatchEngine, StepMatchesReferenceLogitsOfEachSequence) {
  const auto model = Model::load(kData + "/models/qwen2-mini-f32.gguf");
  const auto ids = read_ids(kData + "/refs/tokens.txt");
  const auto ref = read_f32(kData + "/refs/qwen2-mini-f32.logits.f32");
  const ModelConfig& c = model->config();
  const int64_t V = model->n_vocab();
  double max_ref = 0;
  for (float x : ref) max_ref = std::max(max_ref, std::fabs(double(x)));

  ThreadPool pool(2);
  DenseActivations act(c, 16, 64, pool.size());
  // Three sequences holding the first 3, 10 and 20 tokens of the reference text; one step then
  // computes token 3, 10 and 20 of it for each, whose logits the reference row gives.
  const std::vector<int64_t> lens = {3, 10, 20};
  for (const auto& [type, tol] : {std::pair{DType::F32, 1e-4}, std::pair{DType::F16, 1e-3}}) {
    std::vector<KVCache> caches;
    for (size_t s = 0; s < lens.size(); s++) caches.emplace_back(c.n_layer, c.n_head_kv, c.head_dim, 64, type);
    std::vector<float> scratch(static_cast<size_t>(V));
    std::vector<KVCache*> ptrs;
    std::vector<int32_t> next;
    for (size_t s = 0; s < lens.size(); s++) {
      dense_forward(c, model->weights(), caches[s], act, pool, ids.data(), lens[s], false, scratch.data());
      ptrs.push_back(&caches[s]);
      next.push_back(ids[size_t(lens[s])]);
    }
    std::vector<float> logits(lens.size() * size_t(V));
    BatchEngine::forward_step(c, model->weights(), ptrs, act, pool, next.data(), logits.data());
    for (size_t s = 0; s < lens.size(); s++) {
      EXPECT_EQ(caches[s].size(), lens[s] + 1);
      double d = 0;
      for (int64_t j = 0; j < V; j++) d = std::max(d, std::fabs(double(logits[s * size_t(V) + size_t(j)]) - ref[size_t(lens[s] * V + j)]));
      EXPECT_LT(d / max_ref, tol) << "sequence " << s << " " << dtype_name(type);
    }
  }
}

// A step of up to kMaxFewTokens sequences gives each the logits a step of it alone gives, bit for bit,
// for the weight types the one-pass kernels for a few tokens cover (ops/matmul.h, token_rows_take): what
// a sequence generates does not depend on what shares its steps. (The minis' K-quant files hold
// Q4_K, Q5_K, Q6_K and Q8_0 matrices; Q4_0, Q8_0 and Q4_K are interleaved where a backend reads them so;
// BF16 and F16 rows coded where it reads them so.)
TEST(BatchEngine, FewSequencesStepAsAloneBitForBit) {
  struct File {
    const char* name;
    bool floats;  // F16 / BF16 / F32 matrices
  };
  const char* repack = std::getenv("R1_REPACK");  // off: Q4_0 / Q8_0 rows as stored take the prefill tile
  if (repack && std::string(repack) == "0") GTEST_SKIP() << "R1_REPACK=0";
  for (const auto& [file, floats] :
       {File{"qwen2-mini-q4_0.gguf", false}, File{"qwen2-mini-q8_0.gguf", false}, File{"qwen2-mini-q4_k_m.gguf", false},
        File{"qwen2-mini-q5_k_m.gguf", false}, File{"qwen2-mini-q6_k.gguf", false}, File{"qwen2-mini-bf16.gguf", true},
        File{"qwen2-mini-f16.gguf", true}, File{"qwen2-mini-f32.gguf", true}}) {
    const auto model = Model::load(kData + "/models/" + file);
    const ModelConfig& c = model->config();
    const int64_t V = model->n_vocab();
    ThreadPool pool(2);
    DenseActivations act(c, 16, 64, pool.size());
    const std::vector<int64_t> lens = {3, 10, 20, 7};
    // On AVX-512 VNNI every matrix of these files takes the step's tokens in one pass. Elsewhere the
    // integer files' tiles give the one-token kernels' bits; the float files' do not, so those need
    // the one pass (the AVX2 backends' row-by-row kernels take two tokens at most, NEON's none).
    const DenseWeights& dw = model->weights();
    bool one_pass = matmul_takes_tokens(dw.output, int64_t(lens.size()));
    for (const LayerWeights& L : dw.layers)
      for (const TensorView* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
        one_pass = one_pass && matmul_takes_tokens(*m, int64_t(lens.size()));
    if (std::string(matmul_backend()) == "avx512vnni") {
      EXPECT_TRUE(one_pass) << file;
    }
    if (floats && !one_pass) continue;
    const std::vector<int32_t> ids = {5, 9, 11, 14, 20, 22, 30, 31, 33, 40, 41, 42, 50, 51, 52, 60, 61, 62, 63, 64, 70};
    std::vector<KVCache> together, alone;
    std::vector<KVCache*> ptrs;
    std::vector<int32_t> next;
    std::vector<float> scratch(static_cast<size_t>(V));
    for (int64_t len : lens) {
      for (auto* caches : {&together, &alone}) {
        caches->emplace_back(c.n_layer, c.n_head_kv, c.head_dim, 64, DType::F16);
        dense_forward(c, model->weights(), caches->back(), act, pool, ids.data(), len, false, scratch.data());
      }
      next.push_back(ids[size_t(len)]);
    }
    for (KVCache& cache : together) ptrs.push_back(&cache);
    std::vector<float> logits(lens.size() * size_t(V)), one(static_cast<size_t>(V));
    BatchEngine::forward_step(c, model->weights(), ptrs, act, pool, next.data(), logits.data());
    for (size_t s = 0; s < lens.size(); s++) {
      std::vector<KVCache*> just = {&alone[s]};
      BatchEngine::forward_step(c, model->weights(), just, act, pool, &next[s], one.data());
      EXPECT_EQ(std::memcmp(one.data(), logits.data() + s * size_t(V), size_t(V) * sizeof(float)), 0)
          << file << " sequence " << s;
    }
  }
}

// One sequence's steps on more threads than its KV heads divide between (the minis' 2 on 3): each
// head's positions are split between the threads (dense.h's decode_parts). The 1024-token run's last
// 32 tokens, stepped one at a time after its first 992 in one pass, give llama.cpp's logits at float
// precision (F32 cache).
TEST(BatchEngine, OneSequenceStepsSplitOverPositionsMatchLlamaCpp) {
  const auto model = Model::load(kData + "/models/qwen2-mini-f32.gguf");
  const auto ids = read_ids(kData + "/refs/long_tokens.txt");
  const auto ref = read_f32(kData + "/refs/qwen2-mini-f32.long_last32.logits.f32");
  const ModelConfig& c = model->config();
  const int64_t V = model->n_vocab();
  ThreadPool pool(3);
  ASSERT_GT(decode_parts(c.n_head_kv, pool.size(), 993), 1);
  DenseActivations act(c, 256, 1024, pool.size());
  KVCache cache(c.n_layer, c.n_head_kv, c.head_dim, 1024, DType::F32);
  std::vector<float> logits(32 * size_t(V));
  dense_forward(c, model->weights(), cache, act, pool, ids.data(), 992, false, logits.data());
  std::vector<KVCache*> one = {&cache};
  for (int64_t i = 0; i < 32; i++) {
    BatchEngine::forward_step(c, model->weights(), one, act, pool, &ids[size_t(992 + i)], logits.data() + i * V);
  }
  EXPECT_EQ(cache.size(), 1024);
  EXPECT_LT(rel_err(logits.data(), ref), 1e-5);
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

TEST(BatchEngine, ConcurrentSequencesDecodeAsAloneInSharedSteps) {
  const auto model = Model::load(kData + "/models/qwen2-mini-f32.gguf");
  const int64_t V = model->n_vocab();
  const std::vector<std::vector<int32_t>> prompts = {{1, 2, 3}, {7, 8, 9, 10, 11, 12}, {40}, {5, 6}};
  const int n_new = 40;
  ThreadPool pool(2);
  std::vector<std::vector<int32_t>> alone;
  for (const auto& p : prompts) {
    auto ctx = model->new_context(128, pool);
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
  // Every single-token pass (the decodes, and the one-token prompt) went through a step, and
  // steps held more than one token on average.
  EXPECT_EQ(engine.batched_tokens(), int64_t(prompts.size()) * n_new + 1);
  EXPECT_LT(engine.steps(), engine.batched_tokens());
  EXPECT_THROW(engine.context(0), Error);  // each sequence is handed out once
}

TEST(BatchEngine, AFailingSequenceDoesNotStopTheOthers) {
  const auto model = Model::load(kData + "/models/qwen2-mini-f32.gguf");
  ThreadPool pool(1);
  BatchEngine engine(*model, 2, 4, pool);
  auto a = engine.context(0), b = engine.context(1);
  std::vector<float> logits(static_cast<size_t>(model->n_vocab()));
  const int32_t bad = int32_t(model->n_vocab());
  EXPECT_THROW(a->forward(&bad, 1, false, logits.data()), Error);
  const std::vector<int32_t> five = {1, 2, 3, 4, 5};
  EXPECT_THROW(a->forward(five.data(), 5, false, logits.data()), Error);  // over the 4-token context
  const int32_t ok = 3;
  b->forward(&ok, 1, false, logits.data());
  EXPECT_EQ(b->n_past(), 1);
}

}  // namespace
}  // namespace r1
