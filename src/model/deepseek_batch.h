// Continuous batching for DeepSeek-V2/V3 (MLA + MoE): one decode step for several sequences,
// each with its own latent cache. Every projection, the router and the experts (tokens grouped
// by expert, so each chosen expert's matrices stream from memory once per step) run over the
// concatenated tokens; only MLA attention is per sequence, over that sequence's latents.
// BatchEngine (batch.h) drives it for DeepSeek models.
#pragma once
#include <cstdint>
#include <vector>

#include "model/deepseek_forward.h"

namespace r1 {

class ThreadPool;

// Token ids[i] is appended to caches[i] (at position caches[i]->size()); logits: [n][n_vocab]
// with n = caches.size(). Throws r1::Error (touching no cache) for an id outside the vocabulary,
// a full cache, a cache listed twice, or more sequences than the activations hold.
void deepseek_forward_step(const DeepseekConfig& c, const DeepseekWeights& w, const std::vector<LatentKVCache*>& caches,
                           DeepseekActivations& act, ThreadPool& pool, const int32_t* ids, float* logits);

}  // namespace r1
