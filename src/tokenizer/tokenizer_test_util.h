// Shared helpers of the tokenizer tests: test-data paths, JSONL vectors, the real vocabularies
// (loaded once per test binary), and the R1-Distill-Qwen and GGUF variants the tests build.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/gguf_vocab.h"
#include "tokenizer/tokenizer.h"

namespace r1::test {

std::string data_path(const std::string& relative);  // under tests/data
std::string node_path(const std::string& relative);  // under tools/node
std::string read_text(const std::string& path);
void write_text(const std::string& path, const std::string& text);

struct Vector {
  std::string text;
  std::vector<int32_t> ids;
};
std::vector<Vector> read_vectors(const std::string& jsonl_path);

// The npm tokenizer.json files (README §6) and the R1-Distill-Qwen variant of the Qwen file.
const std::string& deepseek_v3_json_path();
const std::string& qwen_json_path();
std::string r1_distill_qwen_json();  // tokenizer.json text: Qwen file with R1-Distill's added tokens
const Tokenizer& deepseek_v3();
const Tokenizer& qwen();
const Tokenizer& r1_distill_qwen();

// GGUF-style metadata for a tiny512 flavour, built from its tokenizer.json (README §2: BOS/EOS and
// the <｜…｜> role tokens are CONTROL, <think> / </think> USER_DEFINED).
GgufVocab tiny512_gguf_vocab(const std::string& flavour);

}  // namespace r1::test
