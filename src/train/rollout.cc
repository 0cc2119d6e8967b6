#include "train/rollout.h"

#include "runtime/batch_generate.h"
#include "train/export.h"
#include "util/timer.h"

namespace r1::train {

RolloutBatch sample_rollouts(const Model& model, const TaskData& data, const std::vector<Problem>& problems, int64_t G,
                             const GenerationParams& params, int64_t n_ctx, int threads) {
  Timer timer;
  std::vector<std::vector<int32_t>> prompts;
  for (const Problem& p : problems) prompts.push_back(data.prompt_tokens(p));
  BatchGenerateOptions options;
  options.threads = threads;
  options.n_ctx = n_ctx;
  const BatchGeneration gen =
      batch_generate(model, prompts, std::vector<int64_t>(problems.size(), G), params, options);
  RolloutBatch out;
  const int32_t eos = data.tokenizer().eos_id();
  for (size_t p = 0; p < problems.size(); p++) {
    const std::vector<int32_t>& prompt = prompts[p];
    for (int64_t g = 0; g < G; g++) {
      const GenerationResult& r = gen.results[p * size_t(G) + size_t(g)];
      const bool truncated = r.finish_reason == "length" || r.finish_reason == "context";
      Rollout ro;
      ro.tokens = prompt;
      ro.tokens.insert(ro.tokens.end(), r.tokens.begin(), r.tokens.end());
      if (r.finish_reason == "eos") ro.tokens.push_back(eos);  // the model chose to stop: train that too
      if (ro.tokens.size() == prompt.size()) ro.tokens.push_back(eos);  // nothing generated (a full context)
      ro.prompt_len = prompt.size();
      ro.group = int64_t(p);
      const Reward rw = score_completion(problems[p], r.text, truncated);
      ro.reward = rw.total();
      out.rollouts.push_back(std::move(ro));
      out.rewards.push_back(rw);
      out.truncated.push_back(truncated);
      out.generated_tokens += r.completion_tokens;
    }
  }
  out.seconds = timer.seconds();
  return out;
}

RolloutBatch sample_rollouts(const Policy& m, const TaskData& data, const std::string& tokenizer_json,
                             const std::vector<Problem>& problems, int64_t G, const GenerationParams& params,
                             const std::string& scratch_gguf, int threads) {
  Timer timer;
  write_gguf(to_export_model(m, tokenizer_json, "r1.cpp GRPO policy"), scratch_gguf, "f32");
  const auto model = Model::load(scratch_gguf);
  RolloutBatch out = sample_rollouts(*model, data, problems, G, params, m.n_ctx(), threads);
  out.seconds = timer.seconds();  // the export and load included, as before
  return out;
}

}  // namespace r1::train
