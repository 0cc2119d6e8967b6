// Loading a model's tokenizer without its weights: from a GGUF's tokenizer.ggml.* keys, or from a
// tokenizer.json (a file, or a directory holding one, such as a HF model directory).
#pragma once
#include <string>

#include "tokenizer/gguf_vocab.h"
#include "tokenizer/tokenizer.h"

namespace r1 {

class GgufFile;

GgufVocab read_gguf_vocab(const GgufFile& f);
// path: a .gguf file, a tokenizer.json, or a directory that holds tokenizer.json.
Tokenizer load_tokenizer(const std::string& path);

}  // namespace r1
