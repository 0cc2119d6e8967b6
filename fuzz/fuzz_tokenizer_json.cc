// libFuzzer target: the input is split at its first NUL byte. The part before it is loaded as a
// tokenizer.json (and, if that works, used to encode and decode the part after it); the part
// after it is also encoded with a small valid tokenizer (NFC, the DeepSeek-V3 split regexes,
// added tokens). Any outcome but success or r1::Error is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace {

// 256 byte tokens, a few merges, two added tokens.
std::string small_tokenizer_json() {
  std::string vocab;
  int next = 0x100;
  for (int b = 0; b < 256; ++b) {
    // Byte-level spelling of byte b, JSON-escaped as \uXXXX.
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    const int cp = printable ? b : next++;
    char buf[32];
    std::snprintf(buf, sizeof(buf), "\"\\u%04x\": %d,", cp, b);
    vocab += buf;
  }
  vocab += "\"\\u0120t\": 256, \"he\": 257, \"\\u0120the\": 258, \"\\u0120\\u0120\": 259";
  return R"({"added_tokens": [
      {"id": 260, "content": "<｜User｜>", "special": false, "normalized": false},
      {"id": 261, "content": "<｜end▁of▁sentence｜>", "special": true, "normalized": false}],
    "normalizer": {"type": "NFC"},
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}"}, "behavior": "Isolated", "invert": false},
      {"type": "Split", "pattern": {"Regex": " ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s+(?!\\S)|\\s+|[^\\s\\p{P}\\p{S}]+"},
       "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {)" +
         vocab + R"(}, "merges": ["\u0120 t", "h e", "\u0120t he", "\u0120 \u0120"]}})";
}

void exercise(const r1::Tokenizer& tok, std::string_view text) {
  const auto ids = tok.encode(text, true);
  const std::string back = tok.decode(ids, false);
  tok.decode(ids, true);
  if (!ids.empty()) tok.piece(ids.front());
  (void)back;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const r1::Tokenizer small = r1::Tokenizer::from_json(small_tokenizer_json(), "", "small");
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view json = input.substr(0, nul);
  const std::string_view text = nul == std::string_view::npos ? input : input.substr(nul + 1);
  exercise(small, text);
  // decode(encode(x)) == x for any bytes whose NFC form is itself (always true for ASCII).
  bool ascii = true;
  for (char c : text) ascii &= static_cast<uint8_t>(c) < 0x80 && c != 0;
  if (ascii && small.decode(small.encode(text, false)) != text) __builtin_trap();
  try {
    const r1::Tokenizer tok = r1::Tokenizer::from_json(json, "", "fuzz.json");
    exercise(tok, text);
  } catch (const r1::Error&) {
  }
  return 0;
}
