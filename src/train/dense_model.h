// The trainable dense student, Qwen2-style (R1-Distill-Qwen's architecture): embedding → blocks
// (RMSNorm, grouped-query attention with q/k/v biases and rotate-half rope, residual, RMSNorm,
// SwiGLU, residual) → RMSNorm → untied head; the same weighted cross-entropy as Transformer (no
// MTP, no MoE). Parameters carry Qwen2's Hugging Face names, so export is a copy.
#pragma once
#include <cstdint>
#include <vector>

#include "train/attention.h"
#include "train/moe.h"
#include "train/lm_head.h"
#include "train/policy.h"

namespace r1 {
class ThreadPool;
}

namespace r1::train {

struct DenseConfig {
  int64_t n_vocab = 0;
  int64_t n_embd = 96;     // TRAINING.md §5.2's student
  int64_t n_layer = 3;
  int64_t n_head = 4;
  int64_t n_kv_head = 4;   // < n_head: grouped-query attention
  int64_t n_ff = 256;
  double rope_theta = 10000.0;
  double rms_eps = 1e-6;
  int64_t n_ctx = 2048;

  int64_t head_dim() const { return n_embd / n_head; }
  GqaShape attn_shape() const { return {n_embd, n_head, n_kv_head, head_dim()}; }
  void validate() const;  // throws r1::Error naming the bad field
};

struct DenseBlockLayout {
  size_t attn_norm = 0, ffn_norm = 0, gate = 0, up = 0, down = 0;
  GqaLayout attn;
};

// The flat layout (embed / norm / head set; blocks empty) and each block's offsets.
ParamLayout make_dense_layout(const DenseConfig& c, std::vector<DenseBlockLayout>* blocks);

template <typename T>
struct DenseBlockActs {
  std::vector<T> x_in, a_rstd, a, h_mid, f_rstd, f;
  GqaActs<T> attn;
  SwigluActs<T> mlp;
};

template <typename T>
class DenseTransformer : public TrainModel<T> {
 public:
  DenseTransformer(const DenseConfig& c, ThreadPool* pool);

  using TrainModel<T>::params;
  using TrainModel<T>::grads;

  const DenseConfig& config() const { return c_; }
  const std::vector<DenseBlockLayout>& blocks() const { return blocks_; }
  Arch arch() const override { return Arch::Dense; }
  const ParamLayout& layout() const override { return layout_; }
  int64_t n_vocab() const override { return c_.n_vocab; }
  int64_t n_ctx() const override { return c_.n_ctx; }

  void init(uint64_t seed, double stddev) override;
  // LossWeights are ignored (no MTP, no MoE): the loss is the weighted CE alone.
  LossReport forward_backward(const Batch& batch, const LossWeights& w, bool backward) override;
  const std::vector<T>& logits() const override { return head_.logits; }
  const std::vector<double>& token_logprobs() const override { return head_.logprobs; }
  std::unique_ptr<TrainModel<T>> clone() const override { return std::make_unique<DenseTransformer>(*this); }

 private:
  DenseConfig c_;
  std::vector<DenseBlockLayout> blocks_;  // before layout_: make_dense_layout fills it
  ParamLayout layout_;
  ThreadPool* pool_;
  RopeCache<T> rope_;
  std::vector<DenseBlockActs<T>> acts_;
  LmHead<T> head_;  // final norm, head, weighted CE
};

}  // namespace r1::train
