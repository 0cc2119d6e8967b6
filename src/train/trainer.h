// Supervised training on task data: problems rendered in R1's chat format (the tokenizer's chat
// template with the generation prompt "<｜Assistant｜><think>\n", then the worked solution, the
// answer and EOS), packed into batches, and the optimisation loop with its per-step log.
#pragma once
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "train/adamw.h"
#include "train/model.h"
#include "train/tasks.h"

namespace r1::train {

// One training example: the prompt's tokens, then the completion's (EOS last).
struct Example {
  std::vector<int32_t> tokens;
  size_t prompt_len = 0;
};

class TaskData {
 public:
  TaskData(const Tokenizer& tok, const TaskSpec& spec);
  // BOS, the user turn and the generation prompt, as the inference engine renders them.
  std::vector<int32_t> prompt_tokens(const Problem& p) const;
  Example example(const Problem& p) const { return example(p, reference_completion(p)); }
  // The prompt with a given completion (a pretraining variant, a teacher's response).
  Example example(const Problem& p, const std::string& completion) const;
  Problem draw(Split split, std::mt19937_64& rng) const { return make_problem(spec_, split, rng); }
  const Tokenizer& tokenizer() const { return tok_; }
  const TaskSpec& spec() const { return spec_; }

 private:
  const Tokenizer& tok_;
  TaskSpec spec_;
};

// B examples cut or padded to S tokens (padding repeats EOS and is never scored). With
// score_prompt, every next-token prediction counts (pretraining); without, only the completion's
// (SFT).
Batch make_batch(const std::vector<Example>& examples, int64_t S, bool score_prompt, int32_t pad_id);

struct StepLog {
  int64_t step = 0;
  LossReport loss;
  double lr = 0, grad_norm = 0;
  double seconds = 0;
  double tokens_per_second = 0;  // B·S / step time (forward + backward + update)
};

struct LoopOptions {
  int64_t steps = 100;
  double bias_gamma = 1e-3;   // auxiliary-loss-free balancing speed γ
  LossWeights loss;
};

// Runs o.steps updates, numbered from opt.steps_done(), each on next_batch(step); calls on_step
// after every update.
void train_loop(Policy& m, AdamW& opt, const LoopOptions& o, const std::function<Batch(int64_t)>& next_batch,
                const std::function<void(const StepLog&)>& on_step);

}  // namespace r1::train
