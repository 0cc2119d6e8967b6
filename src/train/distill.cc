#include "train/distill.h"

#include "core/error.h"
#include "train/rollout.h"

namespace r1::train {

DistillSet sample_teacher(const Model& teacher, const TaskData& data, const std::vector<Problem>& problems, int64_t k,
                          const GenerationParams& params, int64_t n_ctx, int threads) {
  if (k < 1) fail("distill: samples per problem must be >= 1 (got ", k, ")");
  if (problems.empty()) fail("distill: no problems to sample");
  RolloutBatch rb = sample_rollouts(teacher, data, problems, k, params, n_ctx, threads);
  DistillSet out;
  const int32_t eos = data.tokenizer().eos_id();
  for (size_t i = 0; i < rb.rollouts.size(); i++) {
    const Reward& r = rb.rewards[i];
    if (rb.truncated[i] || r.format != 1 || r.accuracy != 1) continue;
    Example e;
    e.tokens = std::move(rb.rollouts[i].tokens);
    e.prompt_len = rb.rollouts[i].prompt_len;
    if (e.tokens.back() != eos) e.tokens.push_back(eos);  // the student learns to stop there
    out.kept.push_back(std::move(e));
  }
  out.sampled = int64_t(rb.rollouts.size());
  out.generated_tokens = rb.generated_tokens;
  out.seconds = rb.seconds;
  return out;
}

Batch distill_batch(const DistillSet& set, int64_t step, int64_t B, int64_t S, int32_t pad_id) {
  if (set.kept.empty()) fail("distill: no teacher response was kept, so there is nothing to train on");
  if (B < 1 || step < 0) fail("distill: bad batch (B ", B, ", step ", step, ")");
  std::vector<Example> ex;
  for (int64_t i = 0; i < B; i++) ex.push_back(set.kept[size_t((step * B + i) % int64_t(set.kept.size()))]);
  return make_batch(ex, S, false, pad_id);
}

}  // namespace r1::train
