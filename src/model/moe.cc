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
  expert_gate.resize(size_t((c.n_expert_used + 1) * widest));
  expert_up.resize(size_t((c.n_expert_used + 1) * widest));
  expert_out.resize(size_t((c.n_expert_used + 1) * c.n_embd));
}

namespace {

// ffn_forward with its two hidden buffers given ([n][width] each).
void ffn_rows(const FfnWeights& w, const float* x, int64_t n, float* out, float* gate, float* up, ThreadPool& pool) {
  const int64_t width = w.gate.out();
  linear_shared_input(w.gate, gate, w.up, up, x, n, pool);
  swiglu_rows(gate, up, n, width, pool);
  linear(w.down, gate, n, out, pool);
}

// Rows [r0, r1) of l times one token, into y: through the converted activations (matmul_token_rows),
// or, for block-scaled weights, linear_rows (which scales x per row block itself).
void expert_rows(const Linear& l, int64_t r0, int64_t r1, const TokenInput& in, float* y) {
  if (l.scale_inv.data) return linear_rows(l, r0, r1 - r0, in.x(), 1, y, serial_pool());
  matmul_token_rows(l.w, r0, r1, in, y);
}

// One token (decode), in two parallel steps whatever the number of experts. First every chosen
// expert's gate and up matrices (and the shared expert's), then their down matrices. Each step's
// matrices are cut into items of 16 rows (RowItems) that ThreadPool::run_items deals: a
// thread streams runs of its share (a few whole matrices) in order, then takes the last items of a
// thread behind. (Splitting every matrix's rows between the threads gave each thread two short runs per
// expert; running whole experts per thread left one thread with 4 of V2-Lite's 7; equal byte shares
// per thread left the threads waiting for each other ~8% of the time.) A thread takes the SwiGLU of
// each expert whose down rows it meets (the whole hidden vector, which those rows read). The output's
// sum is taken after both steps in ascending expert order whatever the thread count, as
// moe_forward's batched path does.
void moe_one_token(const DeepseekConfig& c, const MoeWeights& w, const float* x, float* out, FfnScratch& s,
                   ThreadPool& pool) {
  const int64_t D = c.n_embd, K = c.n_expert_used;
  const bool shared = w.shared.gate.w.data != nullptr;
  std::vector<int64_t> order(static_cast<size_t>(K));  // the token's k-th choices by expert id
  for (int64_t k = 0; k < K; k++) order[size_t(k)] = k;
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return s.chosen[size_t(a)] < s.chosen[size_t(b)]; });
  const int64_t items = K + (shared ? 1 : 0);  // item K: the shared expert
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
    const FfnWeights& f = item < K ? w.experts[size_t(s.chosen[size_t(item)])] : w.shared;
    for (const Linear* l : {&f.gate, &f.up}) {
      gate_up_items.add(l->out());
      gate_up.push_back(l);
    }
    down_items.add(f.down.out());
    down.push_back(&f.down);
  }
  thread_local TokenInput own_in;  // the calling thread's, reused; the workers read it through `in`
  TokenInput& in = own_in;
  in.set(x, D);
  for (const Linear* l : gate_up) in.prepare(l->w);
  pool.run_items(gate_up_items.size(), [&](int, int64_t b, int64_t e) {
    gate_up_items.for_runs(b, e, [&](int32_t m, int64_t r0, int64_t r1) {
      float* y = (m % 2 == 0 ? s.expert_gate : s.expert_up).data() + int64_t(m / 2) * widest;
      expert_rows(*gate_up[size_t(m)], r0, r1, in, y + r0);
    });
  });
  std::vector<int32_t> holds(size_t(pool.size()), -1);  // the expert whose hidden vector thread t holds
  pool.run_items(down_items.size(), [&](int tid, int64_t b, int64_t e) {
    thread_local std::vector<float> hidden;
    thread_local TokenInput hidden_in;
    down_items.for_runs(b, e, [&](int32_t m, int64_t r0, int64_t r1) {
      const Linear& l = *down[size_t(m)];
      if (holds[size_t(tid)] != m) {
        const int64_t width = l.in(), at = int64_t(m) * widest;
        hidden.resize(size_t(width));
        swiglu(hidden.data(), s.expert_gate.data() + at, s.expert_up.data() + at, width);
        hidden_in.set(hidden.data(), width);
        hidden_in.prepare(l.w);
        holds[size_t(tid)] = m;
      }
      expert_rows(l, r0, r1, hidden_in, s.expert_out.data() + int64_t(m) * D + r0);
    });
  });
  for (int64_t d = 0; d < D; d++) out[d] = shared ? s.expert_out[size_t(K * D + d)] : 0.0f;
  for (int64_t k : order) {
    const float wk = s.weights[size_t(k)];
    const float* y = s.expert_out.data() + k * D;
    for (int64_t d = 0; d < D; d++) out[d] += wk * y[d];
  }
}
}  // namespace

void ffn_forward(const FfnWeights& w, const float* x, int64_t n, float* out, FfnScratch& s, ThreadPool& pool) {
  ffn_rows(w, x, n, out, s.gate.data(), s.up.data(), pool);
}

void moe_forward(const DeepseekConfig& c, const MoeWeights& w, const float* x, int64_t n, float* out, FfnScratch& s,
                 ThreadPool& pool) {
  const int64_t D = c.n_embd, E = c.n_expert, K = c.n_expert_used;
  matmul(w.router, x, n, s.logits.data(), pool);
  const float* bias = w.score_bias.data ? static_cast<const float*>(w.score_bias.data) : nullptr;
  for_tokens(pool, n, [&](int64_t i) {
    route_token(c, s.logits.data() + i * E, bias, s.chosen.data() + i * K, s.weights.data() + i * K);
  });

  if (n == 1) return moe_one_token(c, w, x, out, s, pool);
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
