#include "train/model.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "train/kernels.h"

namespace r1::train {
const char* arch_name(Arch a) { return a == Arch::Dense ? "dense" : "deepseek"; }

void check_batch(const Batch& batch, int64_t V, int64_t n_ctx) {
  const int64_t B = batch.B, S = batch.S, N = B * S;
  if (B < 1 || S < 1) fail("training batch: B and S must be >= 1 (got ", B, " x ", S, ")");
  if (S > n_ctx) fail("training batch: sequence length ", S, " exceeds the model context ", n_ctx);
  if (int64_t(batch.tokens.size()) != N || int64_t(batch.targets.size()) != N) {
    fail("training batch: tokens/targets must hold B·S = ", N, " ids");
  }
  if (!batch.weights.empty() && int64_t(batch.weights.size()) != N) fail("training batch: weights must hold B·S values");
  for (int64_t i = 0; i < N; i++) {
    if (batch.tokens[size_t(i)] < 0 || batch.tokens[size_t(i)] >= V) {
      fail("training batch: token id ", batch.tokens[size_t(i)], " at ", i, " is outside the vocabulary (", V, ")");
    }
    if (batch.targets[size_t(i)] >= V) fail("training batch: target id ", batch.targets[size_t(i)], " is outside the vocabulary");
  }
}

Arch parse_arch(const std::string& name) {
  if (name == "deepseek") return Arch::DeepSeek;
  if (name == "dense") return Arch::Dense;
  fail("unknown model architecture '", name, "' (deepseek, dense)");
}

template <typename T>
Transformer<T>::Transformer(const ModelConfig& c, ThreadPool* pool)
    : c_(c), layout_(make_layout(c)), pool_(pool), rope_(make_rope_cache<T>(c, c.n_ctx)) {
  params.assign(layout_.total, T(0));
  grads.assign(layout_.total, T(0));
  bias.per_block.assign(size_t(c.n_layer + (layout_.has_mtp ? 1 : 0)), {});
  for (size_t i = 0; i < bias.per_block.size(); i++) {
    if (bias_slot(i) >= 0) bias.per_block[i].assign(size_t(c.n_expert), 0.0f);
  }
}

template <typename T>
int64_t Transformer<T>::bias_slot(size_t block) const {
  const BlockLayout& L = block < layout_.blocks.size() ? layout_.blocks[block] : layout_.mtp.block;
  return L.moe ? int64_t(block) : -1;
}

template <typename T>
void Transformer<T>::init(uint64_t seed, double stddev) {
  init_params(layout_, c_.n_layer, seed, stddev, params.data());  // no 1-D parameter is a bias
  for (auto& b : bias.per_block) std::fill(b.begin(), b.end(), 0.0f);
}

template <typename T>
void Transformer<T>::block_forward(const BlockLayout& L, size_t bias_index, T* h, int64_t B, int64_t S, double alpha,
                                   BlockActs<T>& a, double* balance) {
  const int64_t N = B * S, D = c_.n_embd;
  const T* P = params.data();
  a.x_in.assign(h, h + N * D);
  a.a.resize(size_t(N * D));
  a.a_rstd.resize(size_t(N));
  rmsnorm_forward(a.a.data(), a.a_rstd.data(), h, P + L.attn_norm, N, D, c_.rms_eps);
  std::vector<T> y(size_t(N * D));
  mla_forward(pool_, c_, L, P, a.a.data(), B, S, rope_, y.data(), a.mla);
  for (int64_t i = 0; i < N * D; i++) h[i] += y[size_t(i)];
  a.h_mid.assign(h, h + N * D);
  a.f.resize(size_t(N * D));
  a.f_rstd.resize(size_t(N));
  rmsnorm_forward(a.f.data(), a.f_rstd.data(), h, P + L.ffn_norm, N, D, c_.rms_eps);
  if (L.moe) {
    moe_forward(pool_, c_, L, P, bias.per_block[bias_index].data(), a.f.data(), B, S, alpha, y.data(), a.moe);
    *balance += a.moe.balance_loss;
  } else {
    swiglu_mlp_forward(pool_, P, L.gate, L.up, L.down, a.f.data(), N, D, c_.n_ff, y.data(), a.dense);
  }
  for (int64_t i = 0; i < N * D; i++) h[i] += y[size_t(i)];
}

template <typename T>
void Transformer<T>::block_backward(const BlockLayout& L, T* dh, int64_t B, int64_t S, double alpha,
                                    const BlockActs<T>& a) {
  // dh arrives as d(block output) and leaves as d(block input); each residual adds its branch.
  const int64_t N = B * S, D = c_.n_embd;
  const T* P = params.data();
  T* G = grads.data();
  std::vector<T> dbranch(size_t(N * D), T(0));
  if (L.moe) {
    moe_backward(pool_, c_, L, P, G, a.f.data(), B, S, alpha, dh, dbranch.data(), a.moe);
  } else {
    swiglu_mlp_backward(pool_, P, G, L.gate, L.up, L.down, a.f.data(), N, D, c_.n_ff, dh, dbranch.data(), a.dense);
  }
  rmsnorm_backward(dh, G + L.ffn_norm, dbranch.data(), a.h_mid.data(), P + L.ffn_norm, a.f_rstd.data(), N, D);
  std::fill(dbranch.begin(), dbranch.end(), T(0));
  mla_backward(pool_, c_, L, P, G, a.a.data(), B, S, rope_, dh, dbranch.data(), a.mla);
  rmsnorm_backward(dh, G + L.attn_norm, dbranch.data(), a.x_in.data(), P + L.attn_norm, a.a_rstd.data(), N, D);
}

template <typename T>
LossReport Transformer<T>::forward_backward(const Batch& batch, const LossWeights& lw, bool backward) {
  const int64_t B = batch.B, S = batch.S, N = B * S, D = c_.n_embd, V = c_.n_vocab;
  check_batch(batch, V, c_.n_ctx);
  const T* P = params.data();
  T* G = grads.data();
  LossReport rep;

  std::vector<T> h(size_t(N * D));
  embed_rows(h.data(), P + layout_.embed, batch.tokens.data(), N, D);
  acts_.resize(size_t(c_.n_layer));
  for (int64_t l = 0; l < c_.n_layer; l++) {
    block_forward(layout_.blocks[size_t(l)], size_t(l), h.data(), B, S, lw.balance, acts_[size_t(l)], &rep.balance);
  }
  const std::vector<T> dlogits =
      head_.forward(pool_, P, layout_.norm, layout_.head, h.data(), batch, D, V, c_.rms_eps, backward, &rep);

  // MTP: position i sees the next input token and h_i, and predicts the token after that.
  mtp_ran_ = layout_.has_mtp && lw.mtp > 0;
  std::vector<T> dlogits2;
  if (mtp_ran_) {
    const auto& M = layout_.mtp;
    mtp_in_.resize(size_t(N));
    mtp_targets_.resize(size_t(N));
    for (int64_t n = 0; n < N; n++) {
      const bool last = n % S == S - 1;
      mtp_in_[size_t(n)] = last ? std::max(batch.targets[size_t(n)], 0) : batch.tokens[size_t(n + 1)];
      mtp_targets_[size_t(n)] = last ? -1 : batch.targets[size_t(n + 1)];
    }
    mtp_emb_.resize(size_t(N * D));
    embed_rows(mtp_emb_.data(), P + layout_.embed, mtp_in_.data(), N, D);
    std::vector<T> en(size_t(N * D)), hn(size_t(N * D));
    mtp_en_rstd_.resize(size_t(N));
    mtp_hn_rstd_.resize(size_t(N));
    rmsnorm_forward(en.data(), mtp_en_rstd_.data(), mtp_emb_.data(), P + M.enorm, N, D, c_.rms_eps);
    rmsnorm_forward(hn.data(), mtp_hn_rstd_.data(), head_.h_last.data(), P + M.hnorm, N, D, c_.rms_eps);
    mtp_cat_.resize(size_t(N * 2 * D));
    for (int64_t n = 0; n < N; n++) {  // the embedding half first (SPEC §1.10)
      std::copy_n(&en[size_t(n * D)], D, &mtp_cat_[size_t(n * 2 * D)]);
      std::copy_n(&hn[size_t(n * D)], D, &mtp_cat_[size_t(n * 2 * D + D)]);
    }
    mtp_h_.resize(size_t(N * D));
    linear_forward(pool_, mtp_h_.data(), mtp_cat_.data(), P + M.eh_proj, N, 2 * D, D);
    block_forward(M.block, size_t(c_.n_layer), mtp_h_.data(), B, S, lw.balance, mtp_acts_, &rep.balance);
    mtp_out_.resize(size_t(N * D));
    mtp_out_rstd_.resize(size_t(N));
    rmsnorm_forward(mtp_out_.data(), mtp_out_rstd_.data(), mtp_h_.data(), P + M.head_norm, N, D, c_.rms_eps);
    mtp_logits_.resize(size_t(N * V));
    linear_forward(pool_, mtp_logits_.data(), mtp_out_.data(), P + layout_.head, N, D, V);
    int64_t m = 0;
    for (int32_t t : mtp_targets_) m += t >= 0;
    if (backward) dlogits2.resize(size_t(N * V));
    rep.mtp = m == 0 ? 0.0
                     : weighted_ce(backward ? dlogits2.data() : nullptr, mtp_logits_.data(), mtp_targets_.data(),
                                   nullptr, lw.mtp / double(m), N, V, nullptr);
  }
  rep.total = rep.lm + rep.mtp + rep.balance;
  if (!backward) return rep;

  std::vector<T> dh = head_.backward(pool_, P, G, layout_.norm, layout_.head, dlogits, D, V);
  if (mtp_ran_) {
    const auto& M = layout_.mtp;
    std::vector<T> dout(size_t(N * D), T(0)), dm(size_t(N * D), T(0));
    linear_backward(pool_, dout.data(), G + layout_.head, dlogits2.data(), mtp_out_.data(), P + layout_.head, N, D, V);
    rmsnorm_backward(dm.data(), G + M.head_norm, dout.data(), mtp_h_.data(), P + M.head_norm, mtp_out_rstd_.data(), N, D);
    block_backward(M.block, dm.data(), B, S, lw.balance, mtp_acts_);
    std::vector<T> dcat(size_t(N * 2 * D), T(0));
    linear_backward(pool_, dcat.data(), G + M.eh_proj, dm.data(), mtp_cat_.data(), P + M.eh_proj, N, 2 * D, D);
    std::vector<T> den(size_t(N * D)), dhn(size_t(N * D)), demb(size_t(N * D), T(0));
    for (int64_t n = 0; n < N; n++) {
      std::copy_n(&dcat[size_t(n * 2 * D)], D, &den[size_t(n * D)]);
      std::copy_n(&dcat[size_t(n * 2 * D + D)], D, &dhn[size_t(n * D)]);
    }
    rmsnorm_backward(demb.data(), G + M.enorm, den.data(), mtp_emb_.data(), P + M.enorm, mtp_en_rstd_.data(), N, D);
    rmsnorm_backward(dh.data(), G + M.hnorm, dhn.data(), head_.h_last.data(), P + M.hnorm, mtp_hn_rstd_.data(), N, D);
    embed_rows_backward(G + layout_.embed, demb.data(), mtp_in_.data(), N, D);
  }
  for (int64_t l = c_.n_layer - 1; l >= 0; l--) {
    block_backward(layout_.blocks[size_t(l)], dh.data(), B, S, lw.balance, acts_[size_t(l)]);
  }
  embed_rows_backward(G + layout_.embed, dh.data(), batch.tokens.data(), N, D);
  return rep;
}

template <typename T>
std::vector<std::vector<int64_t>> Transformer<T>::expert_load() const {
  std::vector<std::vector<int64_t>> out(bias.per_block.size());
  for (size_t i = 0; i < out.size(); i++) {
    if (bias_slot(i) < 0) continue;
    if (i < acts_.size()) {
      out[i] = acts_[i].moe.load;
    } else if (mtp_ran_) {
      out[i] = mtp_acts_.moe.load;
    }
  }
  return out;
}

template <typename T>
void Transformer<T>::update_router_bias(double gamma) {
  const auto load = expert_load();
  for (size_t i = 0; i < load.size(); i++) train::update_router_bias(bias.per_block[i], load[i], gamma);
}

template class Transformer<float>;
template class Transformer<double>;

}  // namespace r1::train
