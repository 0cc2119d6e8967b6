// Encoding speed: r1_tokenizer_bench TOKENIZER_JSON TEXT_FILE [repeats]
// Prints MB/s and tokens/s of the best of `repeats` runs (first run warms the word cache too, as
// the Node reference's does). Compare with: node tools/node/encode.mjs TOKENIZER_JSON TEXT_FILE --bench N
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s TOKENIZER_JSON TEXT_FILE [repeats]\n", argv[0]);
    return 2;
  }
  try {
    const auto t0 = std::chrono::steady_clock::now();
    const r1::Tokenizer tok = r1::Tokenizer::from_file(argv[1]);
    const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::ifstream in(argv[2], std::ios::binary);
    if (!in) r1::fail(argv[2], ": cannot open");
    std::ostringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    const int repeats = argc > 3 ? std::atoi(argv[3]) : 3;
    double best = 1e30;
    size_t tokens = 0;
    for (int i = 0; i < repeats; ++i) {
      const auto start = std::chrono::steady_clock::now();
      tokens = tok.encode(text, false).size();
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::printf("load %.2f s; %zu bytes -> %zu tokens in %.3f s: %.2f MB/s, %.0f tokens/s\n", load_s, text.size(),
                tokens, best, text.size() / best / 1e6, tokens / best);
  } catch (const r1::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
