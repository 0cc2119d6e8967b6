// Tokenizer internals shared by the loaders (tokenizer_json.cc, tokenizer_gguf.cc) and the
// encoder/decoder (tokenizer.cc). Not part of the public API.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace r1 {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;
  bool normalized = false;  // matched after normalization (else on the raw text)
  bool lstrip = false, rstrip = false;
};

struct Tokenizer::Impl {
  // What a loader fills in; then finish() builds the lookup structures.
  std::unique_ptr<Bpe> bpe;
  std::vector<std::string> pieces;  // bytes of each id's token ("" for ids nobody defines)
  std::vector<AddedToken> added;
  bool nfc = false;
  PreTokenizer pre;
  std::vector<int32_t> prefix, suffix;  // added around the text when add_special
  int32_t bos = -1, eos = -1;
  std::string chat_template;

  // Built by finish().
  std::vector<uint8_t> special;  // per id
  AddedTokenMatcher raw_added, normalized_added;
  std::unordered_map<std::string, int32_t> added_ids;

  void finish(const std::string& where);
  void encode_segment(std::string_view text, std::vector<int32_t>& out) const;
  void encode_valid(std::string_view text, std::vector<int32_t>& out) const;
  void encode_words(std::string_view text, std::vector<int32_t>& out) const;
};

}  // namespace r1
