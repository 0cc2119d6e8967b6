// Finds added tokens (special tokens, <think>, role markers) in text: at the leftmost position
// where any token matches, the longest one wins, as Hugging Face tokenizers match them.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace r1 {

class AddedTokenMatcher {
 public:
  // lstrip / rstrip: the match also swallows the whitespace before / after the token.
  void add(const std::string& content, int32_t id, bool lstrip, bool rstrip);
  bool empty() const { return by_text_.empty(); }

  struct Match {
    size_t begin = 0, end = 0;  // the span to replace by the token (includes stripped whitespace)
    int32_t id = -1;
  };
  // The first match in text[from..], or id -1 if none.
  Match find(std::string_view text, size_t from) const;

 private:
  struct Entry {
    int32_t id;
    bool lstrip, rstrip;
  };
  struct StringHash {  // lets the map be searched with a string_view without a copy
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  std::unordered_map<std::string, Entry, StringHash, std::equal_to<>> by_text_;
  std::vector<size_t> lengths_;  // distinct token lengths, longest first
  bool first_byte_[256] = {};
};

}  // namespace r1
