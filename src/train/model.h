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
#include "train/lm_head.h"
#include "train/policy.h"

namespace r1 {
class ThreadPool;
}

namespace r1::train {

template <typename T>
struct BlockActs {
  std::vector<T> x_in, a_rstd, a, h_mid, f_rstd, f;
  MlaActs<T> mla;
  SwigluActs<T> dense;
  MoeActs<T> moe;
};

template <typename T>
class Transformer : public TrainModel<T> {
 public:
  Transformer(const ModelConfig& c, ThreadPool* pool);

  using TrainModel<T>::params;
  using TrainModel<T>::grads;
  using TrainModel<T>::zero_grads;

  const ModelConfig& config() const { return c_; }
  Arch arch() const override { return Arch::DeepSeek; }
  const ParamLayout& layout() const override { return layout_; }
  int64_t n_vocab() const override { return c_.n_vocab; }
  int64_t n_ctx() const override { return c_.n_ctx; }

  RouterBias bias;               // selection bias of every MoE block (MTP block last)

  // N(0, stddev) matrices (the output projections of each block scaled by 1/sqrt(2·n_layer)),
  // norms 1, biases 0; deterministic in seed.
  void init(uint64_t seed, double stddev) override;

  // Forward and loss; with backward, gradients are ACCUMULATED into grads (zero them between
  // steps with zero_grads()). After a call, logits() holds the main head's [B·S][n_vocab] logits
  // and token_logprobs() log p(target) per position (0 where unscored).
  LossReport forward_backward(const Batch& batch, const LossWeights& w, bool backward) override;
  const std::vector<T>& logits() const override { return head_.logits; }
  const std::vector<double>& token_logprobs() const override { return head_.logprobs; }
  // Tokens per expert of each MoE block in the last forward (the balancing statistics).
  std::vector<std::vector<int64_t>> expert_load() const override;
  // The auxiliary-loss-free bias step for every MoE block, from the last forward's loads.
  void update_router_bias(double gamma) override;
  std::unique_ptr<TrainModel<T>> clone() const override { return std::make_unique<Transformer>(*this); }

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
  LmHead<T> head_;  // final norm, head, weighted CE
  std::vector<T> mtp_emb_, mtp_cat_, mtp_en_rstd_, mtp_hn_rstd_, mtp_h_, mtp_out_rstd_, mtp_out_, mtp_logits_;
  std::vector<int32_t> mtp_in_, mtp_targets_;
  bool mtp_ran_ = false;
};

}  // namespace r1::train
