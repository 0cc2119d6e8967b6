// Byte-level BPE tokenizer (DeepSeek-V3/R1, Qwen2.5 / R1-Distill-Qwen, Llama-3 / R1-Distill-Llama),
// loaded from a Hugging Face tokenizer.json (+ tokenizer_config.json) or from GGUF metadata.
//
// encode(): added/special tokens are cut out first (longest match at each position, on the raw
// text for normalized=false tokens, then on the normalized text for normalized=true ones); the rest
// is NFC-normalized if the file says so, split by the pre-tokenizer regexes, and BPE-merged.
// Invalid UTF-8 in the input never fails: each maximal run of bytes that is not valid UTF-8 becomes
// its own piece and is encoded with the byte tokens, so decode(encode(s)) == s for any bytes.
//
// decode() returns the exact bytes of the tokens (byte-level tokens decoded, added tokens as their
// text); it may end inside a UTF-8 character, see StreamDecoder for incremental output.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/gguf_vocab.h"

namespace r1 {

class Tokenizer {
 public:
  // A tokenizer.json path, or a directory holding tokenizer.json; a tokenizer_config.json next to
  // it supplies add_bos_token / add_eos_token, bos_token / eos_token and chat_template.
  static Tokenizer from_file(const std::string& path);
  // The same from file contents; `config_json` may be empty. `where` names the source in errors.
  static Tokenizer from_json(std::string_view tokenizer_json, std::string_view config_json, const std::string& where);
  static Tokenizer from_gguf(const GgufVocab& vocab);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // add_special: add BOS/EOS as the tokenizer's config says (add_bos_token, or the post-processor's
  // template) -- but not a second BOS if the text already begins with the BOS token.
  std::vector<int32_t> encode(std::string_view text, bool add_special) const;
  // Throws r1::Error for an id outside [0, n_vocab()).
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;
  // The bytes of one token (what decode gives for it alone).
  const std::string& piece(int32_t id) const;

  int32_t n_vocab() const;
  int32_t bos_id() const;  // -1 if none
  int32_t eos_id() const;  // -1 if none
  std::optional<int32_t> token_id(std::string_view text) const;  // a token's exact text
  bool is_special(int32_t id) const;  // special added tokens (HF "special": true / GGUF CONTROL)
  const std::string& chat_template() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace r1
