#include "server/json_mode.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/model.h"
#include "runtime/session.h"
#include "tokenizer/tokenizer.h"
#include "util/threadpool.h"

namespace r1::server {
namespace {

bool accepts(std::string_view text) {
  JsonPrefix p;
  return p.feed(text);
}

bool complete(std::string_view text) {
  JsonPrefix p;
  return p.feed(text) && p.complete();
}

TEST(JsonPrefix, AcceptsPrefixesOfObjects) {
  for (const char* ok : {"", " ", "{", "{\"a", "{\"a\":", "{\"a\": -", "{\"a\": -0.", "{\"a\": 1e", "{\"a\": 1e+",
                         "{\"a\": [1, tr", "{\"a\": \"x\\u00", "{\"a\": {\"b\": null}, \"c\"", "{\"k\": \"é\""})
    EXPECT_TRUE(accepts(ok)) << ok;
  for (const char* full : {"{}", " {\"a\": 1} ", "{\"a\": [1, 2.5e-3, true, false, null, \"s\\n\", {}]}", "{\"a\":-0}"})
    EXPECT_TRUE(complete(full)) << full;
  EXPECT_FALSE(complete("{\"a\": 1"));
  EXPECT_FALSE(complete("{\"a\": 12"));  // a number is only done when something follows it
}

TEST(JsonPrefix, RejectsWhatCannotBecomeAnObject) {
  for (const char* bad : {"[", "1", "\"s\"", "{a", "{\"a\" 1", "{\"a\":}", "{\"a\": 01", "{\"a\": 1.}", "{\"a\": tru }",
                          "{\"a\": \"\\x\"", "{\"a\": \"\x01\"", "{}{", "{} x", "{\"a\": [1,]", "{,}", "{\"a\": -}"})
    EXPECT_FALSE(accepts(bad)) << bad;
}

// The real thing: a random-weight model, sampled at temperature 1, must produce a JSON object.
TEST(JsonConstrainedContext, SampledOutputOfARandomModelParses) {
  const auto model = Model::load(std::string(R1_TEST_DATA_DIR) + "/models/qwen2-mini-f32.gguf");
  ThreadPool pool(1);
  std::vector<int32_t> eos = model->config().eos_ids;
  if (model->tokenizer().eos_id() >= 0) eos.push_back(model->tokenizer().eos_id());
  auto ctx = std::make_unique<JsonConstrainedContext>(model->new_context(1024, pool), model->tokenizer(), eos);
  JsonConstrainedContext* json = ctx.get();
  Session session(*model, std::move(ctx));
  const std::vector<int32_t> prompt = model->tokenizer().encode("Answer in JSON:", true);
  int parsed = 0;
  for (uint64_t seed = 1; seed <= 8; seed++) {
    GenerationParams p;
    p.sampling.temperature = 1.0f;
    p.sampling.top_p = 1.0f;
    p.sampling.seed = seed;
    p.max_tokens = 400;
    json->arm(/*start_in_reasoning=*/false);
    const GenerationResult r = session.generate(prompt, p);
    json->disarm();
    JsonPrefix check;
    EXPECT_TRUE(check.feed(r.answer)) << r.answer;  // always a valid prefix, even when cut by max_tokens
    if (r.finish_reason == "eos") {
      EXPECT_TRUE(check.complete()) << r.answer;
      const auto j = nlohmann::json::parse(r.answer, nullptr, false);
      EXPECT_TRUE(j.is_object()) << r.answer;
      parsed++;
    }
  }
  EXPECT_GE(parsed, 4);  // most finish within the limit
  // Disarmed, the same model writes what it likes (not JSON).
  GenerationParams p;
  p.sampling.seed = 1;
  p.max_tokens = 20;
  EXPECT_FALSE(nlohmann::json::parse(session.generate(prompt, p).answer, nullptr, false).is_object());
}

}  // namespace
}  // namespace r1::server
