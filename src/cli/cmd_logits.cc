// r1 logits: the float32 logits of every position of a token sequence, row-major
// [n_tokens][n_vocab], for comparing with other implementations.
#include <cstdio>
#include <fstream>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/generation_flags.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace r1::cli {

namespace {
std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = text.find_first_of(", ", i);
    if (j == std::string::npos) j = text.size();
    if (j > i) {
      const std::string item = text.substr(i, j - i);
      char* end = nullptr;
      long long v = std::strtoll(item.c_str(), &end, 10);
      if (*end != '\0' || v < 0 || v > INT32_MAX) fail("logits: --ids: '", item, "' is not a token id");
      ids.push_back(static_cast<int32_t>(v));
    }
    i = j + 1;
  }
  return ids;
}
}  // namespace

int cmd_logits(const Argv& argv) {
  std::vector<Flag> flags = model_flags();
  flags.push_back({"--ids", "", FlagKind::String, "", "comma-separated token ids", "1,2,3"});
  flags.push_back({"--prompt", "-p", FlagKind::String, "", "text to tokenize instead of --ids (BOS as configured)", "TEXT"});
  flags.push_back({"--output", "-o", FlagKind::String, "", "output file of float32 [n_tokens][n_vocab]", "FILE"});
  flags.push_back({"--ubatch-size", "-ub", FlagKind::Int, "0",
                   "tokens per forward pass (1: token by token, as decode runs; 0: all in one)", "N"});
  Args a("logits", "-m PATH --ids 1,2,3 -o FILE", flags);
  if (a.parse_or_help(argv)) return 0;
  if (a.str("--output").empty()) fail("logits: -o FILE is required");
  if (a.has("--ids") == a.has("--prompt")) fail("logits: give exactly one of --ids or -p");
  auto model = load_model(a);
  std::vector<int32_t> ids =
      a.has("--ids") ? parse_ids(a.str("--ids")) : model->tokenizer().encode(a.str("--prompt"), true);
  if (ids.empty()) fail("logits: no tokens");
  int64_t n_ctx = std::max<int64_t>(static_cast<int64_t>(ids.size()), context_from(a, *model));
  Session session(*model, n_ctx, threads_from(a));
  std::vector<float> logits = session.logits(ids, a.i64("--ubatch-size"));
  std::ofstream f(a.str("--output"), std::ios::binary);
  f.write(reinterpret_cast<const char*>(logits.data()), static_cast<std::streamsize>(logits.size() * sizeof(float)));
  if (!f) fail("logits: cannot write ", a.str("--output"));
  std::printf("wrote %zu x %lld logits to %s\n", ids.size(), static_cast<long long>(model->n_vocab()),
              a.str("--output").c_str());
  return 0;
}

}  // namespace r1::cli
