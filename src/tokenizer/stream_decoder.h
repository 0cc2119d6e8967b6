// Incremental detokenization for streaming output: tokens arrive one at a time, and a UTF-8
// character may be split across tokens (byte tokens of an emoji, a CJK character). push() returns
// only complete characters; the bytes of an unfinished character wait for the next token.
// Bytes that can never form a valid character are replaced by U+FFFD, so the output is always
// valid UTF-8.
#pragma once
#include <cstdint>
#include <string>

#include "tokenizer/tokenizer.h"

namespace r1 {

class StreamDecoder {
 public:
  // skip_special: special tokens (BOS, EOS, ...) produce no text.
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = false)
      : tokenizer_(tokenizer), skip_special_(skip_special) {}

  // The text completed by this token (possibly empty). Throws r1::Error for an invalid id.
  std::string push(int32_t id);
  // The end of the stream: returns what is still pending (an unfinished character becomes U+FFFD).
  std::string flush();

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  std::string pending_;
};

}  // namespace r1
