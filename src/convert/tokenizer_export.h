// The tokenizer of an exported model: GGUF's tokenizer.ggml.* keys made from a HF tokenizer.json
// (and the tokenizer_config.json beside it), as llama.cpp's converter writes them.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "io/gguf.h"

namespace r1 {

// n_vocab: embedding rows; the token list is padded with "[PAD<id>]" (type UNUSED) up to it.
std::vector<std::pair<std::string, GgufValue>> gguf_tokenizer_kv(const std::string& tokenizer_json_path,
                                                                 int64_t n_vocab);
// The GGUF pre-tokenizer name ("deepseek-v3", "qwen2", "llama-bpe") that matches the regexes of a
// tokenizer.json; throws if none does.
std::string detect_gguf_pre(const std::string& tokenizer_json_path);
// Number of tokens (BPE vocab + added tokens, i.e. max id + 1) in a tokenizer.json.
int64_t tokenizer_json_size(const std::string& tokenizer_json_path);

}  // namespace r1
