// DeepSeekMoE (SPEC §1.7): a router picks n_expert_used of n_expert SwiGLU experts per token,
// optionally limited to the best n_group_used expert groups; their outputs are summed with the
// routing weights, plus the always-on shared experts. Only the chosen experts' weights are read:
// tokens are grouped by expert so each expert's matrices are streamed once per batch.
#pragma once
#include <cstdint>
#include <vector>

#include "model/deepseek_config.h"
#include "model/deepseek_weights.h"
#include "ops/matmul.h"

namespace r1 {

class ThreadPool;

// Routing of one token. logits: the router's n_expert outputs; bias: e_score_correction_bias
// (n_expert values) or null. Writes n_expert_used expert ids (best first) and their weights:
//   s = sigmoid(logits) or softmax(logits);  selection score b = s + bias (bias: selection only);
//   with groups: keep the n_group_used groups with the best group score (sum of the top two b in the
//   group when config.score_bias, else the max), the rest are -inf; top-k of b;
//   weight = s of the chosen (unbiased), / their sum if norm_topk, × route_scale.
// Ties go to the lower index.
void route_token(const DeepseekConfig& c, const float* logits, const float* bias, int32_t* experts, float* weights);

// Working memory of the feed-forward blocks for up to max_batch tokens.
struct FfnScratch {
  FfnScratch(const DeepseekConfig& c, int64_t max_batch);

  int64_t max_batch;
  std::vector<float> logits;    // [max_batch][n_expert]
  std::vector<int32_t> chosen;  // [max_batch][n_expert_used]
  std::vector<float> weights;   // [max_batch][n_expert_used]
  std::vector<float> x;         // [max_batch][n_embd] the tokens routed to one expert
  std::vector<float> gate, up;  // [max_batch][widest FFN]
  std::vector<float> y;         // [max_batch][n_embd]
  // A few tokens' experts (up to kMaxFewTokens tokens, moe.cc): each chosen expert's (and the shared
  // expert's) hidden and output rows for the tokens that chose it, [kMaxFewTokens · (n_expert_used + 1)]
  // rows of the widest FFN / of n_embd.
  std::vector<float> expert_gate, expert_up;
  std::vector<float> expert_out;
  // Their matrices (expert i: gate_up[2i], gate_up[2i + 1], down[i]; the shared expert last) and row
  // items, the experts (id, bit mask of their tokens), where each one's rows start, and an input per
  // set of tokens (their rows gathered in few_x), refilled each step without allocating.
  std::vector<const Linear*> gate_up, down;
  RowItems gate_up_items, down_items;
  std::vector<std::pair<int32_t, int>> few_experts;
  std::vector<int64_t> few_first;
  std::vector<float> few_x;  // [2^kMaxFewTokens][kMaxFewTokens][n_embd]
  std::vector<TokenInput> few_in;
};

// out[n][n_embd] = down(silu(gate x) ⊙ up x). The dense FFN and each expert.
void ffn_forward(const FfnWeights& w, const float* x, int64_t n, float* out, FfnScratch& s, ThreadPool& pool);

// out[n][n_embd] = Σ_k weight_k · expert_k(x) + shared(x).
void moe_forward(const DeepseekConfig& c, const MoeWeights& w, const float* x, int64_t n, float* out, FfnScratch& s,
                 ThreadPool& pool);

}  // namespace r1
