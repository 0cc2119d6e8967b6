// Task data in R1's chat format, batching, and the smoke check that pretraining lowers the loss.
#include "train/trainer.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "util/threadpool.h"

namespace r1::train {
namespace {

const std::string kTokenizer = std::string(R1_SOURCE_DIR) + "/assets/tokenizers/tiny512-deepseek-v3/tokenizer.json";

TEST(TrainData, ExamplesAreR1ChatTurns) {
  const Tokenizer tok = Tokenizer::from_file(kTokenizer);
  TaskData data(tok, {TaskKind::Addition, 2, 3, 3});
  Problem p;
  p.kind = TaskKind::Addition;
  p.question = "What is 48 + 377?";
  p.numbers = {48, 377};
  p.target = 425;
  p.reasoning = "8+7=15\n4+7+1=12\n3+1=4\nso 425";
  p.answer = "48 + 377 = 425";
  const Example e = data.example(p);
  const std::string prompt = tok.decode(std::span(e.tokens).first(e.prompt_len));
  EXPECT_EQ(prompt, "<｜begin▁of▁sentence｜><｜User｜>What is 48 + 377?<｜Assistant｜><think>\n");
  EXPECT_EQ(tok.decode(std::span(e.tokens).subspan(e.prompt_len)),
            "8+7=15\n4+7+1=12\n3+1=4\nso 425\n</think>\n\n48 + 377 = 425<｜end▁of▁sentence｜>");
  EXPECT_EQ(e.tokens.back(), tok.eos_id());
}

TEST(TrainData, BatchesScoreTheCompletionOrEverything) {
  const std::vector<Example> ex{{{0, 5, 6, 7, 8, 1}, 3}, {{0, 9, 1}, 2}};
  const Batch sft = make_batch(ex, 5, false, 1);
  EXPECT_EQ(sft.tokens, (std::vector<int32_t>{0, 5, 6, 7, 8, 0, 9, 1, 1, 1}));
  // Predictions of tokens at index >= prompt_len only; nothing past the end.
  EXPECT_EQ(sft.targets, (std::vector<int32_t>{-1, -1, 7, 8, 1, -1, 1, -1, -1, -1}));
  const Batch pre = make_batch(ex, 5, true, 1);
  EXPECT_EQ(pre.targets, (std::vector<int32_t>{5, 6, 7, 8, 1, 9, 1, -1, -1, -1}));
}

TEST(TrainSmoke, PretrainingOnAdditionLowersTheLoss) {
  const Tokenizer tok = Tokenizer::from_file(kTokenizer);
  TaskData data(tok, {TaskKind::Addition, 1, 2, 3});
  ModelConfig c;
  c.n_vocab = tok.n_vocab();
  c.n_embd = 48;
  c.n_layer = 2;
  c.n_head = 2;
  c.q_lora_rank = 24;
  c.kv_lora_rank = 16;
  c.qk_nope_dim = 8;
  c.qk_rope_dim = 8;
  c.v_head_dim = 12;
  c.n_ff = 96;
  c.n_dense_lead = 1;
  c.n_expert = 4;
  c.n_expert_used = 2;
  c.n_expert_shared = 1;
  c.n_ff_expert = 32;
  c.n_ctx = 64;
  ThreadPool pool(2);
  Transformer<float> m(c, &pool);
  m.init(1, 0.05);
  OptimConfig o;
  o.lr = 3e-3;
  o.warmup = 5;
  o.total_steps = 60;
  AdamW opt(m.layout(), o);
  std::mt19937_64 rng(7);
  LoopOptions lo;
  lo.steps = o.total_steps;
  std::vector<double> losses;
  double tokens = 0, seconds = 0;
  train_loop(m, opt, lo, [&](int64_t) {
    std::vector<Example> ex;
    for (int i = 0; i < 8; i++) ex.push_back(data.example(data.draw(Split::Train, rng)));
    return make_batch(ex, 48, true, tok.eos_id());
  }, [&](const StepLog& s) {
    losses.push_back(s.loss.lm);
    tokens += s.tokens_per_second * s.seconds;
    seconds += s.seconds;
  });
  auto mean = [&](size_t b, size_t e) {
    double s = 0;
    for (size_t i = b; i < e; i++) s += losses[i];
    return s / double(e - b);
  };
  const double first = mean(0, 5), last = mean(losses.size() - 5, losses.size());
  std::printf("pretraining smoke: loss %.3f -> %.3f in %zu steps, %.0f tokens/s\n", first, last, losses.size(),
              tokens / seconds);
  EXPECT_LT(last, 0.5 * first);
}

}  // namespace
}  // namespace r1::train
