// Many generations at once: several prompts, each sampled some number of times, batched through
// the inference engine. Up to max_parallel sequences are in flight, each with its own KV cache;
// every decode step runs the pending token of all of them as one forward pass (the batched step
// of model/batch.h and model/deepseek_batch.h: each projection is one matrix product over all
// the tokens), then each sequence chooses its next token. A finished sequence's slot takes the
// next sample at once (its prompt computed alone, after the prefix the slot already holds).
// One thread drives the loop, so there is no hand-off between threads per token and the steps'
// make-up depends on the data only. Per token the rules are Session::generate's: EOS, stop
// strings, max_tokens, a full context, the reasoning budget, the reasoning/answer split.
//
// Sample s is sampled with seed params.sampling.seed + s, so the results do not depend on the
// thread count or on max_parallel, as long as a token's logits do not depend on which other
// tokens share its pass: true on avx512vnni of passes of up to kMaxFewTokens (ops/matmul.h, the
// one-pass kernels for a few tokens) when every matrix is interleaved Q4_0 / Q8_0 / Q4_K / Q5_0,
// Q4_K / Q5_K / Q6_K / F16 / BF16 / F32 as stored, or coded BF16 (on avx2: passes of two, and of
// any size for the K-quants, whose tiles give the dot products' bits). Larger passes go through the
// prefill tiles, which can round a row differently with the number of tokens, so there only a fixed
// max_parallel gives identical samples (still independent of the threads).
// Used by GRPO rollouts (train/rollout.h), r1 eval and distillation.
#pragma once
#include <cstdint>
#include <vector>

#include "model/model.h"
#include "runtime/session.h"

namespace r1 {

struct BatchGenerateOptions {
  int threads = 0;        // compute threads (<= 0: all cores)
  int max_parallel = 64;  // sequences in flight at once (engine slots)
  // The context of each sequence (a sample that fills it ends with "context"); <= 0: the model's
  // training context (4096 when unknown). The caches hold no more than the longest prompt +
  // params.max_tokens, which is all a sample can use.
  int64_t n_ctx = 0;
};

struct BatchGeneration {
  // One per sample, prompt-major: prompt p's samples follow prompt p-1's. (Their decode times
  // are wall times while sharing the steps with the other sequences.)
  std::vector<GenerationResult> results;
  int64_t completion_tokens = 0;  // sum over the results
  double seconds = 0;             // wall time of the whole batch
  int64_t steps = 0;              // batched decode steps the engine ran
  int64_t batched_tokens = 0;     // tokens those steps held (batched_tokens / steps = mean batch)
};

// Generates samples[p] continuations of prompts[p] for every p. Throws r1::Error for mismatched
// sizes, a negative count, an empty prompt or one longer than the context, or MTP params (not
// batched); an error inside one generation stops the rest and is rethrown.
BatchGeneration batch_generate(const Model& model, const std::vector<std::vector<int32_t>>& prompts,
                               const std::vector<int64_t>& samples, const GenerationParams& params,
                               const BatchGenerateOptions& options = {});

}  // namespace r1
