#include "tokenizer/added_tokens.h"

#include <algorithm>

namespace r1 {

namespace {
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
}  // namespace

void AddedTokenMatcher::add(const std::string& content, int32_t id, bool lstrip, bool rstrip) {
  if (content.empty()) return;  // an empty token can never be matched
  by_text_[content] = Entry{id, lstrip, rstrip};
  first_byte_[static_cast<uint8_t>(content[0])] = true;
  if (std::find(lengths_.begin(), lengths_.end(), content.size()) == lengths_.end()) {
    lengths_.push_back(content.size());
    std::sort(lengths_.rbegin(), lengths_.rend());
  }
}

AddedTokenMatcher::Match AddedTokenMatcher::find(std::string_view text, size_t from) const {
  for (size_t pos = from; pos < text.size(); ++pos) {
    if (!first_byte_[static_cast<uint8_t>(text[pos])]) continue;
    for (size_t len : lengths_) {
      if (len > text.size() - pos) continue;
      const auto it = by_text_.find(text.substr(pos, len));
      if (it == by_text_.end()) continue;
      Match m{pos, pos + len, it->second.id};
      if (it->second.lstrip)
        while (m.begin > from && is_space(text[m.begin - 1])) --m.begin;
      if (it->second.rstrip)
        while (m.end < text.size() && is_space(text[m.end])) ++m.end;
      return m;
    }
  }
  return {};
}

}  // namespace r1
