// Loading a Hugging Face tokenizer.json (+ tokenizer_config.json). Only what byte-level BPE
// tokenizers use is accepted; any other component is an r1::Error naming it, so a tokenizer this
// code would get wrong is never used silently.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace r1 {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path.string(), ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json parse(std::string_view text, const std::string& where) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) fail(where, ": not valid JSON");
  if (!j.is_object()) fail(where, ": expected a JSON object at the top level");
  return j;
}

// Typed field access with errors that name the file and the field.
const json* field(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}
std::string get_string(const json& obj, const char* key, const std::string& where, const std::string& def = "") {
  const json* v = field(obj, key);
  if (!v) return def;
  if (!v->is_string()) fail(where, ": \"", key, "\" must be a string");
  return v->get<std::string>();
}
bool get_bool(const json& obj, const char* key, const std::string& where, bool def) {
  const json* v = field(obj, key);
  if (!v) return def;
  if (!v->is_boolean()) fail(where, ": \"", key, "\" must be true or false");
  return v->get<bool>();
}

// A vocabulary or merge string in byte-level spelling -> the bytes it stands for. A string that
// is not a byte-level spelling is kept as it is (HF's decoder does the same).
std::string token_bytes(const std::string& spelled) {
  std::string bytes;
  return byte_level_decode(spelled, bytes) ? bytes : spelled;
}

// Nested Sequences deeper than this are not real tokenizers; the limit keeps recursion bounded.
constexpr int kMaxNesting = 8;
// Ids above this are implausible for a vocabulary and would only make us allocate huge tables.
constexpr int64_t kMaxTokenId = 1 << 24;

void parse_normalizer(const json& n, bool& nfc, const std::string& where, int depth = 0) {
  if (depth > kMaxNesting) fail(where, ": normalizer Sequences nested too deeply");
  const std::string type = get_string(n, "type", where + " normalizer");
  if (type == "NFC") {
    nfc = true;
  } else if (type == "Sequence") {
    const json* list = field(n, "normalizers");
    if (!list || !list->is_array()) fail(where, ": normalizer Sequence without a \"normalizers\" list");
    for (const json& item : *list) parse_normalizer(item, nfc, where, depth + 1);
  } else {
    fail(where, ": unsupported normalizer \"", type, "\" (supported: NFC, Sequence, none)");
  }
}

void parse_pre_tokenizer(const json& p, PreTokenizer& pre, bool& byte_level, const std::string& where, int depth = 0) {
  if (depth > kMaxNesting) fail(where, ": pre_tokenizer Sequences nested too deeply");
  const std::string type = get_string(p, "type", where + " pre_tokenizer");
  if (type == "Sequence") {
    const json* list = field(p, "pretokenizers");
    if (!list || !list->is_array()) fail(where, ": pre_tokenizer Sequence without a \"pretokenizers\" list");
    for (const json& item : *list) parse_pre_tokenizer(item, pre, byte_level, where, depth + 1);
  } else if (type == "Split") {
    if (byte_level) fail(where, ": a Split pre-tokenizer after ByteLevel is not supported");
    const std::string behavior = get_string(p, "behavior", where, "Isolated");
    if (behavior != "Isolated") fail(where, ": unsupported Split behavior \"", behavior, "\" (supported: Isolated)");
    if (get_bool(p, "invert", where, false)) fail(where, ": Split with invert true is not supported");
    const json* pattern = field(p, "pattern");
    const json* regex = pattern ? field(*pattern, "Regex") : nullptr;
    const json* literal = pattern ? field(*pattern, "String") : nullptr;
    if (regex && regex->is_string()) {
      pre.add_split(regex->get<std::string>(), false, where + " Split regex");
    } else if (literal && literal->is_string()) {
      pre.add_split(literal->get<std::string>(), true, where + " Split string");
    } else {
      fail(where, ": Split needs a pattern {\"Regex\": ...} or {\"String\": ...}");
    }
  } else if (type == "ByteLevel") {
    if (get_bool(p, "add_prefix_space", where, false))
      fail(where, ": ByteLevel pre-tokenizer with add_prefix_space true is not supported");
    // use_regex true: ByteLevel first splits with GPT-2's regex.
    if (get_bool(p, "use_regex", where, true)) {
      for (const std::string& r : pretokenizer_preset("gpt-2").regexes) pre.add_split(r, false, where + " ByteLevel");
    }
    byte_level = true;
  } else {
    fail(where, ": unsupported pre_tokenizer \"", type, "\" (supported: Sequence, Split, ByteLevel)");
  }
}

// Appends the ids a post-processor adds before / after the text.
void parse_post_processor(const json& p, std::vector<int32_t>& prefix, std::vector<int32_t>& suffix,
                          const std::string& where, int depth = 0) {
  if (depth > kMaxNesting) fail(where, ": post_processor Sequences nested too deeply");
  const std::string type = get_string(p, "type", where + " post_processor");
  if (type == "ByteLevel") return;  // only adjusts offsets
  if (type == "Sequence") {
    const json* list = field(p, "processors");
    if (!list || !list->is_array()) fail(where, ": post_processor Sequence without a \"processors\" list");
    for (const json& item : *list) parse_post_processor(item, prefix, suffix, where, depth + 1);
    return;
  }
  if (type != "TemplateProcessing")
    fail(where, ": unsupported post_processor \"", type, "\" (supported: TemplateProcessing, ByteLevel, Sequence)");
  const json* single = field(p, "single");
  const json* specials = field(p, "special_tokens");
  if (!single || !single->is_array()) fail(where, ": TemplateProcessing without a \"single\" template");
  bool after_text = false;
  for (const json& item : *single) {
    if (field(item, "Sequence")) {
      after_text = true;
      continue;
    }
    const json* special = field(item, "SpecialToken");
    if (!special) fail(where, ": TemplateProcessing item is neither Sequence nor SpecialToken");
    const std::string name = get_string(*special, "id", where + " TemplateProcessing");
    const json* entry = specials ? field(*specials, name.c_str()) : nullptr;
    const json* ids = entry ? field(*entry, "ids") : nullptr;
    if (!ids || !ids->is_array()) fail(where, ": TemplateProcessing special token \"", name, "\" has no ids");
    for (const json& id : *ids) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= kMaxTokenId)
        fail(where, ": TemplateProcessing special token \"", name, "\" has an invalid id");
      (after_text ? suffix : prefix).push_back(id.get<int32_t>());
    }
  }
}

// tokenizer_config.json names tokens either as a string or as {"content": ...}.
std::string config_token(const json& config, const char* key, const std::string& where) {
  const json* v = field(config, key);
  if (!v) return "";
  if (v->is_string()) return v->get<std::string>();
  if (v->is_object()) return get_string(*v, "content", where + " " + key);
  fail(where, ": \"", key, "\" must be a string or an object with \"content\"");
}

std::string config_chat_template(const json& config, const std::string& where) {
  const json* v = field(config, "chat_template");
  if (!v) return "";
  if (v->is_string()) return v->get<std::string>();
  if (v->is_array()) {  // [{name, template}, ...]: the one named "default", else the first
    std::string first;
    for (const json& item : *v) {
      const std::string name = get_string(item, "name", where + " chat_template");
      const std::string text = get_string(item, "template", where + " chat_template");
      if (name == "default") return text;
      if (first.empty()) first = text;
    }
    return first;
  }
  fail(where, ": \"chat_template\" must be a string or a list of {name, template}");
}

}  // namespace

Tokenizer Tokenizer::from_json(std::string_view tokenizer_json, std::string_view config_json, const std::string& where) {
  const json root = parse(tokenizer_json, where);
  auto m = std::make_unique<Impl>();

  // Model: byte-level BPE.
  const json* model = field(root, "model");
  if (!model || !model->is_object()) fail(where, ": missing \"model\"");
  const std::string type = get_string(*model, "type", where + " model", "BPE");
  if (type != "BPE") fail(where, ": unsupported model type \"", type, "\" (only BPE)");
  if (get_bool(*model, "byte_fallback", where, false)) fail(where, ": BPE byte_fallback is not supported");
  if (const json* d = field(*model, "dropout"); d && !(d->is_number() && d->get<double>() == 0.0))
    fail(where, ": BPE dropout is not supported");
  if (!get_string(*model, "continuing_subword_prefix", where).empty() ||
      !get_string(*model, "end_of_word_suffix", where).empty())
    fail(where, ": BPE continuing_subword_prefix / end_of_word_suffix are not supported");

  const json* vocab = field(*model, "vocab");
  if (!vocab || !vocab->is_object()) fail(where, ": model.vocab must be an object");
  std::unordered_map<std::string, int32_t> by_bytes;
  by_bytes.reserve(vocab->size());
  for (const auto& [spelled, id_json] : vocab->items()) {
    if (!id_json.is_number_integer() || id_json.get<int64_t>() < 0 || id_json.get<int64_t>() >= kMaxTokenId)
      fail(where, ": vocab entry \"", spelled, "\" has an invalid id");
    const auto id = id_json.get<int32_t>();
    std::string bytes = token_bytes(spelled);
    if (static_cast<size_t>(id) >= m->pieces.size()) m->pieces.resize(static_cast<size_t>(id) + 1);
    m->pieces[id] = bytes;
    by_bytes.emplace(std::move(bytes), id);
  }

  std::vector<std::pair<std::string, std::string>> merges;
  if (const json* list = field(*model, "merges")) {
    if (!list->is_array()) fail(where, ": model.merges must be a list");
    merges.reserve(list->size());
    for (size_t i = 0; i < list->size(); ++i) {
      const json& item = (*list)[i];
      if (item.is_string()) {  // "left right"
        const std::string s = item.get<std::string>();
        const size_t space = s.find(' ');
        if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
          fail(where, ": merge ", i, " \"", s, "\" is not two tokens separated by one space");
        merges.emplace_back(token_bytes(s.substr(0, space)), token_bytes(s.substr(space + 1)));
      } else if (item.is_array() && item.size() == 2 && item[0].is_string() && item[1].is_string()) {
        merges.emplace_back(token_bytes(item[0].get<std::string>()), token_bytes(item[1].get<std::string>()));
      } else {
        fail(where, ": merge ", i, " must be \"a b\" or [\"a\", \"b\"]");
      }
    }
  }
  int32_t unk = -1;
  if (const std::string u = get_string(*model, "unk_token", where); !u.empty()) {
    const auto it = by_bytes.find(token_bytes(u));
    if (it == by_bytes.end()) fail(where, ": unk_token \"", u, "\" is not in the vocabulary");
    unk = it->second;
  }
  m->bpe = std::make_unique<Bpe>(std::move(by_bytes), merges, get_bool(*model, "ignore_merges", where, false), unk,
                                 where);

  // Added tokens.
  if (const json* list = field(root, "added_tokens")) {
    if (!list->is_array()) fail(where, ": added_tokens must be a list");
    for (const json& t : *list) {
      AddedToken a;
      const json* id = field(t, "id");
      if (!id || !id->is_number_integer() || id->get<int64_t>() < 0 || id->get<int64_t>() >= kMaxTokenId)
        fail(where, ": an added token has no valid \"id\"");
      a.id = id->get<int32_t>();
      a.content = get_string(t, "content", where + " added token");
      a.special = get_bool(t, "special", where, false);
      a.normalized = get_bool(t, "normalized", where, !a.special);
      a.lstrip = get_bool(t, "lstrip", where, false);
      a.rstrip = get_bool(t, "rstrip", where, false);
      if (get_bool(t, "single_word", where, false))
        fail(where, ": added token \"", a.content, "\" uses single_word, which is not supported");
      m->added.push_back(std::move(a));
    }
  }

  if (const json* n = field(root, "normalizer")) parse_normalizer(*n, m->nfc, where);
  bool byte_level = false;
  if (const json* p = field(root, "pre_tokenizer")) parse_pre_tokenizer(*p, m->pre, byte_level, where);
  if (const json* d = field(root, "decoder")) {
    const std::string dtype = get_string(*d, "type", where + " decoder");
    if (dtype != "ByteLevel") fail(where, ": unsupported decoder \"", dtype, "\" (only ByteLevel)");
    byte_level = true;
  }
  if (!byte_level) fail(where, ": not a byte-level BPE tokenizer (no ByteLevel pre-tokenizer or decoder)");
  if (const json* p = field(root, "post_processor")) parse_post_processor(*p, m->prefix, m->suffix, where);
  m->finish(where);

  // tokenizer_config.json: names BOS / EOS, and as in transformers' LlamaTokenizerFast its
  // add_bos_token / add_eos_token decide what encode(add_special) adds.
  Tokenizer tok(std::move(m));
  Impl& impl = *tok.impl_;
  if (impl.prefix.size() == 1) impl.bos = impl.prefix[0];
  if (!config_json.empty()) {
    const std::string cwhere = where + " (tokenizer_config.json)";
    const json config = parse(config_json, cwhere);
    const auto resolve = [&](const char* key) -> int32_t {
      const std::string text = config_token(config, key, cwhere);
      if (text.empty()) return -1;
      const auto id = tok.token_id(text);
      if (!id) fail(cwhere, ": ", key, " \"", text, "\" is not a token of the vocabulary");
      return *id;
    };
    if (const int32_t bos = resolve("bos_token"); bos >= 0) impl.bos = bos;
    impl.eos = resolve("eos_token");
    if (field(config, "add_bos_token") || field(config, "add_eos_token")) {
      impl.prefix.clear();
      impl.suffix.clear();
      if (get_bool(config, "add_bos_token", cwhere, false)) {
        if (impl.bos < 0) fail(cwhere, ": add_bos_token is true but there is no bos_token");
        impl.prefix.push_back(impl.bos);
      }
      if (get_bool(config, "add_eos_token", cwhere, false)) {
        if (impl.eos < 0) fail(cwhere, ": add_eos_token is true but there is no eos_token");
        impl.suffix.push_back(impl.eos);
      }
    }
    impl.chat_template = config_chat_template(config, cwhere);
  }
  return tok;
}

Tokenizer Tokenizer::from_file(const std::string& path) {
  fs::path file = path;
  std::error_code ec;
  if (fs::is_directory(file, ec)) file /= "tokenizer.json";
  if (!fs::exists(file, ec)) fail(file.string(), ": no such file");
  const fs::path config = file.parent_path() / "tokenizer_config.json";
  const std::string config_text = fs::exists(config, ec) ? read_file(config) : std::string();
  return from_json(read_file(file), config_text, file.string());
}

}  // namespace r1
