// Sessions on the tiny random models (tests/data/README.md §3-4): their outputs are arbitrary ids,
// so the mechanics are checked against the reference greedy ids, and the reasoning / answer split
// on token streams scripted through a fake InferenceContext.
#include "runtime/session.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"
#include "testing/reference_data.h"

namespace r1 {
namespace {
using r1::test_data::read_f32;
using r1::test_data::read_ids;

const std::string kData = R1_TEST_DATA_DIR;

std::vector<int32_t> reference_greedy(const std::string& name) {
  std::ifstream f(kData + "/refs/" + name + ".json");
  return nlohmann::json::parse(f).at("greedy").get<std::vector<int32_t>>();
}

GenerationParams greedy(int64_t max_tokens) {
  GenerationParams p;
  p.sampling.temperature = 0;
  p.max_tokens = max_tokens;
  return p;
}

// Everything the stream showed, per channel, and the events' tokens.
struct Stream {
  std::string reasoning, answer;
  std::vector<int32_t> tokens;  // token of each event
  std::function<bool(const StreamEvent&)> callback() {
    return [this](const StreamEvent& e) {
      (e.channel == Channel::Reasoning ? reasoning : answer) += e.text;
      tokens.push_back(e.token);
      return true;
    };
  }
};

class SessionTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    qwen_ = Model::load(kData + "/models/qwen2-mini-f32.gguf").release();
    llama_ = Model::load(kData + "/models/llama-mini-f32.gguf").release();
  }
  static void TearDownTestSuite() {
    delete qwen_;
    delete llama_;
  }
  static const Model* qwen_;
  static const Model* llama_;
  const std::vector<int32_t> prompt_ = read_ids(kData + "/refs/tokens.txt");
};
const Model* SessionTest::qwen_ = nullptr;
const Model* SessionTest::llama_ = nullptr;

TEST_F(SessionTest, GreedyReproducesReferenceIds) {
  for (const auto& [model, name] : {std::pair{qwen_, "qwen2-mini-f32"}, std::pair{llama_, "llama-mini-f32"}}) {
    SCOPED_TRACE(name);
    const std::vector<int32_t> ref = reference_greedy(name);
    Session s(*model, 128, 2);
    Stream stream;
    const GenerationResult r = s.generate(prompt_, greedy(int64_t(ref.size())), stream.callback());
    EXPECT_EQ(r.tokens, ref);
    EXPECT_EQ(r.finish_reason, "length");
    EXPECT_EQ(r.prompt_tokens, 32);
    EXPECT_EQ(r.cached_prompt_tokens, 0);
    EXPECT_EQ(r.completion_tokens, 16);
    EXPECT_GT(r.prefill_tokens_per_second, 0);
    EXPECT_GT(r.decode_tokens_per_second, 0);
    // The prompt ends with "<｜Assistant｜><think>\n" + one token: everything is reasoning.
    EXPECT_EQ(r.reasoning_tokens, 16);
    EXPECT_EQ(r.answer, "");
    EXPECT_EQ(r.reasoning, r.text);
    // The text is what an independent stream decoding of the ids gives, and what was streamed.
    StreamDecoder dec(model->tokenizer(), true);
    std::string expected;
    for (int32_t id : ref) expected += dec.push(id);
    expected += dec.flush();
    EXPECT_EQ(r.text, expected);
    EXPECT_EQ(stream.reasoning, r.reasoning);
    EXPECT_EQ(stream.answer, "");
    // The cache holds the prompt and every generated token but the last (never run).
    std::vector<int32_t> cached = prompt_;
    cached.insert(cached.end(), ref.begin(), ref.end() - 1);
    EXPECT_EQ(s.cached_tokens(), cached);
  }
}

TEST_F(SessionTest, EveryTokenGetsOneEventInOrder) {
  // All reasoning here, so each token gives exactly one event; the held-back end comes as token -1.
  Session s(*qwen_, 128, 2);
  std::vector<int32_t> event_tokens;
  const GenerationResult r = s.generate(prompt_, greedy(16), [&](const StreamEvent& e) {
    event_tokens.push_back(e.token);
    return true;
  });
  std::vector<int32_t> expected = r.tokens;
  if (event_tokens.size() == expected.size() + 1) expected.push_back(-1);
  EXPECT_EQ(event_tokens, expected);
}

TEST_F(SessionTest, SameSeedSameOutputOtherSeedDiffers) {
  Session s(*qwen_, 128, 2);
  GenerationParams p;
  p.sampling.temperature = 1.0f;
  p.sampling.top_p = 1.0f;
  p.max_tokens = 24;
  p.sampling.seed = 7;
  const GenerationResult a = s.generate(prompt_, p);
  const GenerationResult b = s.generate(prompt_, p);
  p.sampling.seed = 8;
  const GenerationResult c = s.generate(prompt_, p);
  ASSERT_EQ(a.tokens.size(), 24u);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_NE(a.tokens, c.tokens);  // 24 draws from a near-flat 512-way distribution
  EXPECT_NE(a.tokens, reference_greedy("qwen2-mini-f32"));
}

TEST_F(SessionTest, StopStringNeverReachesTheStream) {
  Session s(*qwen_, 128, 2);
  const GenerationResult full = s.generate(prompt_, greedy(16));
  // A stop string that spans token boundaries of the greedy text: " def", 0x9c, " data", "j", " data", ...
  const std::string stop = "aj d";
  const size_t at = full.text.find(stop);
  ASSERT_NE(at, std::string::npos) << full.text;

  GenerationParams p = greedy(16);
  p.stop = {"never matches", stop};
  Stream stream;
  const GenerationResult r = s.generate(prompt_, p, stream.callback());
  EXPECT_EQ(r.finish_reason, "stop");
  EXPECT_EQ(r.text, full.text.substr(0, at));
  EXPECT_EQ(stream.reasoning, r.text);
  EXPECT_EQ(stream.reasoning.find(stop.substr(0, 2)), std::string::npos);
  // Generation ended at the token that completed the stop string.
  const std::vector<int32_t> ref = reference_greedy("qwen2-mini-f32");
  ASSERT_LE(r.tokens.size(), ref.size());
  EXPECT_EQ(r.tokens, std::vector<int32_t>(ref.begin(), ref.begin() + std::ptrdiff_t(r.tokens.size())));
  StreamDecoder dec(qwen_->tokenizer(), true);
  std::string text_of_tokens;
  for (size_t i = 0; i + 1 < r.tokens.size(); i++) text_of_tokens += dec.push(r.tokens[i]);
  EXPECT_EQ(text_of_tokens.find(stop), std::string::npos);  // one token earlier it was not complete
  EXPECT_NE((text_of_tokens + dec.push(r.tokens.back())).find(stop), std::string::npos);

  // A stop string that only starts to match is shown in full at the end.
  p.stop = {full.text.substr(full.text.size() - 3) + "zz"};
  const GenerationResult r2 = s.generate(prompt_, p);
  EXPECT_EQ(r2.finish_reason, "length");
  EXPECT_EQ(r2.text, full.text);
}

TEST_F(SessionTest, PrefixReuseMatchesFreshRun) {
  Session reused(*qwen_, 128, 2), fresh(*qwen_, 128, 2);
  const std::vector<int32_t> head(prompt_.begin(), prompt_.begin() + 20);
  EXPECT_EQ(reused.generate(head, greedy(0)).finish_reason, "length");
  EXPECT_EQ(reused.cached_tokens(), head);

  const GenerationResult a = reused.generate(prompt_, greedy(0));
  EXPECT_EQ(a.cached_prompt_tokens, 20);
  EXPECT_EQ(a.prompt_tokens, 32);
  const GenerationResult b = fresh.generate(prompt_, greedy(0));
  EXPECT_EQ(b.cached_prompt_tokens, 0);
  const std::vector<float>& la = reused.last_logits();
  const std::vector<float>& lb = fresh.last_logits();
  ASSERT_EQ(la.size(), size_t(qwen_->n_vocab()));
  ASSERT_EQ(lb.size(), la.size());
  double max_diff = 0;
  for (size_t i = 0; i < la.size(); i++) max_diff = std::max(max_diff, std::fabs(double(la[i]) - lb[i]));
  EXPECT_LT(max_diff, 1e-5);

  // The same prompt again: everything but the last token comes from the cache.
  EXPECT_EQ(reused.generate(prompt_, greedy(0)).cached_prompt_tokens, 31);
  // A continuation of the previous turn reuses prompt + generated tokens, and decodes the same.
  const GenerationResult turn1 = reused.generate(prompt_, greedy(4));
  std::vector<int32_t> next = prompt_;
  next.insert(next.end(), turn1.tokens.begin(), turn1.tokens.end());
  next.insert(next.end(), {5, 6, 7});
  const GenerationResult turn2 = reused.generate(next, greedy(6));
  EXPECT_EQ(turn2.cached_prompt_tokens, 32 + 3);  // the 4th generated token was never run
  EXPECT_EQ(turn2.tokens, fresh.generate(next, greedy(6)).tokens);
  // A prompt that differs early only keeps the shared part.
  std::vector<int32_t> other = prompt_;
  other[10] = 100;
  EXPECT_EQ(reused.generate(other, greedy(1)).cached_prompt_tokens, 10);
}

TEST_F(SessionTest, LogitsOfEveryPositionMatchReference) {
  Session s(*qwen_, 64, 2);
  s.generate(prompt_, greedy(3));  // leaves a cache that logits() must ignore
  const std::vector<float> got = s.logits(prompt_);
  const std::vector<float> ref = read_f32(kData + "/refs/qwen2-mini-f32.logits.f32");
  ASSERT_EQ(got.size(), ref.size());
  double max_ref = 0, max_diff = 0;
  for (size_t i = 0; i < ref.size(); i++) {
    max_ref = std::max(max_ref, std::fabs(double(ref[i])));
    max_diff = std::max(max_diff, std::fabs(double(got[i]) - ref[i]));
  }
  EXPECT_LT(max_diff / max_ref, 1e-4);
  EXPECT_EQ(s.cached_tokens(), prompt_);
  EXPECT_THROW(s.logits({}), Error);
  EXPECT_THROW(s.logits(std::vector<int32_t>(65, 3)), Error);
}

TEST_F(SessionTest, LimitsAndFinishReasons) {
  Session s(*qwen_, 40, 2);
  const std::vector<int32_t> ref = reference_greedy("qwen2-mini-f32");

  GenerationResult r = s.generate(prompt_, greedy(0));
  EXPECT_EQ(r.finish_reason, "length");
  EXPECT_TRUE(r.tokens.empty());
  r = s.generate(prompt_, greedy(5));
  EXPECT_EQ(r.finish_reason, "length");
  EXPECT_EQ(r.tokens, std::vector<int32_t>(ref.begin(), ref.begin() + 5));

  // 32 prompt tokens in a context of 40: 8 more fit.
  r = s.generate(prompt_, greedy(-1));
  EXPECT_EQ(r.finish_reason, "context");
  EXPECT_EQ(r.tokens, std::vector<int32_t>(ref.begin(), ref.begin() + 8));
  EXPECT_EQ(s.cached_tokens().size(), 39u);

  int events = 0;
  r = s.generate(prompt_, greedy(-1), [&](const StreamEvent&) { return ++events < 3; });
  EXPECT_EQ(r.finish_reason, "cancelled");
  EXPECT_EQ(r.tokens, std::vector<int32_t>(ref.begin(), ref.begin() + 3));

  std::vector<int32_t> full_context(40, 300);
  full_context[0] = 0;
  r = s.generate(full_context, greedy(-1));
  EXPECT_EQ(r.finish_reason, "context");
  EXPECT_TRUE(r.tokens.empty());

  try {
    s.generate(std::vector<int32_t>(41, 300), greedy(-1));
    FAIL() << "no error for a prompt longer than the context";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "prompt has 41 tokens but the context is 40");
  }
  EXPECT_THROW(s.generate({}, greedy(1)), Error);
  EXPECT_THROW(s.generate({0, 512}, greedy(1)), Error);  // outside the vocabulary
  r = s.generate(prompt_, greedy(2));
  EXPECT_EQ(r.tokens, std::vector<int32_t>(ref.begin(), ref.begin() + 2));
}

TEST_F(SessionTest, ChatPromptHasOneBos) {
  Session s(*qwen_, 64, 1);
  const std::vector<int32_t> ids = s.chat_prompt({ChatMessage{"user", "Hi", std::nullopt, {}}});
  const Tokenizer& tok = qwen_->tokenizer();
  EXPECT_EQ(tok.decode(ids), "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜><think>\n");
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(ids[0], tok.bos_id());
  EXPECT_NE(ids[1], tok.bos_id());
  EXPECT_EQ(ids[ids.size() - 2], *tok.token_id("<think>"));
}

// A model context whose output is scripted: after the cache holds n tokens, the logits single
// out script[n - prompt_len] (the script's last entry once it runs out). With greedy sampling the
// session generates exactly the script. Feeding it id 3 fails the pass.
class ScriptedContext final : public InferenceContext {
 public:
  ScriptedContext(int64_t n_vocab, int64_t prompt_len, std::vector<int32_t> script)
      : n_vocab_(n_vocab), prompt_len_(prompt_len), script_(std::move(script)) {}
  int64_t n_past() const override { return n_past_; }
  int64_t n_ctx() const override { return 256; }
  void truncate(int64_t n) override { n_past_ = n; }
  void forward(const int32_t* ids, int64_t n, bool all_logits, float* logits) override {
    n_past_ += n;
    // Id 3 stands for a pass that fails after writing part of the cache.
    if (std::find(ids, ids + n, 3) != ids + n) fail("scripted failure");
    const int64_t k = std::min<int64_t>(n_past_ - prompt_len_, int64_t(script_.size()) - 1);
    float* row = all_logits ? logits + (n - 1) * n_vocab_ : logits;
    std::fill(row, row + n_vocab_, 0.0f);
    row[script_[size_t(std::max<int64_t>(k, 0))]] = 1.0f;
  }

 private:
  int64_t n_vocab_, prompt_len_;
  std::vector<int32_t> script_;
  int64_t n_past_ = 0;
};

class ScriptedSessionTest : public SessionTest {
 protected:
  std::vector<int32_t> ids(const std::string& text) const { return qwen_->tokenizer().encode(text, false); }
  std::vector<int32_t> cat(std::initializer_list<std::vector<int32_t>> parts) const {
    std::vector<int32_t> out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
  }
  GenerationResult run(const std::vector<int32_t>& prompt, const std::vector<int32_t>& script,
                       const GenerationParams& p, Stream* stream = nullptr) {
    Session s(*qwen_, std::make_unique<ScriptedContext>(qwen_->n_vocab(), int64_t(prompt.size()), script));
    return s.generate(prompt, p, stream ? stream->callback() : nullptr);
  }
  const std::vector<int32_t> chat_ = ids("<｜begin▁of▁sentence｜><｜User｜>2+2?<｜Assistant｜><think>\n");
  const int32_t eos_ = 1, think_ = 510, end_think_ = 511;
};

TEST_F(ScriptedSessionTest, ReasoningThenAnswerWithCloseAsOneToken) {
  ASSERT_EQ(chat_[chat_.size() - 2], think_);
  const std::vector<int32_t> thought = ids("Two plus two.");
  const std::vector<int32_t> script = cat({thought, {end_think_}, ids("\n\nIt is 4."), {eos_}});
  Stream stream;
  const GenerationResult r = run(chat_, script, greedy(-1), &stream);
  EXPECT_EQ(r.finish_reason, "eos");
  EXPECT_EQ(r.reasoning, "Two plus two.");
  EXPECT_EQ(r.answer, "It is 4.");
  EXPECT_EQ(r.text, "Two plus two.</think>\n\nIt is 4.");
  EXPECT_EQ(r.tokens, std::vector<int32_t>(script.begin(), script.end() - 1));  // no EOS
  EXPECT_EQ(r.reasoning_tokens, int64_t(thought.size()) + 1);
  EXPECT_EQ(stream.reasoning, r.reasoning);
  EXPECT_EQ(stream.answer, r.answer);
}

TEST_F(ScriptedSessionTest, CloseMarkerInTextPieces) {
  const std::vector<int32_t> close_pieces = cat({ids("</"), ids("th"), ids("ink"), ids(">\n")});
  ASSERT_GT(close_pieces.size(), 2u);
  for (int32_t id : close_pieces) ASSERT_NE(id, end_think_);
  const std::vector<int32_t> script = cat({ids("ok <"), close_pieces, ids("\nyes"), {eos_}});
  Stream stream;
  const GenerationResult r = run(chat_, script, greedy(-1), &stream);
  EXPECT_EQ(r.reasoning, "ok <");
  EXPECT_EQ(r.answer, "yes");
  EXPECT_EQ(stream.reasoning, "ok <");
  EXPECT_EQ(stream.answer, "yes");
}

TEST_F(ScriptedSessionTest, ModelOpensThinkWhenThePromptDidNot) {
  const std::vector<int32_t> prompt = ids("<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>");
  const std::vector<int32_t> script = cat({{think_}, ids("\nhmm"), {end_think_}, ids("\n\nhello"), {eos_}});
  const GenerationResult r = run(prompt, script, greedy(-1));
  EXPECT_EQ(r.reasoning, "hmm");
  EXPECT_EQ(r.answer, "hello");
  EXPECT_EQ(r.reasoning_tokens, int64_t(ids("\nhmm").size()) + 2);  // and both markers
  // No <think> at the start: all answer, markers later on are text.
  const GenerationResult plain = run(prompt, cat({ids("a"), {think_}, ids("b"), {eos_}}), greedy(-1));
  EXPECT_EQ(plain.answer, "a<think>b");
  EXPECT_EQ(plain.reasoning, "");
  EXPECT_EQ(plain.reasoning_tokens, 0);
}

TEST_F(ScriptedSessionTest, ReasoningBudgetForcesTheAnswer) {
  const std::vector<int32_t> x = ids("x");
  ASSERT_EQ(x.size(), 1u);
  std::vector<int32_t> script(40, x[0]);
  script.push_back(eos_);
  GenerationParams p = greedy(-1);
  p.reasoning_budget = 3;
  const GenerationResult r = run(chat_, script, p);
  const std::vector<int32_t> forced = ids("\n</think>\n\n");
  EXPECT_EQ(r.finish_reason, "eos");
  EXPECT_EQ(r.reasoning, "xxx\n");
  EXPECT_EQ(r.answer, std::string(40 - 3 - forced.size(), 'x'));
  EXPECT_EQ(r.reasoning_tokens, 3 + 2);  // + the forced "\n" and "</think>"
  ASSERT_GE(r.tokens.size(), 3 + forced.size());
  EXPECT_EQ(std::vector<int32_t>(r.tokens.begin() + 3, r.tokens.begin() + 3 + std::ptrdiff_t(forced.size())), forced);

  // A budget of 0 answers at once; no budget lets it think until EOS.
  p.reasoning_budget = 0;
  EXPECT_EQ(run(chat_, script, p).reasoning, "\n");
  p.reasoning_budget = -1;
  const GenerationResult unlimited = run(chat_, script, p);
  EXPECT_EQ(unlimited.reasoning, std::string(40, 'x'));
  EXPECT_EQ(unlimited.answer, "");
}

TEST_F(ScriptedSessionTest, EosEndsUnlessIgnored) {
  const std::vector<int32_t> script = cat({ids("ab"), {eos_}, ids("cd"), {eos_}});
  GenerationParams p = greedy(-1);
  GenerationResult r = run(chat_, script, p);
  EXPECT_EQ(r.finish_reason, "eos");
  EXPECT_EQ(r.reasoning, "ab");
  p.ignore_eos = true;
  p.max_tokens = int64_t(script.size());
  r = run(chat_, script, p);
  EXPECT_EQ(r.finish_reason, "length");
  EXPECT_EQ(r.reasoning, "abcd");  // EOS shows no text
  EXPECT_EQ(r.tokens, script);
}

TEST_F(ScriptedSessionTest, StopStringSpanningChannelsAndTokens) {
  const std::vector<int32_t> script = cat({ids("a"), {end_think_}, ids("\n\nThe END is near"), {eos_}});
  GenerationParams p = greedy(-1);
  p.stop = {"END"};
  Stream stream;
  const GenerationResult r = run(chat_, script, p, &stream);
  EXPECT_EQ(r.finish_reason, "stop");
  EXPECT_EQ(r.answer, "The ");
  EXPECT_EQ(stream.answer, "The ");
  EXPECT_EQ(r.text, "a</think>\n\nThe ");
}

TEST_F(ScriptedSessionTest, FailedPassEmptiesTheCache) {
  const std::vector<int32_t> script = cat({ids("ab"), {eos_}});
  Session s(*qwen_, std::make_unique<ScriptedContext>(qwen_->n_vocab(), int64_t(chat_.size()), script));
  EXPECT_EQ(s.generate(chat_, greedy(-1)).reasoning, "ab");
  std::vector<int32_t> bad = chat_;
  bad.push_back(3);
  EXPECT_THROW(s.generate(bad, greedy(-1)), Error);
  EXPECT_TRUE(s.cached_tokens().empty());
  const GenerationResult r = s.generate(chat_, greedy(-1));
  EXPECT_EQ(r.cached_prompt_tokens, 0);
  EXPECT_EQ(r.reasoning, "ab");
}

}  // namespace
}  // namespace r1
