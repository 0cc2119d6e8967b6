#include "server/api.h"

#include <gtest/gtest.h>

namespace r1::server {
namespace {

ServerDefaults defaults() {
  ServerDefaults d;
  d.model_id = "mini";
  d.params.sampling.temperature = 0.6f;
  d.params.max_tokens = -1;
  return d;
}

// The ApiError a body raises: its status and param (or 0 when it parses).
std::pair<int, std::string> error_of(const std::string& body) {
  try {
    parse_chat_request(parse_body(body), defaults());
  } catch (const ApiError& e) {
    return {e.status, e.param};
  }
  return {0, ""};
}

TEST(ApiTest, ReadsEveryChatField) {
  const GenerationJob job = parse_chat_request(parse_body(R"({
    "model": "mini", "messages": [{"role": "system", "content": "be brief"},
                                  {"role": "user", "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}]},
                                  {"role": "assistant", "content": "ok", "reasoning_content": "hmm"},
                                  {"role": "user", "content": "again"}],
    "max_completion_tokens": 7, "temperature": 0.2, "top_p": 0.5, "top_k": 40, "min_p": 0.05, "seed": 42,
    "stop": ["\n\n", "END"], "presence_penalty": 0.5, "frequency_penalty": -0.5, "stream": true,
    "stream_options": {"include_usage": true}, "n": 3, "logprobs": true, "top_logprobs": 2, "reasoning_budget": 16})"),
                                               defaults());
  ASSERT_EQ(job.messages.size(), 4u);
  EXPECT_EQ(*job.messages[1].content, "hi there");
  EXPECT_EQ(*job.messages[2].reasoning_content, "hmm");
  EXPECT_EQ(job.params.max_tokens, 7);
  EXPECT_FLOAT_EQ(job.params.sampling.temperature, 0.2f);
  EXPECT_FLOAT_EQ(job.params.sampling.top_p, 0.5f);
  EXPECT_EQ(job.params.sampling.top_k, 40);
  EXPECT_FLOAT_EQ(job.params.sampling.min_p, 0.05f);
  EXPECT_EQ(job.params.sampling.seed, 42u);
  EXPECT_TRUE(job.seeded);
  EXPECT_EQ(job.params.stop, (std::vector<std::string>{"\n\n", "END"}));
  EXPECT_FLOAT_EQ(job.params.sampling.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(job.params.sampling.frequency_penalty, -0.5f);
  EXPECT_TRUE(job.stream);
  EXPECT_TRUE(job.include_usage);
  EXPECT_EQ(job.n, 3);
  EXPECT_EQ(job.top_logprobs, 2);
  EXPECT_EQ(job.params.reasoning_budget, 16);
}

TEST(ApiTest, DefaultsApplyWhenFieldsAreMissing) {
  const GenerationJob job = parse_chat_request(parse_body(R"({"messages": [{"role": "user", "content": "x"}]})"), defaults());
  EXPECT_FLOAT_EQ(job.params.sampling.temperature, 0.6f);
  EXPECT_EQ(job.params.max_tokens, -1);
  EXPECT_FALSE(job.stream);
  EXPECT_EQ(job.n, 1);
  EXPECT_EQ(job.top_logprobs, -1);
  EXPECT_FALSE(job.seeded);
}

TEST(ApiTest, BadRequestsNameTheField) {
  EXPECT_EQ(error_of("{not json"), (std::pair<int, std::string>{400, ""}));
  EXPECT_EQ(error_of("[1,2]"), (std::pair<int, std::string>{400, ""}));
  EXPECT_EQ(error_of(R"({})"), (std::pair<int, std::string>{400, "messages"}));
  EXPECT_EQ(error_of(R"({"messages": []})"), (std::pair<int, std::string>{400, "messages"}));
  EXPECT_EQ(error_of(R"({"messages": "hi"})"), (std::pair<int, std::string>{400, "messages"}));
  EXPECT_EQ(error_of(R"({"messages": [{"role": "wizard", "content": "x"}]})"), (std::pair<int, std::string>{400, "messages"}));
  EXPECT_EQ(error_of(R"({"messages": [{"role": "user"}]})"), (std::pair<int, std::string>{400, "messages"}));
  const std::string ok = R"("messages": [{"role": "user", "content": "x"}])";
  EXPECT_EQ(error_of("{" + ok + R"(, "temperature": "hot"})"), (std::pair<int, std::string>{400, "temperature"}));
  EXPECT_EQ(error_of("{" + ok + R"(, "temperature": 3})"), (std::pair<int, std::string>{400, "temperature"}));
  EXPECT_EQ(error_of("{" + ok + R"(, "max_tokens": 1.5})"), (std::pair<int, std::string>{400, "max_tokens"}));
  EXPECT_EQ(error_of("{" + ok + R"(, "max_tokens": -1})"), (std::pair<int, std::string>{400, "max_tokens"}));
  EXPECT_EQ(error_of("{" + ok + R"(, "n": 0})"), (std::pair<int, std::string>{400, "n"}));
  EXPECT_EQ(error_of("{" + ok + R"(, "stream": "yes"})"), (std::pair<int, std::string>{400, "stream"}));
  EXPECT_EQ(error_of("{" + ok + R"(, "stop": [1]})"), (std::pair<int, std::string>{400, "stop"}));
  EXPECT_EQ(error_of("{" + ok + R"(, "top_logprobs": 2})"), (std::pair<int, std::string>{400, "top_logprobs"}));
  EXPECT_EQ(error_of("{" + ok + R"(, "response_format": {"type": "xml"}})"), (std::pair<int, std::string>{400, "response_format"}));
  EXPECT_EQ(error_of("{" + ok + R"(, "model": "gpt-4"})"), (std::pair<int, std::string>{404, "model"}));
  EXPECT_EQ(error_of("{" + ok + R"(, "model": "mini"})"), (std::pair<int, std::string>{0, ""}));
}

TEST(ApiTest, ErrorBodyHasTheOpenAiShape) {
  const ApiError e(400, "bad", "messages");
  const json b = e.body();
  EXPECT_EQ(b["error"]["message"], "bad");
  EXPECT_EQ(b["error"]["type"], "invalid_request_error");
  EXPECT_EQ(b["error"]["param"], "messages");
  EXPECT_TRUE(b["error"]["code"].is_null());
  EXPECT_EQ(ApiError(401, "k").body()["error"]["type"], "authentication_error");
}

TEST(ApiTest, UsageCarriesDeepSeekCacheFields) {
  const json u = usage_json(13, 5, 20, 12);
  EXPECT_EQ(u["total_tokens"], 33);
  EXPECT_EQ(u["prompt_cache_hit_tokens"], 5);
  EXPECT_EQ(u["prompt_cache_miss_tokens"], 8);
  EXPECT_EQ(u["prompt_tokens_details"]["cached_tokens"], 5);
  EXPECT_EQ(u["completion_tokens_details"]["reasoning_tokens"], 12);
}

TEST(ApiTest, CompletionAndOllamaRequests) {
  const GenerationJob c = parse_completion_request(parse_body(R"({"prompt": "Once", "max_tokens": 3})"), defaults());
  EXPECT_FALSE(c.chat);
  EXPECT_EQ(c.prompt, "Once");
  EXPECT_EQ(c.params.max_tokens, 3);
  EXPECT_THROW(parse_completion_request(parse_body(R"({"prompt": 5})"), defaults()), ApiError);

  const GenerationJob o = parse_ollama_request(
      parse_body(R"({"model": "mini", "messages": [{"role": "user", "content": "x"}], "options": {"num_predict": 4, "temperature": 0}})"),
      defaults(), true);
  EXPECT_TRUE(o.stream);  // Ollama streams unless told not to
  EXPECT_EQ(o.params.max_tokens, 4);
  EXPECT_FLOAT_EQ(o.params.sampling.temperature, 0.0f);
  const GenerationJob g = parse_ollama_request(parse_body(R"({"prompt": "hi", "stream": false})"), defaults(), false);
  EXPECT_TRUE(g.chat);  // templated unless raw
  EXPECT_EQ(*g.messages.back().content, "hi");
  EXPECT_FALSE(g.stream);
  EXPECT_EQ(finish_reason("eos"), std::string("stop"));
  EXPECT_EQ(finish_reason("context"), std::string("length"));
}

}  // namespace
}  // namespace r1::server
