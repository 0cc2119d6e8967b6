// Feed-forward layers for training: the SwiGLU MLP (dense layers, experts, shared experts) and
// DeepSeekMoE (SPEC §1.7): sigmoid router scores, top-k selection on scores + the balancing bias,
// weights renormalised over the chosen experts and multiplied by route_scale, plus the shared
// experts; and V3's complementary sequence-wise balance loss α·Σ f_i·P_i.
#pragma once
#include <cstdint>
#include <vector>

#include "train/params.h"

namespace r1 {
class ThreadPool;
}

namespace r1::train {

template <typename T>
struct SwigluActs {
  std::vector<T> g, u, h;  // [n][width]
};

// y = down(silu(gate x) ⊙ up x); y is written. Weights at params + gate / up / down.
template <typename T>
void swiglu_mlp_forward(ThreadPool* pool, const T* params, size_t gate, size_t up, size_t down, const T* x,
                        int64_t n, int64_t d, int64_t width, T* y, SwigluActs<T>& a);
template <typename T>
void swiglu_mlp_backward(ThreadPool* pool, const T* params, T* grads, size_t gate, size_t up, size_t down,
                         const T* x, int64_t n, int64_t d, int64_t width, const T* dy, T* dx,
                         const SwigluActs<T>& a);

template <typename T>
struct MoeActs {
  std::vector<T> s;                          // [N][E] sigmoid scores
  std::vector<int32_t> idx;                  // [N][K] chosen experts
  std::vector<T> w;                          // [N][K] their weights (renormalised · route_scale)
  std::vector<T> sel_sum;                    // [N] Σ of the chosen scores
  std::vector<std::vector<int64_t>> slots;   // per expert: the n·K + k slots routed to it
  std::vector<std::vector<T>> xe, ye;        // per expert: gathered inputs and outputs
  std::vector<SwigluActs<T>> experts;
  SwigluActs<T> shared;
  std::vector<T> shared_y;
  std::vector<int64_t> load;                 // tokens per expert in this batch
  double balance_loss = 0;
};

// x: the normed input [B·S][n_embd]; bias: the router's selection bias (n_expert floats); alpha:
// the sequence-wise balance loss weight (its value, averaged over the B sequences, is returned
// in a.balance_loss). y is written.
template <typename T>
void moe_forward(ThreadPool* pool, const ModelConfig& c, const BlockLayout& L, const T* params, const float* bias,
                 const T* x, int64_t B, int64_t S, double alpha, T* y, MoeActs<T>& a);
template <typename T>
void moe_backward(ThreadPool* pool, const ModelConfig& c, const BlockLayout& L, const T* params, T* grads,
                  const T* x, int64_t B, int64_t S, double alpha, const T* dy, T* dx, const MoeActs<T>& a);

// The auxiliary-loss-free update (V3 §2.1.2): bias_i += γ·sign(mean load − load_i).
void update_router_bias(std::vector<float>& bias, const std::vector<int64_t>& load, double gamma);

}  // namespace r1::train
