#include "train/moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "train/kernels.h"

namespace r1::train {

template <typename T>
void swiglu_mlp_forward(ThreadPool* pool, const T* P, size_t gate, size_t up, size_t down, const T* x, int64_t n,
                        int64_t d, int64_t width, T* y, SwigluActs<T>& a) {
  const size_t nw = size_t(n * width);
  a.g.resize(nw);
  a.u.resize(nw);
  a.h.resize(nw);
  linear_forward(pool, a.g.data(), x, P + gate, n, d, width);
  linear_forward(pool, a.u.data(), x, P + up, n, d, width);
  swiglu_forward(a.h.data(), a.g.data(), a.u.data(), int64_t(nw));
  linear_forward(pool, y, a.h.data(), P + down, n, width, d);
}

template <typename T>
void swiglu_mlp_backward(ThreadPool* pool, const T* P, T* G, size_t gate, size_t up, size_t down, const T* x,
                         int64_t n, int64_t d, int64_t width, const T* dy, T* dx, const SwigluActs<T>& a) {
  const size_t nw = size_t(n * width);
  std::vector<T> dh(nw, T(0)), dg(nw, T(0)), du(nw, T(0));
  linear_backward(pool, dh.data(), G + down, dy, a.h.data(), P + down, n, width, d);
  swiglu_backward(dg.data(), du.data(), dh.data(), a.g.data(), a.u.data(), int64_t(nw));
  linear_backward(pool, dx, G + gate, dg.data(), x, P + gate, n, d, width);
  linear_backward(pool, dx, G + up, du.data(), x, P + up, n, d, width);
}

template <typename T>
void moe_forward(ThreadPool* pool, const ModelConfig& c, const BlockLayout& L, const T* P, const float* bias,
                 const T* x, int64_t B, int64_t S, double alpha, T* y, MoeActs<T>& a) {
  const int64_t N = B * S, D = c.n_embd, E = c.n_expert, K = c.n_expert_used, F = c.n_ff_expert;
  // Router: sigmoid scores; the bias only decides which experts are chosen.
  a.s.resize(size_t(N * E));
  linear_forward(pool, a.s.data(), x, P + L.router, N, D, E);
  for (T& v : a.s) v = T(1) / (T(1) + std::exp(-v));
  a.idx.resize(size_t(N * K));
  a.w.resize(size_t(N * K));
  a.sel_sum.resize(size_t(N));
  a.slots.assign(size_t(E), {});
  a.load.assign(size_t(E), 0);
  std::vector<int32_t> order(static_cast<size_t>(E));
  for (int64_t n = 0; n < N; n++) {
    const T* s = &a.s[size_t(n * E)];
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int32_t i, int32_t j) { return double(s[i]) + bias[i] > double(s[j]) + bias[j]; });
    T sum = 0;
    for (int64_t k = 0; k < K; k++) sum += s[order[size_t(k)]];
    a.sel_sum[size_t(n)] = sum;
    for (int64_t k = 0; k < K; k++) {
      const int32_t e = order[size_t(k)];
      a.idx[size_t(n * K + k)] = e;
      a.w[size_t(n * K + k)] = T(c.route_scale) * s[e] / sum;
      a.slots[size_t(e)].push_back(n * K + k);
      a.load[size_t(e)]++;
    }
  }
  // Shared experts see every token, unweighted.
  std::fill(y, y + N * D, T(0));
  if (c.n_expert_shared > 0) {
    a.shared_y.resize(size_t(N * D));
    swiglu_mlp_forward(pool, P, L.s_gate, L.s_up, L.s_down, x, N, D, c.n_expert_shared * F, a.shared_y.data(), a.shared);
    for (int64_t i = 0; i < N * D; i++) y[i] = a.shared_y[size_t(i)];
  }
  a.xe.assign(size_t(E), {});
  a.ye.assign(size_t(E), {});
  a.experts.assign(size_t(E), {});
  for (int64_t e = 0; e < E; e++) {
    const auto& slots = a.slots[size_t(e)];
    const int64_t cnt = int64_t(slots.size());
    if (cnt == 0) continue;
    auto& xe = a.xe[size_t(e)];
    auto& ye = a.ye[size_t(e)];
    xe.resize(size_t(cnt * D));
    ye.resize(size_t(cnt * D));
    for (int64_t j = 0; j < cnt; j++) std::copy_n(x + (slots[size_t(j)] / K) * D, D, &xe[size_t(j * D)]);
    swiglu_mlp_forward(pool, P, L.e_gate[size_t(e)], L.e_up[size_t(e)], L.e_down[size_t(e)], xe.data(), cnt, D, F,
                       ye.data(), a.experts[size_t(e)]);
    for (int64_t j = 0; j < cnt; j++) {
      const int64_t slot = slots[size_t(j)];
      const T w = a.w[size_t(slot)];
      T* yr = y + (slot / K) * D;
      for (int64_t i = 0; i < D; i++) yr[i] += w * ye[size_t(j * D + i)];
    }
  }
  // Sequence-wise balance loss: f_i = E/(K·S)·(tokens of the sequence routed to i),
  // P_i = mean over the sequence of s_i / Σ_j s_j.
  a.balance_loss = 0;
  if (alpha == 0) return;
  for (int64_t b = 0; b < B; b++) {
    std::vector<double> f(size_t(E), 0.0), p(size_t(E), 0.0);
    for (int64_t t = 0; t < S; t++) {
      const int64_t n = b * S + t;
      for (int64_t k = 0; k < K; k++) f[size_t(a.idx[size_t(n * K + k)])] += double(E) / double(K * S);
      const T* s = &a.s[size_t(n * E)];
      double z = 0;
      for (int64_t e = 0; e < E; e++) z += double(s[e]);
      for (int64_t e = 0; e < E; e++) p[size_t(e)] += double(s[e]) / z / double(S);
    }
    for (int64_t e = 0; e < E; e++) a.balance_loss += alpha * f[size_t(e)] * p[size_t(e)] / double(B);
  }
}

template <typename T>
void moe_backward(ThreadPool* pool, const ModelConfig& c, const BlockLayout& L, const T* P, T* G, const T* x,
                  int64_t B, int64_t S, double alpha, const T* dy, T* dx, const MoeActs<T>& a) {
  const int64_t N = B * S, D = c.n_embd, E = c.n_expert, K = c.n_expert_used, F = c.n_ff_expert;
  if (c.n_expert_shared > 0) {
    swiglu_mlp_backward(pool, P, G, L.s_gate, L.s_up, L.s_down, x, N, D, c.n_expert_shared * F, dy, dx, a.shared);
  }
  std::vector<T> dw(size_t(N * K), T(0));
  for (int64_t e = 0; e < E; e++) {
    const auto& slots = a.slots[size_t(e)];
    const int64_t cnt = int64_t(slots.size());
    if (cnt == 0) continue;
    const auto& ye = a.ye[size_t(e)];
    std::vector<T> dye(size_t(cnt * D)), dxe(size_t(cnt * D), T(0));
    for (int64_t j = 0; j < cnt; j++) {
      const int64_t slot = slots[size_t(j)];
      const T* dyr = dy + (slot / K) * D;
      T acc = 0;
      for (int64_t i = 0; i < D; i++) {
        dye[size_t(j * D + i)] = a.w[size_t(slot)] * dyr[i];
        acc += dyr[i] * ye[size_t(j * D + i)];
      }
      dw[size_t(slot)] = acc;
    }
    swiglu_mlp_backward(pool, P, G, L.e_gate[size_t(e)], L.e_up[size_t(e)], L.e_down[size_t(e)],
                        a.xe[size_t(e)].data(), cnt, D, F, dye.data(), dxe.data(), a.experts[size_t(e)]);
    for (int64_t j = 0; j < cnt; j++) {
      T* dxr = dx + (slots[size_t(j)] / K) * D;
      for (int64_t i = 0; i < D; i++) dxr[i] += dxe[size_t(j * D + i)];
    }
  }
  // Scores: w_k = rs·s_k / Σ_sel s, so ds_j = rs·(dw_j − Σ_k dw_k·s_k / Σ) / Σ for chosen j.
  std::vector<T> ds(size_t(N * E), T(0));
  for (int64_t n = 0; n < N; n++) {
    const T* s = &a.s[size_t(n * E)];
    const T sum = a.sel_sum[size_t(n)];
    T dot = 0;
    for (int64_t k = 0; k < K; k++) dot += dw[size_t(n * K + k)] * s[a.idx[size_t(n * K + k)]];
    for (int64_t k = 0; k < K; k++) {
      const int32_t e = a.idx[size_t(n * K + k)];
      ds[size_t(n * E + e)] += T(c.route_scale) * (dw[size_t(n * K + k)] - dot / sum) / sum;
    }
  }
  if (alpha != 0) {
    for (int64_t b = 0; b < B; b++) {
      std::vector<double> f(size_t(E), 0.0);
      for (int64_t t = 0; t < S; t++) {
        for (int64_t k = 0; k < K; k++) f[size_t(a.idx[size_t((b * S + t) * K + k)])] += double(E) / double(K * S);
      }
      // d/ds_i of α/B · Σ_e f_e · (1/S)·Σ_t s_e/z_t = α/(B·S) · (f_i − Σ_e f_e s_e / z) / z.
      for (int64_t t = 0; t < S; t++) {
        const int64_t n = b * S + t;
        const T* s = &a.s[size_t(n * E)];
        double z = 0, fs = 0;
        for (int64_t e = 0; e < E; e++) {
          z += double(s[e]);
          fs += f[size_t(e)] * double(s[e]);
        }
        for (int64_t e = 0; e < E; e++) {
          ds[size_t(n * E + e)] += T(alpha / double(B * S) * (f[size_t(e)] - fs / z) / z);
        }
      }
    }
  }
  for (int64_t i = 0; i < N * E; i++) ds[size_t(i)] *= a.s[size_t(i)] * (T(1) - a.s[size_t(i)]);  // sigmoid'
  linear_backward(pool, dx, G + L.router, ds.data(), x, P + L.router, N, D, E);
}

void update_router_bias(std::vector<float>& bias, const std::vector<int64_t>& load, double gamma) {
  if (load.empty()) return;
  const double mean = double(std::accumulate(load.begin(), load.end(), int64_t{0})) / double(load.size());
  for (size_t i = 0; i < bias.size() && i < load.size(); i++) {
    if (double(load[i]) > mean) bias[i] -= float(gamma);
    if (double(load[i]) < mean) bias[i] += float(gamma);
  }
}

#define R1_TRAIN_MOE(T)                                                                                            \
  template void swiglu_mlp_forward<T>(ThreadPool*, const T*, size_t, size_t, size_t, const T*, int64_t, int64_t, \
                                      int64_t, T*, SwigluActs<T>&);                                               \
  template void swiglu_mlp_backward<T>(ThreadPool*, const T*, T*, size_t, size_t, size_t, const T*, int64_t,     \
                                       int64_t, int64_t, const T*, T*, const SwigluActs<T>&);                    \
  template void moe_forward<T>(ThreadPool*, const ModelConfig&, const BlockLayout&, const T*, const float*,       \
                               const T*, int64_t, int64_t, double, T*, MoeActs<T>&);                              \
  template void moe_backward<T>(ThreadPool*, const ModelConfig&, const BlockLayout&, const T*, T*, const T*,      \
                                int64_t, int64_t, double, const T*, T*, const MoeActs<T>&);
R1_TRAIN_MOE(float)
R1_TRAIN_MOE(double)

}  // namespace r1::train
