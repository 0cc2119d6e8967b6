#include "tokenizer/chat_template.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sstream>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_test_util.h"

namespace r1 {
namespace {

using nlohmann::json;

std::vector<ChatMessage> parse_messages(const json& list) {
  std::vector<ChatMessage> messages;
  for (const json& m : list) {
    ChatMessage msg;
    msg.role = m.at("role").get<std::string>();
    if (!m.at("content").is_null()) msg.content = m.at("content").get<std::string>();
    if (m.contains("tool_calls")) {
      for (const json& c : m.at("tool_calls")) {
        msg.tool_calls.push_back({c.at("type").get<std::string>(), c.at("function").at("name").get<std::string>(),
                                  c.at("function").at("arguments").get<std::string>()});
      }
    }
    messages.push_back(std::move(msg));
  }
  return messages;
}

// Every rendering of chat_template.jsonl (made with @huggingface/jinja from the R1 template of
// the tiny512 tokenizer_config.json), byte for byte.
TEST(ChatTemplate, MatchesAllJinjaRenderings) {
  const Tokenizer tok = Tokenizer::from_file(test::data_path("tokenizer/tiny512-qwen2"));
  const ChatFormat format = detect_chat_format(tok.chat_template());
  ASSERT_TRUE(format.recognized);
  std::istringstream lines(test::read_text(test::data_path("tokenizer_vectors/chat_template.jsonl")));
  int n = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    const json j = json::parse(line);
    const auto messages = parse_messages(j.at("messages"));
    EXPECT_EQ(render_chat(messages, j.at("add_generation_prompt").get<bool>(), format,
                          j.at("bos_token").get<std::string>()),
              j.at("text").get<std::string>())
        << "case " << n << ": " << line;
    ++n;
  }
  EXPECT_EQ(n, 9);
}

TEST(ChatTemplate, SpecExample) {
  const std::vector<ChatMessage> m = {{"system", "S", {}, {}},
                                      {"user", "U1", {}, {}},
                                      {"assistant", "<think>\nR\n</think>\n\nA1", "R", {}},
                                      {"user", "U2", {}, {}}};
  EXPECT_EQ(render_chat(m, true),
            "<｜begin▁of▁sentence｜>S<｜User｜>U1<｜Assistant｜>\n\nA1<｜end▁of▁sentence｜><｜User｜>U2<｜Assistant｜><think>\n");
}

// The official template's tool-call quirks: a single call is not closed, later calls each add the
// closer, and the "first call" flag is never reset, so a second tool-call turn has no
// <｜Assistant｜><｜tool▁calls▁begin｜>.
TEST(ChatTemplate, ToolCallQuirks) {
  ChatMessage calls{"assistant", std::nullopt, {}, {{"function", "a", "{}"}, {"function", "b", "{}"}, {"function", "c", "{}"}}};
  const std::string call_a = "function<｜tool▁sep｜>a\n```json\n{}\n```<｜tool▁call▁end｜>";
  const std::string close = "<｜tool▁calls▁end｜><｜end▁of▁sentence｜>";
  std::vector<ChatMessage> m = {{"user", "q", {}, {}}, calls};
  const std::string three = render_chat(m, false);
  EXPECT_EQ(three, "<｜begin▁of▁sentence｜><｜User｜>q<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>" + call_a +
                       "\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>b\n```json\n{}\n```<｜tool▁call▁end｜>" + close +
                       "\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>c\n```json\n{}\n```<｜tool▁call▁end｜>" + close);
  std::vector<ChatMessage> twice = {{"user", "q", {}, {}}, {"assistant", std::nullopt, {}, {{"function", "a", "{}"}}},
                                    {"tool", "r1", {}, {}}, {"tool", "r2", {}, {}},
                                    {"assistant", std::nullopt, {}, {{"function", "a", "{}"}}}, {"tool", "r3", {}, {}}};
  EXPECT_EQ(render_chat(twice, true),
            "<｜begin▁of▁sentence｜><｜User｜>q<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>" + call_a +
                "<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>r1<｜tool▁output▁end｜>\n<｜tool▁output▁begin｜>r2<｜tool▁output▁end｜>"
                "\n<｜tool▁call▁begin｜>" + call_a + close +
                "\n<｜tool▁output▁begin｜>r3<｜tool▁output▁end｜><｜tool▁outputs▁end｜>");  // ends in tool output: no prompt
}

TEST(ChatTemplate, DetectsVariants) {
  const auto distill = detect_chat_format(test::read_text(test::data_path("templates/deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja")));
  EXPECT_TRUE(distill.recognized);
  EXPECT_TRUE(distill.think_in_prompt);
  EXPECT_FALSE(distill.join_system);
  EXPECT_TRUE(distill.strip_reasoning);
  EXPECT_TRUE(detect_chat_format(test::read_text(test::data_path("templates/deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja"))).recognized);

  const auto v3 = detect_chat_format(test::deepseek_v3().chat_template());
  EXPECT_TRUE(v3.recognized);
  EXPECT_FALSE(v3.think_in_prompt);
  EXPECT_TRUE(v3.join_system);
  EXPECT_FALSE(v3.strip_reasoning);
  const std::vector<ChatMessage> m = {{"system", "A", {}, {}}, {"system", "B", {}, {}}, {"user", "u", {}, {}}};
  EXPECT_EQ(render_chat(m, true, v3), "<｜begin▁of▁sentence｜>A\n\nB<｜User｜>u<｜Assistant｜>");
  EXPECT_EQ(render_chat(m, true), "<｜begin▁of▁sentence｜>B<｜User｜>u<｜Assistant｜><think>\n");

  // Qwen3's ChatML template is not DeepSeek's: reported, and rendering falls back to the R1 format.
  const auto qwen = detect_chat_format(test::qwen().chat_template());
  EXPECT_FALSE(qwen.recognized);
  EXPECT_TRUE(qwen.think_in_prompt);
  EXPECT_THROW(render_chat(std::vector<ChatMessage>{{"narrator", "x", {}, {}}}, true), Error);
}

}  // namespace
}  // namespace r1
