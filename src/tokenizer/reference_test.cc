// Our encoder vs the reference @huggingface/tokenizers (Node, tools/node/encode.mjs) on a
// deterministic corpus of > 2,000 varied strings, for the real DeepSeek-V3, Qwen and
// R1-Distill-Qwen vocabularies. Node and tools/node/node_modules are installed by
// scripts/setup.sh; their absence fails the test.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <random>

#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_test_util.h"
#include "tokenizer/unicode.h"

namespace r1 {
namespace {

using nlohmann::json;

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// The first bytes of s, at most n, cut at a character boundary.
std::string head(const std::string& s, size_t n) { return s.substr(0, utf8_valid_prefix(s.substr(0, n))); }

// The corpus: seed snippets of many kinds, then seeded random recombinations and generators.
std::vector<std::string> make_corpus() {
  const std::vector<std::string> prose = {
      "The quick brown fox jumps over the lazy dog.", "It's a truth universally acknowledged; we'll see, they'd say.",
      "我们今天去公园散步，天气很好。", "日本語のテキストとカタカナ、ひらがな。ｶﾀｶﾅ", "한국어 문장입니다. ᄒᆞᆫ글",
      "مرحبا بالعالم، كَيْفَ حَالُكَ؟", "שלום עולם, מה שלומך?", "Привет, мир! Ёлки-палки.", "Γειά σου Κόσμε· ἀρχὴ",
      "नमस्ते दुनिया, आप कैसे हैं?", "สวัสดีชาวโลก ภาษาไทย", "Xin chào thế giới, Tiếng Việt có dấu.",
      "Größe, Straße, Äpfel und Öl.", "Ça va? Déjà vu, naïve café.", "¿Dónde está la biblioteca? ¡Olé!",
      "İstanbul'da ığdır şehri.", "გამარჯობა მსოფლიო", "Բարեւ աշխարհ", "ሰላም ልዑል", "ᚠᚢᚦᚨᚱᚲ runes",
      "Persian: سلام دنیا، چطوری؟", "Ελληνικά και English mixed 混合 text", "𠀀𠀁𠀂 CJK Ext-B 𪜀"};
  const std::vector<std::string> code = {
      "def f(x):\n    return x**2 + 1\n", "int main(void) { printf(\"%d\\n\", 42); return 0; }",
      "const add = (a, b) => a + b; // JS", "fn main() { let v: Vec<u8> = vec![1, 2, 3]; }",
      "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;", "<div class=\"x\">Hello &amp; bye</div>",
      "{\"key\": [1, 2.5, null, true], \"nested\": {\"a\": \"b\"}}", "for i in $(seq 1 10); do echo $i; done",
      "\\frac{a}{b} + \\sum_{i=0}^{n} x_i^2", "^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+)$", "key: value\nlist:\n  - a\n  - b\n",
      "# Title\n\n* item **bold** _it_ `code`\n", "@@ -1,3 +1,4 @@\n-old\n+new\n", "x+=1;y-=2;z*=3;w/=4;",
      "~~strike~~ and ``quote'' and --flag=value", "public static void main(String[] args) {}",
      "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"hi\") }"};
  const std::vector<std::string> emoji = {
      "😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇯🇵🇺🇸", "1️⃣", "❤️", "🧑🏿‍💻", "🤷‍♀️", "☕", "🫠", "✈️"};
  const std::vector<std::string> spaces = {" ",      "  ",     "\t",     "\n",     "\r\n",   "\r",     "\n\n\n",
                                           "\u00a0", "\u3000", "\u2009", "\u200b", "\u2028", "\ufeff", " \t \n"};
  const std::vector<std::string> specials = {
      "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<think>", "</think>",
      "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<tool_call>", "<｜tool▁calls▁begin｜>", "<|EOT|>",
      "< think >", "<|User|>", "<think", "｜>", "<｜place▁holder▁no▁5｜>", "<｜fim▁hole｜>"};
  const std::vector<std::pair<uint32_t, uint32_t>> ranges = {
      {0x20, 0x7E},     {0xA0, 0xFF},     {0x100, 0x24F},   {0x300, 0x36F},   {0x370, 0x3FF},   {0x400, 0x4FF},
      {0x590, 0x5FF},   {0x600, 0x6FF},   {0x900, 0x97F},   {0xE00, 0xE7F},   {0x1100, 0x11FF}, {0x2000, 0x206F},
      {0x2190, 0x22FF}, {0x3040, 0x30FF}, {0x4E00, 0x9FA5}, {0xAC00, 0xD7A3}, {0xFF00, 0xFFEF}, {0x1F300, 0x1F64F},
      {0x1D400, 0x1D4FF}, {0x20000, 0x2A6D6}};

  std::mt19937_64 rng(20250120);
  const auto pick = [&](const std::vector<std::string>& v) -> const std::string& { return v[rng() % v.size()]; };
  const auto digits = [&](size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) s += static_cast<char>('0' + rng() % 10);
    return s;
  };
  std::vector<std::string> corpus;
  for (const auto* list : {&prose, &code, &emoji, &spaces, &specials})
    corpus.insert(corpus.end(), list->begin(), list->end());
  for (int i = 0; i < 400; ++i) {  // recombined prose / code / emoji / whitespace / special text
    std::string s;
    const int parts = 2 + static_cast<int>(rng() % 5);
    for (int p = 0; p < parts; ++p) {
      switch (rng() % 6) {
        case 0: s += pick(prose); break;
        case 1: s += pick(code); break;
        case 2: s += pick(emoji); break;
        case 3: s += pick(spaces); break;
        case 4: s += pick(specials); break;
        default: s += digits(1 + rng() % 12); break;
      }
    }
    corpus.push_back(s);
  }
  for (int i = 0; i < 300; ++i) {  // numbers: long digit runs, decimals, separators, currencies
    const std::vector<std::string> forms = {digits(1 + rng() % 40), digits(3) + "," + digits(3) + "," + digits(3),
                                            digits(2) + "." + digits(5), "$" + digits(4) + ".99",
                                            "v" + digits(1) + "." + digits(2) + "." + digits(1),
                                            digits(3) + "-" + digits(3) + "-" + digits(4), "１２３" + digits(2),
                                            "٣٤٥" + digits(2), "x²+y₃=" + digits(2) + "½"};
    corpus.push_back(pick(forms) + (rng() % 2 ? " " + head(pick(prose), 12) : ""));
  }
  for (int i = 0; i < 500; ++i) {  // random code points from many blocks
    std::string s;
    const size_t n = 1 + rng() % 30;
    for (size_t k = 0; k < n; ++k) {
      const auto& [lo, hi] = ranges[rng() % ranges.size()];
      s += utf8(lo + static_cast<uint32_t>(rng() % (hi - lo + 1)));
    }
    corpus.push_back(s);
  }
  for (int i = 0; i < 300; ++i) {  // whitespace runs around words
    std::string s;
    const int parts = 1 + static_cast<int>(rng() % 8);
    for (int p = 0; p < parts; ++p) s += rng() % 2 ? pick(spaces) : std::string(1 + rng() % 4, "ab .'"[rng() % 5]);
    corpus.push_back(s);
  }
  for (int i = 0; i < 150; ++i) {  // surrogate escapes as plain text, contractions, case
    const std::vector<std::string> forms = {"\\ud83d\\ude00", "\\uD800 lone", "'S 'LL 'Re 'd", "DON'T won't",
                                            "ＡＢＣ ａｂｃ", "ﬁne ﬂow", "A\u030a vs \u00c5 vs \u212b",
                                            "e\u0301\u0301\u0301 zalgo\u0336\u0337"};
    corpus.push_back(pick(forms) + head(pick(prose), rng() % 20));
  }
  for (int i = 0; i < 300; ++i) {  // long runs
    corpus.push_back(std::string(60 + rng() % 90, "a=-_ 9*."[rng() % 8]) + pick(emoji));
  }
  return corpus;
}

// Runs the Node reference on `texts` with the given tokenizer.json. Files are per name: ctest runs
// these tests in parallel.
std::vector<std::vector<int32_t>> node_encode(const std::string& tokenizer_json, const std::vector<std::string>& texts,
                                              const std::string& name) {
  const std::string dir = std::string(R1_BINARY_DIR) + "/tokenizer_reference_test";
  std::filesystem::create_directories(dir);
  const std::string in = dir + "/texts_" + name + ".json", out = dir + "/ids_" + name + ".json";
  test::write_text(in, json(texts).dump());
  const std::string cmd = "node '" + test::node_path("encode.mjs") + "' '" + tokenizer_json + "' '" + in + "' > '" +
                          out + "'";
  const int rc = std::system(cmd.c_str());
  if (rc != 0) ADD_FAILURE() << "the Node reference failed (exit " << rc << "): " << cmd;
  if (rc != 0) return {};
  return json::parse(test::read_text(out)).get<std::vector<std::vector<int32_t>>>();
}

void compare(const Tokenizer& tok, const std::string& tokenizer_json, const std::string& name) {
  const auto corpus = make_corpus();
  ASSERT_GE(corpus.size(), 2000u);
  const auto want = node_encode(tokenizer_json, corpus, name);
  ASSERT_EQ(want.size(), corpus.size());
  int bad = 0;
  for (size_t i = 0; i < corpus.size(); ++i) {
    if (tok.encode(corpus[i], false) != want[i] && ++bad <= 5) ADD_FAILURE() << name << ": \"" << corpus[i] << "\"";
  }
  EXPECT_EQ(bad, 0) << name << ": " << bad << " of " << corpus.size() << " strings differ";
}

TEST(NodeReference, NodeAndPackagesAreInstalled) {
  ASSERT_EQ(std::system("node --version > /dev/null"), 0) << "node is not on PATH (scripts/setup.sh installs it)";
  ASSERT_TRUE(std::filesystem::exists(test::node_path("node_modules/@huggingface/tokenizers")))
      << "tools/node/node_modules is missing (scripts/setup.sh installs it)";
}

TEST(NodeReference, DeepSeekV3) { compare(test::deepseek_v3(), test::deepseek_v3_json_path(), "deepseek-v3"); }

TEST(NodeReference, Qwen) { compare(test::qwen(), test::qwen_json_path(), "qwen"); }

TEST(NodeReference, R1DistillQwen) {
  const std::string path = std::string(R1_BINARY_DIR) + "/tokenizer_reference_test/r1_distill_qwen.json";
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  test::write_text(path, test::r1_distill_qwen_json());
  compare(test::r1_distill_qwen(), path, "r1-distill-qwen");
}

}  // namespace
}  // namespace r1
