// The tokenizer part of a GGUF file's metadata (tokenizer.ggml.* keys), in a neutral struct: the
// model loader fills it, Tokenizer::from_gguf() builds a tokenizer from it. Token strings are as
// GGUF stores them: byte-level spelling for ordinary tokens, plain text for CONTROL / USER_DEFINED.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace r1 {

// llama.cpp's token types (tokenizer.ggml.token_type values).
enum GgufTokenType : int32_t {
  kTokenNormal = 1,
  kTokenUnknown = 2,
  kTokenControl = 3,      // special: matched as whole text before BPE, skipped when decoding with skip_special
  kTokenUserDefined = 4,  // added token: matched as whole text before BPE
  kTokenUnused = 5,
  kTokenByte = 6,
};

struct GgufVocab {
  std::string model;  // tokenizer.ggml.model; only "gpt2" (byte-level BPE) is supported
  std::string pre;    // tokenizer.ggml.pre: "deepseek-v3", "qwen2", "llama-bpe", ...
  std::vector<std::string> tokens;
  std::vector<int32_t> token_types;  // empty = all normal
  std::vector<std::string> merges;   // "left right", rank order
  int64_t bos_id = -1, eos_id = -1, pad_id = -1;
  bool add_bos = false, add_eos = false;
  std::string chat_template;
};

}  // namespace r1
