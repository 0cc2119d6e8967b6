#include "tokenizer/stream_decoder.h"

#include "tokenizer/unicode.h"

namespace r1 {

namespace {
constexpr const char* kReplacement = "\xEF\xBF\xBD";  // U+FFFD
}

std::string StreamDecoder::push(int32_t id) {
  const std::string& piece = tokenizer_.piece(id);  // checks the id
  if (skip_special_ && tokenizer_.is_special(id)) return "";
  pending_ += piece;
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    const size_t len = utf8_sequence_length(pending_, i);
    if (len > 0) {
      out.append(pending_, i, len);
      i += len;
    } else if (utf8_incomplete_tail(pending_, i)) {
      break;  // the next token may complete this character
    } else {
      out += kReplacement;
      ++i;
    }
  }
  pending_.erase(0, i);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    const size_t len = utf8_sequence_length(pending_, i);
    if (len > 0) {
      out.append(pending_, i, len);
      i += len;
    } else {
      // An unfinished character is one replacement, as a UTF-8 decoder reports a truncated one.
      out += kReplacement;
      i += utf8_incomplete_tail(pending_, i) ? pending_.size() - i : 1;
    }
  }
  pending_.clear();
  return out;
}

}  // namespace r1
