// Multi-head latent attention for training (SPEC §1.4, naive form): q and kv go through low-rank
// latents with their own RMSNorms; the rope part of q (per head) and one shared rope key are
// rotated; causal softmax attention per head and sequence; the output projection.
#pragma once
#include <cstdint>
#include <vector>

#include "train/params.h"

namespace r1 {
class ThreadPool;
}

namespace r1::train {

// cos/sin of every position and rope pair: [pos · half + i].
template <typename T>
struct RopeCache {
  int64_t half = 0;
  std::vector<T> cos, sin;
};
template <typename T>
RopeCache<T> make_rope_cache(const ModelConfig& c, int64_t n_pos);
// The same for any rotated width; float_angle rounds pos·θ_i to float before cos/sin (what the
// DeepSeek engine's table does; the dense engine's RopeTable keeps the angle in double).
template <typename T>
RopeCache<T> make_rope_cache(int64_t n_dims, double theta, int64_t n_pos, bool float_angle);

// What the forward keeps for the backward. N = B·S tokens.
template <typename T>
struct MlaActs {
  std::vector<T> qa, q_rstd, cq;  // [N][q_lora], [N], normed latent
  std::vector<T> q;               // [N][H·qk_head] with the rope part rotated
  std::vector<T> c, kv_rstd, cn;  // kv latent before / after its norm
  std::vector<T> kv;              // [N][H·(nope + v)]
  std::vector<T> k, v;            // [N][H·qk_head] (rotated shared k_pe in every head), [N][H·v]
  std::vector<T> p;               // [B·H][S][S] attention probabilities
  std::vector<T> o;               // [N][H·v]
};

// x: the normed block input [B·S][n_embd]; out = attention output [B·S][n_embd] (written).
template <typename T>
void mla_forward(ThreadPool* pool, const ModelConfig& c, const BlockLayout& L, const T* params, const T* x,
                 int64_t B, int64_t S, const RopeCache<T>& rope, T* out, MlaActs<T>& a);
// Accumulates parameter gradients into grads and the input gradient into dx.
template <typename T>
void mla_backward(ThreadPool* pool, const ModelConfig& c, const BlockLayout& L, const T* params, T* grads,
                  const T* x, int64_t B, int64_t S, const RopeCache<T>& rope, const T* dout, T* dx,
                  const MlaActs<T>& a);

}  // namespace r1::train
