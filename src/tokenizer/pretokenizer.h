// Pre-tokenization: a sequence of regex Split steps (behaviour "Isolated": every match and every
// gap between matches becomes a piece), each applied to the pieces of the previous step, as
// Hugging Face tokenizers' Sequence[Split, ..., ByteLevel] does. Regexes are compiled with PCRE2
// in UTF + UCP mode, so \p{L}, \s, \w follow Unicode properties.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace r1 {

class PreTokenizer {
 public:
  PreTokenizer();
  ~PreTokenizer();
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;

  // Adds a split step. `literal` treats the pattern as a plain string (tokenizer.json
  // {"String": ...} patterns). Throws r1::Error naming `where` if the regex does not compile.
  void add_split(const std::string& pattern, bool literal, const std::string& where);
  size_t n_splits() const { return splits_.size(); }

  // Appends the non-empty pieces of `text` (valid UTF-8) to `out`, in order. The pieces point
  // into `text`.
  void split(std::string_view text, std::vector<std::string_view>& out) const;

 private:
  struct Regex;
  void split_from(size_t step, std::string_view text, std::vector<std::string_view>& out, void* match_data) const;
  std::vector<std::unique_ptr<Regex>> splits_;
};

// The split regexes llama.cpp associates with a GGUF `tokenizer.ggml.pre` name, transcribed from
// the tokenizer.json files they stand for. Throws r1::Error for a name this build does not know.
struct PreTokenizerPreset {
  std::vector<std::string> regexes;
  bool nfc = false;            // the tokenizer.json has an NFC normalizer
  bool ignore_merges = false;  // BPE returns a word as one token when the vocabulary has it whole
};
PreTokenizerPreset pretokenizer_preset(const std::string& pre);

}  // namespace r1
