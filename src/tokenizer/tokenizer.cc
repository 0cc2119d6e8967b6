#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "core/error.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace r1 {

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

void Tokenizer::Impl::finish(const std::string& where) {
  for (const AddedToken& t : added) {
    if (t.id < 0) fail(where, ": added token \"", t.content, "\" has a negative id");
    if (static_cast<size_t>(t.id) >= pieces.size()) pieces.resize(static_cast<size_t>(t.id) + 1);
    pieces[t.id] = t.content;
  }
  special.assign(pieces.size(), 0);
  for (const AddedToken& t : added) {
    special[t.id] = t.special;
    added_ids[t.content] = t.id;
    (t.normalized ? normalized_added : raw_added).add(t.content, t.id, t.lstrip, t.rstrip);
  }
  const auto check = [&](int32_t id, const char* what) {
    if (id < -1 || id >= static_cast<int32_t>(pieces.size())) fail(where, ": ", what, " id ", id, " is out of range");
  };
  check(bos, "BOS");
  check(eos, "EOS");
  for (int32_t id : prefix) check(id < 0 ? -2 : id, "post-processor token");
  for (int32_t id : suffix) check(id < 0 ? -2 : id, "post-processor token");
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special) const {
  const Impl& m = *impl_;
  std::vector<int32_t> body;
  body.reserve(text.size() / 3 + 4);
  // Added tokens that match on the raw text come first; everything between them is ordinary text.
  size_t pos = 0;
  while (pos < text.size()) {
    const auto match = m.raw_added.find(text, pos);
    if (match.id < 0) break;
    m.encode_segment(text.substr(pos, match.begin - pos), body);
    body.push_back(match.id);
    pos = match.end;
  }
  m.encode_segment(text.substr(pos), body);
  if (!add_special) return body;

  std::vector<int32_t> ids;
  ids.reserve(body.size() + m.prefix.size() + m.suffix.size());
  const bool has_prefix =
      body.size() >= m.prefix.size() && std::equal(m.prefix.begin(), m.prefix.end(), body.begin());
  if (!has_prefix) ids = m.prefix;  // never a second BOS when the text already starts with it
  ids.insert(ids.end(), body.begin(), body.end());
  ids.insert(ids.end(), m.suffix.begin(), m.suffix.end());
  return ids;
}

// Any bytes: valid UTF-8 runs go through normalization and pre-tokenization; each run of invalid
// bytes is one word of byte tokens.
void Tokenizer::Impl::encode_segment(std::string_view text, std::vector<int32_t>& out) const {
  while (!text.empty()) {
    const size_t valid = utf8_valid_prefix(text);
    if (valid > 0) encode_valid(text.substr(0, valid), out);
    size_t bad = valid;
    while (bad < text.size() && utf8_sequence_length(text, bad) == 0) ++bad;
    if (bad > valid) bpe->encode_word(text.substr(valid, bad - valid), out);
    text.remove_prefix(bad);
  }
}

// Normalizes, then cuts out the added tokens that match on normalized text (as HF: a second pass).
void Tokenizer::Impl::encode_valid(std::string_view text, std::vector<int32_t>& out) const {
  std::string normalized;
  if (nfc) normalized = r1::nfc(text);
  std::string_view rest = nfc ? std::string_view(normalized) : text;
  while (!rest.empty()) {
    const auto match = normalized_added.find(rest, 0);
    if (match.id < 0) break;
    encode_words(rest.substr(0, match.begin), out);
    out.push_back(match.id);
    rest.remove_prefix(match.end);
  }
  encode_words(rest, out);
}

void Tokenizer::Impl::encode_words(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  thread_local std::vector<std::string_view> words;
  words.clear();
  pre.split(text, words);
  for (std::string_view w : words) bpe->encode_word(w, out);
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string text;
  for (int32_t id : ids) {
    if (skip_special && is_special(id)) continue;
    text += piece(id);
  }
  return text;
}

const std::string& Tokenizer::piece(int32_t id) const {
  if (id < 0 || id >= n_vocab()) fail("token id ", id, " is out of range (vocabulary has ", n_vocab(), " ids)");
  return impl_->pieces[id];
}

int32_t Tokenizer::n_vocab() const { return static_cast<int32_t>(impl_->pieces.size()); }
int32_t Tokenizer::bos_id() const { return impl_->bos; }
int32_t Tokenizer::eos_id() const { return impl_->eos; }
const std::string& Tokenizer::chat_template() const { return impl_->chat_template; }

bool Tokenizer::is_special(int32_t id) const {
  if (id < 0 || id >= n_vocab()) fail("token id ", id, " is out of range (vocabulary has ", n_vocab(), " ids)");
  return impl_->special[id] != 0;
}

std::optional<int32_t> Tokenizer::token_id(std::string_view text) const {
  if (const auto it = impl_->added_ids.find(std::string(text)); it != impl_->added_ids.end()) return it->second;
  if (const int32_t id = impl_->bpe->find(text); id >= 0) return id;
  return std::nullopt;
}

}  // namespace r1
