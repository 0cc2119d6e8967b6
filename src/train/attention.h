// Grouped-query attention for training, as Qwen2 has it (the R1-Distill students): q/k/v
// projections with biases, rotate-half ("NEOX") rope over the whole head on q and k, causal
// softmax attention where each group of n_head / n_kv_head query heads shares one key/value
// head, and the output projection without a bias.
#pragma once
#include <cstdint>
#include <vector>

#include "train/mla.h"

namespace r1 {
class ThreadPool;
}

namespace r1::train {

struct GqaShape {
  int64_t n_embd = 0, n_head = 0, n_kv_head = 0, head_dim = 0;
  int64_t q_dim() const { return n_head * head_dim; }
  int64_t kv_dim() const { return n_kv_head * head_dim; }
};

// Offsets of the layer's tensors in the flat parameter buffer.
struct GqaLayout {
  size_t q = 0, q_bias = 0, k = 0, k_bias = 0, v = 0, v_bias = 0, o = 0;
};

// What the forward keeps for the backward. N = B·S tokens.
template <typename T>
struct GqaActs {
  std::vector<T> q, k, v;  // [N][H·hd], [N][KV·hd] ×2, q and k rotated
  std::vector<T> p;        // [B·H][S][S] attention probabilities
  std::vector<T> o;        // [N][H·hd]
};

// Rotate-half rope of one head: pair (i, i + half) turned by the angle whose cos/sin are given.
template <typename T>
void rope_rotate_neox(T* x, const T* cos, const T* sin, int64_t half, bool inverse);

// x: the normed block input [B·S][n_embd]; out = attention output [B·S][n_embd] (written). The
// rope cache covers head_dim.
template <typename T>
void gqa_forward(ThreadPool* pool, const GqaShape& s, const GqaLayout& L, const T* params, const T* x, int64_t B,
                 int64_t S, const RopeCache<T>& rope, T* out, GqaActs<T>& a);
// Accumulates parameter gradients into grads and the input gradient into dx.
template <typename T>
void gqa_backward(ThreadPool* pool, const GqaShape& s, const GqaLayout& L, const T* params, T* grads, const T* x,
                  int64_t B, int64_t S, const RopeCache<T>& rope, const T* dout, T* dx, const GqaActs<T>& a);

}  // namespace r1::train
