// GRPO rollouts from the inference engine: the policy is exported (GGUF, f32) and loaded as a
// Model, then G responses per prompt are sampled, all of them batched through the engine
// (runtime/batch_generate.h), and scored by the task's rules.
// The training forward and the engine agree to ~1e-7 (export_test.cc), so the stored old
// log-probabilities come from the training forward.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/model.h"
#include "runtime/session.h"
#include "train/grpo.h"
#include "train/tasks.h"
#include "train/trainer.h"

namespace r1::train {

struct RolloutBatch {
  std::vector<Rollout> rollouts;  // groups of G, in problem order
  std::vector<Reward> rewards;    // per rollout
  std::vector<bool> truncated;
  double seconds = 0;
  int64_t generated_tokens = 0;
};

// Samples G responses for every problem from `model` on contexts of n_ctx tokens. Response
// (p, g) is sampled with seed params.sampling.seed + p·G + g. params.max_tokens caps a response;
// a truncated one scores 0.
RolloutBatch sample_rollouts(const Model& model, const TaskData& data, const std::vector<Problem>& problems, int64_t G,
                             const GenerationParams& params, int64_t n_ctx, int threads);

// The same with the current weights of m, written to scratch_gguf (which must be writable) and
// loaded from there.
RolloutBatch sample_rollouts(const Policy& m, const TaskData& data, const std::string& tokenizer_json,
                             const std::vector<Problem>& problems, int64_t G, const GenerationParams& params,
                             const std::string& scratch_gguf, int threads);

}  // namespace r1::train
