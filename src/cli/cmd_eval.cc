// r1 eval: a model's skill on held-out task problems, by R1's protocol (TRAINING.md §0): k samples
// per problem at temperature 0.6 / top-p 0.95; pass@1 = mean correctness over the samples,
// pass@k = some sample correct, maj@k = the most frequent final number is correct; plus the
// format rate and the mean response length. All samples are generated together, batched
// through the engine (runtime/batch_generate.h).
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/default_model.h"
#include "core/error.h"
#include "runtime/batch_generate.h"
#include "train/tasks.h"
#include "train/trainer.h"

namespace r1::cli {
using namespace r1::train;

int cmd_eval(const Argv& argv) {
  Args a("eval", "[flags]",
         {
             {"--model", "-m", FlagKind::String, "", "model: .gguf or HF directory (default: the default model)", "PATH"},
             {"--task", "", FlagKind::String, "addition", "addition, countdown, other (requests outside both) or mixed", "NAME"},
             {"--min-digits", "", FlagKind::Int, "1", "addition: shortest operand", "N"},
             {"--max-digits", "", FlagKind::Int, "3", "addition: longest operand", "N"},
             {"--numbers", "", FlagKind::Int, "3", "countdown: how many numbers are given", "N"},
             {"--split", "", FlagKind::String, "heldout", "heldout or train", "NAME"},
             {"--problems", "-n", FlagKind::Int, "100", "problems to evaluate", "N"},
             {"--samples", "-k", FlagKind::Int, "4", "samples per problem", "K"},
             {"--temp", "", FlagKind::Float, "0.6", "sampling temperature (0: greedy)", "X"},
             {"--top-p", "", FlagKind::Float, "0.95", "nucleus sampling", "X"},
             {"--max-tokens", "", FlagKind::Int, "256", "response length limit (hitting it scores 0)", "N"},
             {"--seed", "", FlagKind::Int, "1", "seed of the problems and the samples", "N"},
             {"--threads", "-t", FlagKind::Int, "0", "threads (0: all cores)", "N"},
             {"--parallel", "-np", FlagKind::Int, "64", "samples generated at once (batched decode steps)", "N"},
             {"--json", "", FlagKind::String, "", "also write the results as JSON here", "PATH"},
             {"--show", "", FlagKind::Int, "0", "print this many samples", "N"},
         });
  if (a.parse_or_help(argv)) return 0;
  const std::string split_name = a.str("--split");
  if (split_name != "heldout" && split_name != "train") fail("eval: --split must be heldout or train");
  const Split split = split_name == "heldout" ? Split::Heldout : Split::Train;
  const int64_t n = a.i64("--problems"), k = a.i64("--samples");
  if (n < 1 || k < 1) fail("eval: --problems and --samples must be >= 1");
  const std::string path = a.has("--model") ? a.str("--model") : default_model_path();
  auto model = Model::load(path);
  TaskSpec spec;
  spec.kind = parse_task(a.str("--task"));
  spec.min_digits = int(a.i64("--min-digits"));
  spec.max_digits = int(a.i64("--max-digits"));
  spec.n_numbers = int(a.i64("--numbers"));
  TaskData data(model->tokenizer(), spec);
  GenerationParams gp;
  gp.sampling.temperature = float(a.f64("--temp"));
  gp.sampling.top_p = float(a.f64("--top-p"));
  gp.max_tokens = a.i64("--max-tokens");
  const uint64_t seed = uint64_t(a.i64("--seed"));
  gp.sampling.seed = seed * 1000003u;  // sample s of problem i: + i·k + s
  std::mt19937_64 rng(seed ^ 0xE7A1u);
  std::vector<Problem> problems;
  std::vector<std::vector<int32_t>> prompts;
  for (int64_t i = 0; i < n; i++) {
    problems.push_back(data.draw(split, rng));
    prompts.push_back(data.prompt_tokens(problems.back()));
  }
  // All n·k samples at once, up to --parallel of them sharing each batched decode step.
  BatchGenerateOptions bo;
  bo.threads = int(a.i64("--threads"));
  bo.max_parallel = int(a.i64("--parallel"));
  if (bo.max_parallel < 1) fail("eval: --parallel must be >= 1");
  bo.n_ctx = std::min<int64_t>(model->config().n_ctx_train > 0 ? model->config().n_ctx_train : 4096, 4096);
  const BatchGeneration gen = batch_generate(*model, prompts, std::vector<int64_t>(size_t(n), k), gp, bo);

  double correct = 0, formatted = 0, length = 0, pass_k = 0, maj_k = 0;
  int64_t shown = 0;
  for (int64_t i = 0; i < n; i++) {
    const Problem& p = problems[size_t(i)];
    int64_t n_correct = 0;
    std::map<int64_t, int64_t> votes;
    for (int64_t s = 0; s < k; s++) {
      const GenerationResult& r = gen.results[size_t(i * k + s)];
      const bool truncated = r.finish_reason == "length" || r.finish_reason == "context";
      const Reward rw = score_completion(p, r.text, truncated);
      n_correct += rw.accuracy > 0;
      formatted += rw.format;
      length += double(r.completion_tokens);
      const size_t close = r.text.find("</think>");
      if (auto v = last_integer(close == std::string::npos ? r.text : r.text.substr(close)); v && !truncated) votes[*v]++;
      if (shown < a.i64("--show")) {
        std::printf("--- %s\n%s\n[reward: format %.0f accuracy %.0f]\n", p.question.c_str(), r.text.c_str(), rw.format,
                    rw.accuracy);
        shown++;
      }
    }
    correct += double(n_correct);
    pass_k += n_correct > 0;
    int64_t best = -1, best_votes = 0;
    for (const auto& [v, c] : votes) {
      if (c > best_votes) best = v, best_votes = c;
    }
    maj_k += best_votes > 0 && best == p.target;  // (Countdown: the voted number is the target)
  }
  const double samples = double(n * k);
  const nlohmann::json res = {{"model", path},
                              {"task", a.str("--task")},
                              {"split", split_name},
                              {"problems", n},
                              {"samples", k},
                              {"temperature", gp.sampling.temperature},
                              {"top_p", gp.sampling.top_p},
                              {"pass@1", correct / samples},
                              {"pass@k", pass_k / double(n)},
                              {"maj@k", maj_k / double(n)},
                              {"format", formatted / samples},
                              {"mean_length", length / samples},
                              {"generated_tokens", gen.completion_tokens},
                              {"seconds", gen.seconds},
                              {"tokens_per_second", double(gen.completion_tokens) / gen.seconds}};
  std::printf("%s %s (%lld problems x %lld samples, T %.2f, top-p %.2f): pass@1 %.3f  pass@%lld %.3f  maj@%lld %.3f  "
              "format %.3f  mean length %.1f tokens\n",
              a.str("--task").c_str(), split_name.c_str(), static_cast<long long>(n), static_cast<long long>(k),
              gp.sampling.temperature, gp.sampling.top_p, correct / samples, static_cast<long long>(k),
              pass_k / double(n), static_cast<long long>(k), maj_k / double(n), formatted / samples, length / samples);
  std::printf("generated %lld tokens in %.2f s (%.1f tokens/s, %.1f sequences per decode step)\n",
              static_cast<long long>(gen.completion_tokens), gen.seconds, double(gen.completion_tokens) / gen.seconds,
              gen.steps > 0 ? double(gen.batched_tokens) / double(gen.steps) : 0.0);
  if (a.has("--json")) {
    std::ofstream f(a.str("--json"));
    f << res.dump(2) << "\n";
    if (!f) fail("eval: cannot write ", a.str("--json"));
  }
  return 0;
}

}  // namespace r1::cli
