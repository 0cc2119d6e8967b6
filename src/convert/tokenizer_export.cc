#include "convert/tokenizer_export.h"

#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/hf_config.h"

namespace r1 {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// GGUF token types (llama.cpp's enum).
enum : int32_t { kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5 };

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

// Added tokens that are not "special" but look like control markers are typed CONTROL, as
// llama.cpp's converter does (so <｜User｜> is CONTROL while <think> is USER_DEFINED).
bool looks_special(const std::string& t) {
  return (starts_with(t, "<|") && ends_with(t, "|>")) || (starts_with(t, "<｜") && ends_with(t, "｜>"));
}

std::string token_content(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return "";
}

struct TokenizerFiles {
  json tok;
  json cfg;  // tokenizer_config.json, or empty object
};

TokenizerFiles read_files(const std::string& path) {
  TokenizerFiles f;
  f.tok = read_json_file(path);
  fs::path cfg = fs::path(path).parent_path() / "tokenizer_config.json";
  f.cfg = fs::exists(cfg) ? read_json_file(cfg.string()) : json::object();
  if (!f.tok.contains("model") || !f.tok["model"].is_object() || f.tok["model"].value("type", "") != "BPE")
    fail(path, ": only BPE tokenizer.json files are supported");
  if (!f.tok["model"].contains("vocab") || !f.tok["model"]["vocab"].is_object())
    fail(path, ": model.vocab is missing or not an object");
  return f;
}

// id -> text for the BPE vocabulary and the added tokens.
std::map<int64_t, std::string> all_tokens(const TokenizerFiles& f, const std::string& path) {
  std::map<int64_t, std::string> by_id;
  for (auto& [text, id] : f.tok["model"]["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0) fail(path, ": vocab id of '", text, "' is not valid");
    by_id[id.get<int64_t>()] = text;
  }
  if (f.tok.contains("added_tokens") && f.tok["added_tokens"].is_array())
    for (const json& a : f.tok["added_tokens"]) {
      if (!a.contains("id") || !a["id"].is_number_integer()) fail(path, ": added token without integer id");
      by_id[a["id"].get<int64_t>()] = token_content(a);
    }
  return by_id;
}

std::vector<std::string> split_regexes(const json& pre) {
  std::vector<std::string> out;
  if (!pre.is_object()) return out;
  if (pre.value("type", "") == "Sequence" && pre.contains("pretokenizers"))
    for (const json& p : pre["pretokenizers"]) {
      auto sub = split_regexes(p);
      out.insert(out.end(), sub.begin(), sub.end());
    }
  if (pre.value("type", "") == "Split" && pre.contains("pattern") && pre["pattern"].contains("Regex"))
    out.push_back(pre["pattern"]["Regex"].get<std::string>());
  return out;
}

}  // namespace

int64_t tokenizer_json_size(const std::string& path) {
  TokenizerFiles f = read_files(path);
  auto by_id = all_tokens(f, path);
  return by_id.empty() ? 0 : by_id.rbegin()->first + 1;
}

std::string detect_gguf_pre(const std::string& path) {
  TokenizerFiles f = read_files(path);
  std::vector<std::string> rx = split_regexes(f.tok.value("pre_tokenizer", json()));
  if (rx.size() == 3 && rx[0] == "\\p{N}{1,3}") return "deepseek-v3";
  if (rx.size() == 1 && starts_with(rx[0], "(?i:'s|'t|'re|'ve|'m|'ll|'d)")) {
    if (rx[0].find("\\p{N}{1,3}") != std::string::npos) return "llama-bpe";
    if (rx[0].find("\\p{N}|") != std::string::npos) return "qwen2";
  }
  fail(path, ": pre-tokenizer not recognised (supported: DeepSeek-V3, Qwen2, Llama-3 regexes)");
}

std::vector<std::pair<std::string, GgufValue>> gguf_tokenizer_kv(const std::string& path, int64_t n_vocab) {
  TokenizerFiles f = read_files(path);
  auto by_id = all_tokens(f, path);
  const int64_t n_tok = by_id.empty() ? 0 : by_id.rbegin()->first + 1;
  if (n_vocab < n_tok) fail(path, ": tokenizer has ", n_tok, " tokens but the model only ", n_vocab, " embedding rows");

  std::map<int64_t, bool> added_special;
  if (f.tok.contains("added_tokens") && f.tok["added_tokens"].is_array())
    for (const json& a : f.tok["added_tokens"]) added_special[a["id"].get<int64_t>()] = a.value("special", false);

  std::vector<std::string> tokens(n_vocab);
  std::vector<int32_t> types(n_vocab, kNormal);
  for (int64_t id = 0; id < n_vocab; ++id) {
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      tokens[id] = "[PAD" + std::to_string(id) + "]";
      types[id] = kUnused;
      continue;
    }
    tokens[id] = it->second;
    if (auto a = added_special.find(id); a != added_special.end())
      types[id] = (a->second || looks_special(it->second)) ? kControl : kUserDefined;
  }

  std::vector<std::string> merges;
  if (f.tok["model"].contains("merges"))
    for (const json& m : f.tok["model"]["merges"]) {
      if (m.is_string()) merges.push_back(m.get<std::string>());
      else if (m.is_array() && m.size() == 2) merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      else fail(path, ": a merge is neither \"a b\" nor [\"a\", \"b\"]");
    }

  auto id_of = [&](const json& v) -> int64_t {
    std::string text = token_content(v);
    for (auto& [id, t] : by_id)
      if (t == text && !text.empty()) return id;
    return -1;
  };

  std::vector<std::pair<std::string, GgufValue>> kv;
  kv.emplace_back("tokenizer.ggml.model", GgufValue::string("gpt2"));
  kv.emplace_back("tokenizer.ggml.pre", GgufValue::string(detect_gguf_pre(path)));
  kv.emplace_back("tokenizer.ggml.tokens", GgufValue::strings(tokens));
  kv.emplace_back("tokenizer.ggml.token_type", GgufValue::i32s(types));
  kv.emplace_back("tokenizer.ggml.merges", GgufValue::strings(merges));
  const json& cfg = f.cfg;
  if (int64_t bos = cfg.contains("bos_token") ? id_of(cfg["bos_token"]) : -1; bos >= 0)
    kv.emplace_back("tokenizer.ggml.bos_token_id", GgufValue::u32(static_cast<uint32_t>(bos)));
  if (int64_t eos = cfg.contains("eos_token") ? id_of(cfg["eos_token"]) : -1; eos >= 0)
    kv.emplace_back("tokenizer.ggml.eos_token_id", GgufValue::u32(static_cast<uint32_t>(eos)));
  if (int64_t pad = cfg.contains("pad_token") ? id_of(cfg["pad_token"]) : -1; pad >= 0)
    kv.emplace_back("tokenizer.ggml.padding_token_id", GgufValue::u32(static_cast<uint32_t>(pad)));
  kv.emplace_back("tokenizer.ggml.add_bos_token", GgufValue::boolean(cfg.value("add_bos_token", false)));
  kv.emplace_back("tokenizer.ggml.add_eos_token", GgufValue::boolean(cfg.value("add_eos_token", false)));
  if (cfg.contains("chat_template") && cfg["chat_template"].is_string())
    kv.emplace_back("tokenizer.chat_template", GgufValue::string(cfg["chat_template"].get<std::string>()));
  return kv;
}

}  // namespace r1
