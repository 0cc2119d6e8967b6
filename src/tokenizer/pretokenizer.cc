#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pretokenizer.h"

#include <pcre2.h>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace r1 {

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;
  ~Regex() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer() = default;
PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

void PreTokenizer::add_split(const std::string& pattern, bool literal, const std::string& where) {
  // Steps recurse one level each; real tokenizers use one to three.
  if (splits_.size() >= 32) fail(where, ": more than 32 Split steps");
  // DOLLAR_ENDONLY: "$" means the end of the piece, as in JavaScript and Rust regex engines.
  uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY;
  if (literal) options |= PCRE2_LITERAL;
  int error = 0;
  PCRE2_SIZE offset = 0;
  auto regex = std::make_unique<Regex>();
  regex->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &error,
                              &offset, nullptr);
  if (!regex->code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    fail(where, ": cannot compile split regex at offset ", offset, ": ", reinterpret_cast<const char*>(message));
  }
  pcre2_jit_compile(regex->code, PCRE2_JIT_COMPLETE);  // optional speed-up; falls back to the interpreter
  splits_.push_back(std::move(regex));
}

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& out) const {
  if (text.empty()) return;
  if (splits_.empty()) {
    out.push_back(text);
    return;
  }
  // One match-data block serves every step: each match's offsets are read before the next.
  pcre2_match_data* md = pcre2_match_data_create(4, nullptr);
  if (!md) fail("out of memory in pre-tokenizer");
  try {
    split_from(0, text, out, md);
  } catch (...) {
    pcre2_match_data_free(md);
    throw;
  }
  pcre2_match_data_free(md);
}

void PreTokenizer::split_from(size_t step, std::string_view text, std::vector<std::string_view>& out,
                              void* match_data) const {
  if (step == splits_.size()) {
    out.push_back(text);
    return;
  }
  auto* md = static_cast<pcre2_match_data*>(match_data);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t gap_start = 0, pos = 0;
  while (pos <= text.size()) {
    const int rc = pcre2_match(splits_[step]->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) fail("pre-tokenizer regex failed (PCRE2 error ", rc, ")");
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t begin = ov[0], end = ov[1];
    if (end == begin) {  // an empty match splits nothing; step over one character
      if (begin >= text.size()) break;
      const size_t len = utf8_sequence_length(text, begin);
      pos = begin + (len ? len : 1);
      continue;
    }
    if (begin > gap_start) split_from(step + 1, text.substr(gap_start, begin - gap_start), out, md);
    split_from(step + 1, text.substr(begin, end - begin), out, md);
    gap_start = pos = end;
  }
  if (gap_start < text.size()) split_from(step + 1, text.substr(gap_start), out, md);
}

namespace {

// Regexes of the tokenizer.json files behind each llama.cpp pre-tokenizer name.
const char* const kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
const char* const kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kDeepSeekV3[] = {
    R"(\p{N}{1,3})",
    "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
    ("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
     "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"),
};
// DeepSeek-LLM (V1/V2 vocabularies): letters of cased scripts, ASCII/full-width punctuation,
// trailing whitespace, CJK + Hangul runs, digit runs.
const char* const kDeepSeekLlm[] = {
    "[\r\n]",
    ("\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373"
     "\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f"
     "\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77"
     "\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d"
     "\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4"
     "\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139"
     "\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d"
     "\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a"
     "\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010c80-\U00010cb2"
     "\U00010cc0-\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943]+"),
    "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+",
    "\\s+$",
    "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+",
    "\\p{N}+",
};

}  // namespace

PreTokenizerPreset pretokenizer_preset(const std::string& pre) {
  if (pre == "deepseek-v3") return {{std::begin(kDeepSeekV3), std::end(kDeepSeekV3)}, false, false};
  if (pre == "qwen2" || pre == "deepseek-r1-qwen") return {{kQwen2}, true, false};
  if (pre == "llama-bpe" || pre == "llama3") return {{kLlama3}, false, true};
  if (pre == "deepseek-llm") return {{std::begin(kDeepSeekLlm), std::end(kDeepSeekLlm)}, false, false};
  if (pre == "gpt-2" || pre == "default") return {{kGpt2}, false, false};
  fail("unsupported tokenizer.ggml.pre \"", pre,
       "\" (known: deepseek-v3, qwen2, deepseek-r1-qwen, llama-bpe, llama3, deepseek-llm, gpt-2, default)");
}

}  // namespace r1
