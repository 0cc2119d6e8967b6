// The trainable DeepSeek-V3-architecture model: embedding → blocks (RMSNorm, MLA, RMSNorm, dense
// SwiGLU or DeepSeekMoE, residuals) → RMSNorm → head, plus the depth-1 MTP module (SPEC §1.10:
// eh_proj([enorm(Emb(t_{i+1})) ; hnorm(h_i)]), one MoE block, shared_head.norm, the shared head).
// Parameters and their gradients are two flat buffers laid out by ParamLayout.
#pragma once
#include <cstdint>
#include <vector>

#include "train/mla.h"
#include "train/moe.h"
#include "train/params.h"

namespace r1 {
class ThreadPool;
}

namespace r1::train {

// B sequences of S tokens. targets[n] is the token to predict after tokens[n] (−1: not scored).
struct Batch {
  int64_t B = 0, S = 0;
  std::vector<int32_t> tokens, targets;
  // Optional per-token weights of the main loss (GRPO's coefficients, which may be negative);
  // empty: the mean over scored tokens.
  std::vector<float> weights;
};

struct LossWeights {
  double mtp = 0.3;        // λ (V3: 0.3, later 0.1); 0 skips the MTP module
  double balance = 1e-4;   // α of the sequence-wise balance loss; 0 skips it
};

struct LossReport {
  double total = 0;     // lm + mtp + balance: what the gradients are of
  double lm = 0;        // Σ weight·CE (the mean CE with default weights)
  double mtp = 0;       // λ · mean CE of the MTP module
  double balance = 0;   // Σ over MoE blocks of the balance loss
  int64_t n_scored = 0;
};

template <typename T>
struct BlockActs {
  std::vector<T> x_in, a_rstd, a, h_mid, f_rstd, f;
  MlaActs<T> mla;
  SwigluActs<T> dense;
  MoeActs<T> moe;
};

template <typename T>
class Transformer {
 public:
  Transformer(const ModelConfig& c, ThreadPool* pool);

  const ModelConfig& config() const { return c_; }
  const ParamLayout& layout() const { return layout_; }

  std::vector<T> params, grads;  // flat, laid out by layout()
  RouterBias bias;               // selection bias of every MoE block (MTP block last)

  // N(0, stddev) matrices (the output projections of each block scaled by 1/sqrt(2·n_layer)),
  // norms 1, biases 0; deterministic in seed.
  void init(uint64_t seed, double stddev);

  // Forward and loss; with backward, gradients are ACCUMULATED into grads (zero them between
  // steps with zero_grads()). After a call, logits() holds the main head's [B·S][n_vocab] logits
  // and token_logprobs() log p(target) per position (0 where unscored).
  LossReport forward_backward(const Batch& batch, const LossWeights& w, bool backward);
  void zero_grads();
  const std::vector<T>& logits() const { return logits_; }
  const std::vector<double>& token_logprobs() const { return logprobs_; }
  // Tokens per expert of each MoE block in the last forward (the balancing statistics).
  std::vector<std::vector<int64_t>> expert_load() const;
  // The auxiliary-loss-free bias step for every MoE block, from the last forward's loads.
  void update_router_bias(double gamma);

 private:
  void block_forward(const BlockLayout& L, size_t bias_index, T* h, int64_t B, int64_t S, double alpha,
                     BlockActs<T>& a, double* balance);
  void block_backward(const BlockLayout& L, T* dh, int64_t B, int64_t S, double alpha, const BlockActs<T>& a);
  int64_t bias_slot(size_t block) const;  // index into bias.per_block, −1 for dense blocks

  ModelConfig c_;
  ParamLayout layout_;
  ThreadPool* pool_;
  RopeCache<T> rope_;
  // Activations of the last forward.
  std::vector<BlockActs<T>> acts_;
  BlockActs<T> mtp_acts_;
  std::vector<T> h_last_, final_rstd_, final_, logits_;
  std::vector<T> mtp_emb_, mtp_cat_, mtp_en_rstd_, mtp_hn_rstd_, mtp_h_, mtp_out_rstd_, mtp_out_, mtp_logits_;
  std::vector<int32_t> mtp_in_, mtp_targets_;
  std::vector<double> logprobs_;
  bool mtp_ran_ = false;
};

}  // namespace r1::train
