// Distillation (R1 §2.4, TRAINING.md §1.4): the teacher's reasoning becomes SFT data for the
// student. Teacher responses to train-split problems are sampled with the inference engine, only
// the ones that score format 1 and accuracy 1 are kept (rejection sampling), and the student is
// fine-tuned on (prompt, teacher completion + EOS) with only the completion scored.
#pragma once
#include <cstdint>
#include <vector>

#include "model/model.h"
#include "runtime/session.h"
#include "train/trainer.h"

namespace r1::train {

struct DistillSet {
  std::vector<Example> kept;  // prompt, then the teacher's completion ending in EOS
  int64_t sampled = 0;        // responses drawn
  int64_t generated_tokens = 0;
  double seconds = 0;
};

// k responses of `teacher` (contexts of n_ctx tokens) to each problem; keeps the correct,
// well-formed, finished ones.
DistillSet sample_teacher(const Model& teacher, const TaskData& data, const std::vector<Problem>& problems, int64_t k,
                          const GenerationParams& params, int64_t n_ctx, int threads);

// Step `step`'s SFT batch: B kept examples, cycling over the set in order, cut or padded to S
// tokens; only the completions are scored.
Batch distill_batch(const DistillSet& set, int64_t step, int64_t B, int64_t S, int32_t pad_id);

}  // namespace r1::train
