#include "train/dense_model.h"

#include <cmath>

#include "core/error.h"
#include "train/kernels.h"

namespace r1::train {

void DenseConfig::validate() const {
  auto check = [](const char* name, int64_t v, int64_t lo) { check_config_size("dense model config", name, v, lo); };
  check("n_vocab", n_vocab, 2);
  check("n_embd", n_embd, 2);
  check("n_layer", n_layer, 1);
  check("n_head", n_head, 1);
  check("n_kv_head", n_kv_head, 1);
  check("n_ff", n_ff, 1);
  check("n_ctx", n_ctx, 1);
  if (n_embd % n_head) fail("dense model config: n_embd (", n_embd, ") must be a multiple of n_head (", n_head, ")");
  if (head_dim() % 2) fail("dense model config: the head size n_embd / n_head (", head_dim(), ") must be even for rope");
  if (n_head % n_kv_head) fail("dense model config: n_head (", n_head, ") must be a multiple of n_kv_head (", n_kv_head, ")");
  if (!(rms_eps > 0) || !(rope_theta > 0)) fail("dense model config: rms_eps and rope_theta must be > 0");
  if (n_layer > 1024) fail("dense model config: at most 1024 layers");
  const double d = double(n_embd);
  const double total = 2 * double(n_vocab) * d + double(n_layer) * (4 * d * d + 3 * d * double(n_ff));
  if (total > 4e9) fail("dense model config: about ", total, " parameters is beyond this trainer (4e9 at most)");
}

ParamLayout make_dense_layout(const DenseConfig& c, std::vector<DenseBlockLayout>* blocks) {
  c.validate();
  ParamLayout l;
  const int64_t D = c.n_embd, Q = c.attn_shape().q_dim(), KV = c.attn_shape().kv_dim();
  l.embed = l.add("model.embed_tokens.weight", {c.n_vocab, D}, true);
  blocks->clear();
  for (int64_t i = 0; i < c.n_layer; i++) {
    const std::string p = str("model.layers.", i, "."), sa = p + "self_attn.", m = p + "mlp.";
    DenseBlockLayout b;
    b.attn_norm = l.add(p + "input_layernorm.weight", {D}, false);
    b.attn.q = l.add(sa + "q_proj.weight", {Q, D}, true);
    b.attn.q_bias = l.add(sa + "q_proj.bias", {Q}, false);
    b.attn.k = l.add(sa + "k_proj.weight", {KV, D}, true);
    b.attn.k_bias = l.add(sa + "k_proj.bias", {KV}, false);
    b.attn.v = l.add(sa + "v_proj.weight", {KV, D}, true);
    b.attn.v_bias = l.add(sa + "v_proj.bias", {KV}, false);
    b.attn.o = l.add(sa + "o_proj.weight", {D, Q}, true);
    b.ffn_norm = l.add(p + "post_attention_layernorm.weight", {D}, false);
    b.gate = l.add(m + "gate_proj.weight", {c.n_ff, D}, true);
    b.up = l.add(m + "up_proj.weight", {c.n_ff, D}, true);
    b.down = l.add(m + "down_proj.weight", {D, c.n_ff}, true);
    blocks->push_back(b);
  }
  l.norm = l.add("model.norm.weight", {D}, false);
  l.head = l.add("lm_head.weight", {c.n_vocab, D}, true);
  return l;
}

template <typename T>
DenseTransformer<T>::DenseTransformer(const DenseConfig& c, ThreadPool* pool)
    : c_(c),
      blocks_(),
      layout_(make_dense_layout(c, &blocks_)),
      pool_(pool),
      rope_(make_rope_cache<T>(c.head_dim(), c.rope_theta, c.n_ctx, false)) {
  params.assign(layout_.total, T(0));
  grads.assign(layout_.total, T(0));
}

template <typename T>
void DenseTransformer<T>::init(uint64_t seed, double stddev) {
  init_params(layout_, c_.n_layer, seed, stddev, params.data());
}

template <typename T>
LossReport DenseTransformer<T>::forward_backward(const Batch& batch, const LossWeights&, bool backward) {
  const int64_t B = batch.B, S = batch.S, N = B * S, D = c_.n_embd, V = c_.n_vocab, F = c_.n_ff;
  check_batch(batch, V, c_.n_ctx);
  const T* P = params.data();
  T* G = grads.data();
  const GqaShape shape = c_.attn_shape();
  LossReport rep;

  std::vector<T> h(size_t(N * D)), y(size_t(N * D));
  embed_rows(h.data(), P + layout_.embed, batch.tokens.data(), N, D);
  acts_.resize(size_t(c_.n_layer));
  for (int64_t l = 0; l < c_.n_layer; l++) {
    const DenseBlockLayout& L = blocks_[size_t(l)];
    DenseBlockActs<T>& a = acts_[size_t(l)];
    a.x_in = h;
    a.a.resize(size_t(N * D));
    a.a_rstd.resize(size_t(N));
    rmsnorm_forward(a.a.data(), a.a_rstd.data(), h.data(), P + L.attn_norm, N, D, c_.rms_eps);
    gqa_forward(pool_, shape, L.attn, P, a.a.data(), B, S, rope_, y.data(), a.attn);
    for (size_t i = 0; i < h.size(); i++) h[i] += y[i];
    a.h_mid = h;
    a.f.resize(size_t(N * D));
    a.f_rstd.resize(size_t(N));
    rmsnorm_forward(a.f.data(), a.f_rstd.data(), h.data(), P + L.ffn_norm, N, D, c_.rms_eps);
    swiglu_mlp_forward(pool_, P, L.gate, L.up, L.down, a.f.data(), N, D, F, y.data(), a.mlp);
    for (size_t i = 0; i < h.size(); i++) h[i] += y[i];
  }
  const std::vector<T> dlogits =
      head_.forward(pool_, P, layout_.norm, layout_.head, h.data(), batch, D, V, c_.rms_eps, backward, &rep);
  rep.total = rep.lm;
  if (!backward) return rep;

  std::vector<T> dh = head_.backward(pool_, P, G, layout_.norm, layout_.head, dlogits, D, V), dbranch(size_t(N * D));
  for (int64_t l = c_.n_layer - 1; l >= 0; l--) {
    // dh arrives as d(block output) and leaves as d(block input); each residual adds its branch.
    const DenseBlockLayout& L = blocks_[size_t(l)];
    const DenseBlockActs<T>& a = acts_[size_t(l)];
    std::fill(dbranch.begin(), dbranch.end(), T(0));
    swiglu_mlp_backward(pool_, P, G, L.gate, L.up, L.down, a.f.data(), N, D, F, dh.data(), dbranch.data(), a.mlp);
    rmsnorm_backward(dh.data(), G + L.ffn_norm, dbranch.data(), a.h_mid.data(), P + L.ffn_norm, a.f_rstd.data(), N, D);
    std::fill(dbranch.begin(), dbranch.end(), T(0));
    gqa_backward(pool_, shape, L.attn, P, G, a.a.data(), B, S, rope_, dh.data(), dbranch.data(), a.attn);
    rmsnorm_backward(dh.data(), G + L.attn_norm, dbranch.data(), a.x_in.data(), P + L.attn_norm, a.a_rstd.data(), N, D);
  }
  embed_rows_backward(G + layout_.embed, dh.data(), batch.tokens.data(), N, D);
  return rep;
}

template class DenseTransformer<float>;
template class DenseTransformer<double>;

}  // namespace r1::train
