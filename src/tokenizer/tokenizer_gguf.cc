// Building a tokenizer from GGUF tokenizer metadata (GgufVocab). The pre-tokenizer regexes are
// not in the file: tokenizer.ggml.pre names them (pretokenizer_preset()).
#include <climits>

#include "core/error.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace r1 {

Tokenizer Tokenizer::from_gguf(const GgufVocab& v) {
  const std::string where = "GGUF tokenizer";
  if (v.model != "gpt2") fail(where, ": unsupported tokenizer.ggml.model \"", v.model, "\" (only gpt2, byte-level BPE)");
  if (v.tokens.empty()) fail(where, ": tokenizer.ggml.tokens is empty");
  if (v.tokens.size() > static_cast<size_t>(INT32_MAX)) fail(where, ": too many tokens");
  if (!v.token_types.empty() && v.token_types.size() != v.tokens.size())
    fail(where, ": tokenizer.ggml.token_type has ", v.token_types.size(), " entries for ", v.tokens.size(), " tokens");
  const PreTokenizerPreset preset = pretokenizer_preset(v.pre);

  auto m = std::make_unique<Impl>();
  m->nfc = preset.nfc;
  for (const std::string& r : preset.regexes) m->pre.add_split(r, false, where + " pre \"" + v.pre + "\"");

  // CONTROL and USER_DEFINED tokens are stored as plain text and matched whole before BPE; every
  // other token is a byte-level spelling.
  std::unordered_map<std::string, int32_t> by_bytes;
  by_bytes.reserve(v.tokens.size());
  m->pieces.resize(v.tokens.size());
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    const auto id = static_cast<int32_t>(i);
    const int32_t type = v.token_types.empty() ? kTokenNormal : v.token_types[i];
    if (type == kTokenControl || type == kTokenUserDefined) {
      m->added.push_back({id, v.tokens[i], type == kTokenControl, /*normalized=*/false, false, false});
      continue;
    }
    std::string bytes;
    if (!byte_level_decode(v.tokens[i], bytes)) bytes = v.tokens[i];
    m->pieces[i] = bytes;
    by_bytes.emplace(std::move(bytes), id);
  }
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(v.merges.size());
  for (size_t i = 0; i < v.merges.size(); ++i) {
    const std::string& s = v.merges[i];
    const size_t space = s.find(' ');
    if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
      fail(where, ": merge ", i, " \"", s, "\" is not two tokens separated by one space");
    std::string a, b;
    if (!byte_level_decode(s.substr(0, space), a)) a = s.substr(0, space);
    if (!byte_level_decode(s.substr(space + 1), b)) b = s.substr(space + 1);
    merges.emplace_back(std::move(a), std::move(b));
  }
  m->bpe = std::make_unique<Bpe>(std::move(by_bytes), merges, preset.ignore_merges, -1, where);

  const auto id_or_none = [&](int64_t id, const char* what) -> int32_t {
    if (id < 0) return -1;
    if (id >= static_cast<int64_t>(v.tokens.size())) fail(where, ": ", what, " ", id, " is out of range");
    return static_cast<int32_t>(id);
  };
  m->bos = id_or_none(v.bos_id, "tokenizer.ggml.bos_token_id");
  m->eos = id_or_none(v.eos_id, "tokenizer.ggml.eos_token_id");
  if (v.add_bos) {
    if (m->bos < 0) fail(where, ": add_bos_token is true but there is no bos_token_id");
    m->prefix.push_back(m->bos);
  }
  if (v.add_eos) {
    if (m->eos < 0) fail(where, ": add_eos_token is true but there is no eos_token_id");
    m->suffix.push_back(m->eos);
  }
  m->chat_template = v.chat_template;
  m->finish(where);
  return Tokenizer(std::move(m));
}

}  // namespace r1
