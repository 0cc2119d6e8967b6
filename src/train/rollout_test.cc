// GRPO rollouts, batched through the engine, are what sampling each response alone with a
// Session gives (the sequential path they replaced), and do not depend on the thread count.
#include "train/rollout.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "model/model.h"
#include "runtime/session.h"
#include "testing/train_models.h"

namespace r1::train {
namespace {

namespace fs = std::filesystem;

const std::string kTokenizer = std::string(R1_SOURCE_DIR) + "/assets/tokenizers/tiny512-deepseek-v3/tokenizer.json";

ModelConfig rollout_config(int64_t n_vocab) { return test_models::small_engine_config(n_vocab, 2); }

TEST(TrainRollout, BatchedRolloutsEqualSequentialSampling) {
  const Tokenizer tok = Tokenizer::from_file(kTokenizer);
  TaskData data(tok, {TaskKind::Addition, 1, 2, 3});
  Transformer<float> m(rollout_config(tok.n_vocab()), nullptr);
  m.init(3, 0.3);
  std::mt19937_64 rng(11);
  std::vector<Problem> problems;
  for (int i = 0; i < 3; i++) problems.push_back(data.draw(Split::Train, rng));
  const int64_t G = 4;
  GenerationParams gp;
  gp.sampling.temperature = 1.0f;
  gp.sampling.top_p = 1.0f;
  gp.sampling.seed = 1234;
  gp.max_tokens = 20;

  const fs::path dir = fs::path(R1_BINARY_DIR) / "train_test_tmp" / "rollout";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string scratch = (dir / "policy.gguf").string();
  const RolloutBatch rb = sample_rollouts(m, data, kTokenizer, problems, G, gp, scratch, 2);
  ASSERT_EQ(rb.rollouts.size(), size_t(3 * G));
  ASSERT_EQ(rb.rewards.size(), rb.rollouts.size());
  ASSERT_EQ(rb.truncated.size(), rb.rollouts.size());

  // The sequential reference: one Session, response (p, g) seeded with seed + p·G + g.
  const auto model = Model::load(scratch);
  Session session(*model, m.config().n_ctx, 2);
  int64_t generated = 0;
  int distinct = 0;
  for (size_t p = 0; p < problems.size(); p++) {
    const std::vector<int32_t> prompt = data.prompt_tokens(problems[p]);
    for (int64_t g = 0; g < G; g++) {
      const size_t i = p * size_t(G) + size_t(g);
      GenerationParams one = gp;
      one.sampling.seed = gp.sampling.seed + i;
      const GenerationResult r = session.generate(prompt, one);
      const Rollout& ro = rb.rollouts[i];
      EXPECT_EQ(ro.group, int64_t(p));
      EXPECT_EQ(ro.prompt_len, prompt.size());
      std::vector<int32_t> want = prompt;
      want.insert(want.end(), r.tokens.begin(), r.tokens.end());
      if (r.finish_reason == "eos") want.push_back(tok.eos_id());
      EXPECT_EQ(ro.tokens, want) << "rollout " << i;
      const bool truncated = r.finish_reason == "length" || r.finish_reason == "context";
      EXPECT_EQ(rb.truncated[i], truncated) << "rollout " << i;
      const Reward rw = score_completion(problems[p], r.text, truncated);
      EXPECT_EQ(ro.reward, rw.total()) << "rollout " << i;
      generated += r.completion_tokens;
      if (g > 0) distinct += ro.tokens != rb.rollouts[i - 1].tokens;
    }
  }
  int truncated = 0;
  for (bool t : rb.truncated) truncated += t;
  std::printf("%zu rollouts, %lld tokens generated, %d truncated\n", rb.rollouts.size(),
              static_cast<long long>(generated), truncated);
  EXPECT_EQ(rb.generated_tokens, generated);
  EXPECT_GT(generated, 0);
  EXPECT_GT(distinct, 0);  // a group's samples differ (each has its own seed)

  // From the loaded model directly, on one thread: the same rollouts.
  const RolloutBatch one_thread = sample_rollouts(*model, data, problems, G, gp, m.config().n_ctx, 1);
  ASSERT_EQ(one_thread.rollouts.size(), rb.rollouts.size());
  for (size_t i = 0; i < rb.rollouts.size(); i++) EXPECT_EQ(one_thread.rollouts[i].tokens, rb.rollouts[i].tokens) << i;
}

}  // namespace
}  // namespace r1::train
