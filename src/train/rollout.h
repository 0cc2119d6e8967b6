// GRPO rollouts from the inference engine: the policy is exported (GGUF, f32) and loaded as a
// Model, then G responses per prompt are sampled with a Session and scored by the task's rules.
// The training forward and the engine agree to ~1e-7 (export_test.cc), so the stored old
// log-probabilities come from the training forward.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

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

// Samples G responses for every problem with the current weights of m (written to
// scratch_gguf, which must be writable). params.max_tokens caps a response; a truncated one
// scores 0.
RolloutBatch sample_rollouts(const Transformer<float>& m, const TaskData& data, const std::string& tokenizer_json,
                             const std::vector<Problem>& problems, int64_t G, const GenerationParams& params,
                             const std::string& scratch_gguf, int threads);

}  // namespace r1::train
