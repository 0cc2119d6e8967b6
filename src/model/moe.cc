#include "model/moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "model/token_rows.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "util/threadpool.h"

namespace r1 {
namespace {

// Indices of the k largest values (ties: lower index first), best first.
std::vector<int64_t> top_k(const std::vector<float>& v, int64_t k) {
  std::vector<int64_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                    [&](int64_t a, int64_t b) { return v[size_t(a)] > v[size_t(b)] || (v[size_t(a)] == v[size_t(b)] && a < b); });
  idx.resize(size_t(k));
  return idx;
}

}  // namespace

void route_token(const DeepseekConfig& c, const float* logits, const float* bias, int32_t* experts, float* weights) {
  const int64_t E = c.n_expert, K = c.n_expert_used;
  std::vector<float> s(logits, logits + E);
  if (c.gating == ExpertGating::Sigmoid) {
    for (float& x : s) x = 1.0f / (1.0f + std::exp(-x));
  } else {
    softmax(s.data(), E);
  }
  std::vector<float> sel = s;
  if (bias) {
    for (int64_t e = 0; e < E; e++) sel[size_t(e)] += bias[e];
  }
  if (c.n_group > 1) {
    const int64_t per = E / c.n_group;
    std::vector<float> group_score(size_t(c.n_group));
    for (int64_t g = 0; g < c.n_group; g++) {
      std::vector<float> members(sel.begin() + g * per, sel.begin() + (g + 1) * per);
      std::sort(members.begin(), members.end(), std::greater<float>());
      group_score[size_t(g)] = c.score_bias ? members[0] + (per > 1 ? members[1] : 0.0f) : members[0];
    }
    std::vector<bool> keep(size_t(c.n_group), false);
    for (int64_t g : top_k(group_score, c.n_group_used)) keep[size_t(g)] = true;
    for (int64_t e = 0; e < E; e++) {
      if (!keep[size_t(e / per)]) sel[size_t(e)] = -INFINITY;
    }
  }
  const std::vector<int64_t> best = top_k(sel, K);
  float sum = 0;
  for (int64_t k = 0; k < K; k++) {
    experts[k] = int32_t(best[size_t(k)]);
    weights[k] = s[size_t(best[size_t(k)])];
    sum += weights[k];
  }
  const float norm = c.norm_topk && sum > 0 ? 1.0f / sum : 1.0f;
  for (int64_t k = 0; k < K; k++) weights[k] *= norm * c.route_scale;
}

FfnScratch::FfnScratch(const DeepseekConfig& c, int64_t max_batch_) : max_batch(max_batch_) {
  if (max_batch <= 0) fail("feed-forward scratch: batch size must be positive (got ", max_batch, ")");
  const auto b = size_t(max_batch);
  const int64_t widest = std::max({c.n_dense_lead > 0 ? c.n_ff : 0, c.n_ff_expert, c.n_ff_shared()});
  logits.resize(b * size_t(c.n_expert));
  chosen.resize(b * size_t(c.n_expert_used));
  weights.resize(b * size_t(c.n_expert_used));
  x.resize(b * size_t(c.n_embd));
  gate.resize(b * size_t(widest));
  up.resize(b * size_t(widest));
  y.resize(b * size_t(c.n_embd));
  const auto few_rows = size_t(kMaxFewTokens * (c.n_expert_used + 1));
  expert_gate.resize(few_rows * size_t(widest));
  expert_up.resize(few_rows * size_t(widest));
  expert_out.resize(few_rows * size_t(c.n_embd));
  few_x.resize(size_t(1 << kMaxFewTokens) * kMaxFewTokens * size_t(c.n_embd));
  few_in.resize(size_t(1 << kMaxFewTokens));
}

namespace {

// ffn_forward with its two hidden buffers given ([n][width] each).
void ffn_rows(const FfnWeights& w, const float* x, int64_t n, float* out, float* gate, float* up, ThreadPool& pool) {
  const int64_t width = w.gate.out();
  linear_shared_input(w.gate, gate, w.up, up, x, n, pool);
  swiglu_rows(gate, up, n, width, pool);
  linear(w.down, gate, n, out, pool);
}

// Rows [r0, r1) of l times in's tokens, token t's into y + t·ldy: through the converted activations
// (matmul_token_rows), or, for block-scaled weights (one token only), linear_rows (which scales x per
// row block itself).
void expert_rows(const Linear& l, int64_t r0, int64_t r1, const TokenInput& in, float* y, int64_t ldy) {
  if (l.scale_inv.data) return linear_rows(l, r0, r1 - r0, in.x(), 1, y, serial_pool());
  matmul_token_rows(l.w, r0, r1, in, y, ldy);
}

// Whether expert_rows takes n tokens through every matrix of f at once.
bool takes_tokens(const FfnWeights& f, int64_t n) {
  for (const Linear* l : {&f.gate, &f.up, &f.down})
    if (n > 1 && (l->scale_inv.data || !matmul_takes_tokens(l->w, n))) return false;
  return true;
}

// A few tokens (decode's one; up to kMaxFewTokens in a batched step or a short prompt, when every
// matrix takes them at once), in two parallel steps whatever the number of experts. First every chosen
// expert's gate and up matrices (and the shared expert's), each over the tokens that chose it, then
// their down matrices. Each step's matrices are cut into items of 16 rows (RowItems) that
// ThreadPool::run_items deals: a thread streams runs of its share (a few whole matrices) in order, then
// takes the last items of a thread behind. (Splitting every matrix's rows between the threads gave each
// thread two short runs per expert; running whole experts per thread left one thread with 4 of
// V2-Lite's 7; equal byte shares per thread left the threads waiting for each other ~8% of the time.)
// A thread takes the SwiGLU of each expert whose down rows it meets (the whole hidden vectors, which
// those rows read). Each token's sum is taken after both steps in ascending expert order, as
// moe_forward's batched path does; its products are those it gets alone (matmul_takes_tokens), so a
// token's output does not depend on the tokens beside it. False (nothing done) where a matrix does not
// take the tokens at once.
bool moe_few_tokens(const DeepseekConfig& c, const MoeWeights& w, const float* x, int64_t n, float* out, FfnScratch& s,
                    ThreadPool& pool) {
  const int64_t D = c.n_embd, K = c.n_expert_used;
  const bool shared = w.shared.gate.w.data != nullptr;
  const int all = (1 << n) - 1;
  // The chosen experts in ascending order, each with the tokens that chose it (bit i: token i).
  std::vector<std::pair<int32_t, int>>& experts = s.few_experts;
  experts.clear();
  for (int64_t i = 0; i < n; i++)
    for (int64_t k = 0; k < K; k++) {
      const int32_t e = s.chosen[size_t(i * K + k)];
      auto it = std::find_if(experts.begin(), experts.end(), [&](const auto& p) { return p.first == e; });
      if (it == experts.end()) experts.push_back({e, 0}), it = experts.end() - 1;
      it->second |= 1 << i;
    }
  std::sort(experts.begin(), experts.end());
  const int64_t items = int64_t(experts.size()) + (shared ? 1 : 0);  // the last: the shared expert
  auto ffn = [&](int64_t item) -> const FfnWeights& {
    return item < int64_t(experts.size()) ? w.experts[size_t(experts[size_t(item)].first)] : w.shared;
  };
  auto tokens = [&](int64_t item) { return item < int64_t(experts.size()) ? experts[size_t(item)].second : all; };
  // Item m's token rows start at row first[m] of the hidden and output buffers.
  std::vector<int64_t>& first = s.few_first;
  first.assign(size_t(items) + 1, 0);
  for (int64_t item = 0; item < items; item++) {
    if (!takes_tokens(ffn(item), __builtin_popcount(unsigned(tokens(item))))) return false;
    first[size_t(item) + 1] = first[size_t(item)] + __builtin_popcount(unsigned(tokens(item)));
  }
  const int64_t widest = std::max(c.n_ff_expert, c.n_ff_shared());
  std::vector<const Linear*>& gate_up = s.gate_up;
  std::vector<const Linear*>& down = s.down;
  RowItems& gate_up_items = s.gate_up_items;
  RowItems& down_items = s.down_items;
  gate_up.clear();
  down.clear();
  gate_up_items.clear();
  down_items.clear();
  for (int64_t item = 0; item < items; item++) {
    const FfnWeights& f = ffn(item);
    for (const Linear* l : {&f.gate, &f.up}) {
      gate_up_items.add(l->out());
      gate_up.push_back(l);
    }
    down_items.add(f.down.out());
    down.push_back(&f.down);
  }
  // One converted input per set of tokens, its rows gathered unless it is all of them.
  uint32_t set_up = 0;  // bit `set`: few_in[set] was set to this call's tokens
  for (int64_t item = 0; item < items; item++) {
    const int set = tokens(item);
    TokenInput& in = s.few_in[size_t(set)];
    if (!(set_up >> set & 1)) {
      if (set == all) {
        in.set(x, D, n);
      } else {
        float* rows = s.few_x.data() + size_t(set) * kMaxFewTokens * size_t(D);
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++)
          if (set >> i & 1) std::copy_n(x + i * D, D, rows + (m++) * D);
        in.set(rows, D, m);
      }
      set_up |= 1u << set;
    }
    in.prepare(ffn(item).gate.w);
    in.prepare(ffn(item).up.w);
  }
  pool.run_items(gate_up_items.size(), [&](int, int64_t b, int64_t e) {
    gate_up_items.for_runs(b, e, [&](int32_t m, int64_t r0, int64_t r1) {
      const int64_t item = m / 2;
      float* y = (m % 2 == 0 ? s.expert_gate : s.expert_up).data() + first[size_t(item)] * widest;
      expert_rows(*gate_up[size_t(m)], r0, r1, s.few_in[size_t(tokens(item))], y + r0, widest);
    });
  });
  std::vector<int32_t> holds(size_t(pool.size()), -1);  // the expert whose hidden vectors thread t holds
  pool.run_items(down_items.size(), [&](int tid, int64_t b, int64_t e) {
    thread_local std::vector<float> hidden;
    thread_local TokenInput hidden_in;
    down_items.for_runs(b, e, [&](int32_t m, int64_t r0, int64_t r1) {
      const Linear& l = *down[size_t(m)];
      const int64_t rows = first[size_t(m) + 1] - first[size_t(m)];
      if (holds[size_t(tid)] != m) {
        const int64_t width = l.in();
        hidden.resize(size_t(rows * width));
        for (int64_t t = 0; t < rows; t++) {
          const int64_t at = (first[size_t(m)] + t) * widest;
          swiglu(hidden.data() + t * width, s.expert_gate.data() + at, s.expert_up.data() + at, width);
        }
        hidden_in.set(hidden.data(), width, rows);
        hidden_in.prepare(l.w);
        holds[size_t(tid)] = m;
      }
      expert_rows(l, r0, r1, hidden_in, s.expert_out.data() + first[size_t(m)] * D + r0, D);
    });
  });
  for (int64_t i = 0; i < n; i++) {
    float* o = out + i * D;
    if (shared) {
      std::copy_n(s.expert_out.data() + (first[size_t(items) - 1] + i) * D, D, o);  // the shared expert's row i
    } else {
      std::fill(o, o + D, 0.0f);
    }
    for (size_t u = 0; u < experts.size(); u++) {
      const int set = experts[u].second;
      if (!(set >> i & 1)) continue;
      float wk = 0;
      for (int64_t k = 0; k < K; k++)
        if (s.chosen[size_t(i * K + k)] == experts[u].first) wk = s.weights[size_t(i * K + k)];
      const float* y = s.expert_out.data() + (first[u] + __builtin_popcount(unsigned(set & ((1 << i) - 1)))) * D;
      for (int64_t d = 0; d < D; d++) o[d] += wk * y[d];
    }
  }
  return true;
}
}  // namespace

void ffn_forward(const FfnWeights& w, const float* x, int64_t n, float* out, FfnScratch& s, ThreadPool& pool) {
  ffn_rows(w, x, n, out, s.gate.data(), s.up.data(), pool);
}

void moe_forward(const DeepseekConfig& c, const MoeWeights& w, const float* x, int64_t n, float* out, FfnScratch& s,
                 ThreadPool& pool) {
  const int64_t D = c.n_embd, E = c.n_expert, K = c.n_expert_used;
  // A few tokens are routed one at a time unless the router's rows take them at once (without a
  // one-pass F32 kernel, its rows go through the float tile, in another order), so that a token's
  // routing is the one it gets alone, as its experts' products are (moe_few_tokens).
  if (n > 1 && n <= kMaxFewTokens && !matmul_takes_tokens(w.router, n)) {
    for (int64_t i = 0; i < n; i++) matmul(w.router, x + i * D, 1, s.logits.data() + i * E, pool);
  } else {
    matmul(w.router, x, n, s.logits.data(), pool);
  }
  const float* bias = w.score_bias.data ? static_cast<const float*>(w.score_bias.data) : nullptr;
  for_tokens(pool, n, [&](int64_t i) {
    route_token(c, s.logits.data() + i * E, bias, s.chosen.data() + i * K, s.weights.data() + i * K);
  });

  if (n >= 1 && n <= kMaxFewTokens && moe_few_tokens(c, w, x, n, out, s, pool)) return;
  if (w.shared.gate.w.data) {
    ffn_forward(w.shared, x, n, out, s, pool);
  } else {
    std::fill(out, out + n * D, 0.0f);
  }
  // Expert by expert: gather its tokens, run it once on all of them, scatter-add weighted.
  std::vector<int64_t> tokens;
  std::vector<float> token_weights;
  for (int64_t e = 0; e < E; e++) {
    tokens.clear();
    token_weights.clear();
    for (int64_t i = 0; i < n; i++) {
      for (int64_t k = 0; k < K; k++) {
        if (s.chosen[size_t(i * K + k)] == e) {
          tokens.push_back(i);
          token_weights.push_back(s.weights[size_t(i * K + k)]);
        }
      }
    }
    if (tokens.empty()) continue;
    const auto m = int64_t(tokens.size());
    for_tokens(pool, m, [&](int64_t j) { std::copy_n(x + tokens[size_t(j)] * D, D, s.x.data() + j * D); });
    ffn_forward(w.experts[size_t(e)], s.x.data(), m, s.y.data(), s, pool);
    // A token picks an expert at most once: the threads' output rows are distinct.
    for_tokens(pool, m, [&](int64_t j) {
      float* o = out + tokens[size_t(j)] * D;
      const float* y = s.y.data() + j * D;
      for (int64_t d = 0; d < D; d++) o[d] += token_weights[size_t(j)] * y[d];
    });
  }
}

}  // namespace r1
