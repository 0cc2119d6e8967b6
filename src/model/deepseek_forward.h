// The forward pass of a DeepSeek-V2/V3 model (SPEC §1.2): embedding, n_layer pre-norm blocks of
// MLA attention and a dense or MoE feed-forward, final norm and head; n tokens at positions
// cache.size() .. cache.size()+n-1, processed in chunks of at most max_batch tokens.
#pragma once
#include <cstdint>
#include <vector>

#include "model/deepseek_config.h"
#include "model/deepseek_weights.h"
#include "model/mla.h"
#include "model/moe.h"

namespace r1 {

class ThreadPool;

// Activations for up to max_batch tokens and n_ctx positions, allocated once.
struct DeepseekActivations {
  DeepseekActivations(const DeepseekConfig& c, int64_t max_batch, int64_t n_ctx, int n_threads);

  int64_t max_batch;
  std::vector<float> x;     // [max_batch][n_embd] residual stream
  std::vector<float> xn;    // [max_batch][n_embd] normed input of a sub-block
  std::vector<float> proj;  // [max_batch][n_embd] output of a sub-block
  MlaScratch mla;
  FfnScratch ffn;
};

// A latent cache sized for this model, of `type` (F32, F16 or Q8_0).
LatentKVCache make_latent_cache(const DeepseekConfig& c, int64_t capacity, DType type = DType::F32);

// Runs ids[0..n) through the model and appends their latents to `cache`.
// logits: all_logits ? [n][n_vocab] : [n_vocab] (the last token's row only).
// hidden (optional): [n][n_embd] final-normed hidden states (what the MTP module consumes).
// Throws r1::Error for an id outside the vocabulary or when the tokens do not fit in the cache.
void deepseek_forward(const DeepseekConfig& c, const DeepseekWeights& w, LatentKVCache& cache,
                      DeepseekActivations& act, ThreadPool& pool, const int32_t* ids, int64_t n, bool all_logits,
                      float* logits, float* hidden = nullptr);

// The multi-token-prediction module (SPEC §1.10), for speculative drafts: at position i it takes
// the main model's final-normed hidden h_i and the next token t_{i+1} and gives logits for t_{i+2}:
//   x = eh_proj([enorm(embed(t_{i+1})) ; hnorm(h_i)]) (embedding half first, as serving engines
//   do), one MoE block over its own one-layer latent cache, shared_head.norm, shared_head.head.
// ids, hidden: [n] and [n][n_embd]; logits: [n][n_vocab], or null to only fill the cache. llama.cpp has
// no MTP output to compare with; the NumPy re-implementation in tests/deepseek_ref.py checks it.
LatentKVCache make_mtp_cache(const DeepseekConfig& c, int64_t capacity, DType type = DType::F32);
void mtp_forward(const DeepseekConfig& c, const MtpWeights& w, LatentKVCache& cache, DeepseekActivations& act,
                 ThreadPool& pool, const int32_t* ids, const float* hidden, int64_t n, float* logits);

}  // namespace r1
