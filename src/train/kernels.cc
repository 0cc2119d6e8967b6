#include "train/kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "train/gemm.h"
#include "util/cpu.h"
#include "util/threadpool.h"

namespace r1::train {
namespace {

void parallel(ThreadPool* pool, int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (!pool || pool->size() == 1 || n < 2) {
    fn(0, n);
    return;
  }
  pool->parallel_for(n, 1, fn);
}

// Eight independent partial sums so the compiler can keep them in vector lanes without
// reassociating (no -ffast-math).
template <typename T>
T dot(const T* a, const T* b, int64_t n) {
  T s[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; j++) s[j] += a[i + j] * b[i + j];
  }
  T r = 0;
  for (; i < n; i++) r += a[i] * b[i];
  return r + ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

template <typename T>
void axpy(T* y, T a, const T* x, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

// Portable loops of the same shape as a generic T, used for double and as gemm_*_portable.
template <typename T>
void abt(T* c, const T* a, const T* b, int64_t i0, int64_t i1, int64_t n_j, int64_t n_k) {
  for (int64_t i = i0; i < i1; i++) {
    for (int64_t j = 0; j < n_j; j++) c[i * n_j + j] = dot(a + i * n_k, b + j * n_k, n_k);
  }
}

template <typename T>
void acc(T* c, const T* a, int64_t a_rs, int64_t a_cs, const T* b, int64_t i0, int64_t i1, int64_t n_k, int64_t n_j) {
  for (int64_t i = i0; i < i1; i++) {
    for (int64_t k = 0; k < n_k; k++) {
      const T s = a[i * a_rs + k * a_cs];
      if (s != T(0)) axpy(c + i * n_j, s, b + k * n_j, n_j);
    }
  }
}

bool use_avx2() {
#ifdef R1_HAVE_X86_KERNELS
  static const bool yes = cpu_features().avx2 && cpu_features().fma;
  return yes;
#else
  return false;
#endif
}

void run_abt(float* c, const float* a, const float* b, int64_t i0, int64_t i1, int64_t n_j, int64_t n_k) {
  gemm_abt(c, a, b, i0, i1, n_j, n_k);
}
void run_abt(double* c, const double* a, const double* b, int64_t i0, int64_t i1, int64_t n_j, int64_t n_k) {
  abt(c, a, b, i0, i1, n_j, n_k);
}
void run_acc(float* c, const float* a, int64_t a_rs, int64_t a_cs, const float* b, int64_t i0, int64_t i1, int64_t n_k,
             int64_t n_j) {
  gemm_acc(c, a, a_rs, a_cs, b, i0, i1, n_k, n_j);
}
void run_acc(double* c, const double* a, int64_t a_rs, int64_t a_cs, const double* b, int64_t i0, int64_t i1,
             int64_t n_k, int64_t n_j) {
  acc(c, a, a_rs, a_cs, b, i0, i1, n_k, n_j);
}

}  // namespace

void gemm_abt_portable(float* c, const float* a, const float* b, int64_t i0, int64_t i1, int64_t n_j, int64_t n_k) {
  abt(c, a, b, i0, i1, n_j, n_k);
}
void gemm_acc_portable(float* c, const float* a, int64_t a_rs, int64_t a_cs, const float* b, int64_t i0, int64_t i1,
                       int64_t n_k, int64_t n_j) {
  acc(c, a, a_rs, a_cs, b, i0, i1, n_k, n_j);
}
void gemm_abt(float* c, const float* a, const float* b, int64_t i0, int64_t i1, int64_t n_j, int64_t n_k) {
#ifdef R1_HAVE_X86_KERNELS
  if (use_avx2()) return gemm_abt_avx2(c, a, b, i0, i1, n_j, n_k);
#endif
  gemm_abt_portable(c, a, b, i0, i1, n_j, n_k);
}
void gemm_acc(float* c, const float* a, int64_t a_rs, int64_t a_cs, const float* b, int64_t i0, int64_t i1, int64_t n_k,
              int64_t n_j) {
#ifdef R1_HAVE_X86_KERNELS
  if (use_avx2()) return gemm_acc_avx2(c, a, a_rs, a_cs, b, i0, i1, n_k, n_j);
#endif
  gemm_acc_portable(c, a, a_rs, a_cs, b, i0, i1, n_k, n_j);
}

template <typename T>
void linear_forward(ThreadPool* pool, T* y, const T* x, const T* w, int64_t n, int64_t in, int64_t out) {
  // y = x·Wᵀ. Threads split the rows of y; with few rows (decode-like) they split y's columns
  // by computing yᵀ = W·xᵀ blocks instead.
  if (n >= 8 || !pool) {
    parallel(pool, n, [&](int64_t b, int64_t e) { run_abt(y, x, w, b, e, out, in); });
    return;
  }
  parallel(pool, out, [&](int64_t b, int64_t e) {
    for (int64_t r = 0; r < n; r++) {
      for (int64_t o = b; o < e; o++) y[r * out + o] = dot(x + r * in, w + o * in, in);
    }
  });
}

template <typename T>
void linear_backward(ThreadPool* pool, T* dx, T* dw, const T* dy, const T* x, const T* w, int64_t n, int64_t in,
                     int64_t out) {
  // dx[r] += Σ_o dy[r][o]·W[o] (rows of dx split across threads); dW[o] += Σ_r dy[r][o]·x[r]
  // (rows of dW split), i.e. A = dyᵀ read through strides.
  if (dx) parallel(pool, n, [&](int64_t b, int64_t e) { run_acc(dx, dy, out, 1, w, b, e, out, in); });
  parallel(pool, out, [&](int64_t b, int64_t e) { run_acc(dw, dy, 1, out, x, b, e, n, in); });
}

template <typename T>
void rmsnorm_forward(T* y, T* rstd, const T* x, const T* w, int64_t n, int64_t d, double eps) {
  for (int64_t r = 0; r < n; r++) {
    const T* xr = x + r * d;
    const T inv = T(1) / std::sqrt(dot(xr, xr, d) / T(d) + T(eps));
    rstd[r] = inv;
    for (int64_t i = 0; i < d; i++) y[r * d + i] = w[i] * (xr[i] * inv);
  }
}

template <typename T>
void rmsnorm_backward(T* dx, T* dw, const T* dy, const T* x, const T* w, const T* rstd, int64_t n, int64_t d) {
  // With g = dy ⊙ w and r = rstd: dx = r·g − r³·x·(g·x)/d.
  for (int64_t r = 0; r < n; r++) {
    const T* xr = x + r * d;
    const T* dyr = dy + r * d;
    const T inv = rstd[r];
    T gx = 0;
    for (int64_t i = 0; i < d; i++) {
      gx += dyr[i] * w[i] * xr[i];
      dw[i] += dyr[i] * xr[i] * inv;
    }
    const T c = inv * inv * inv * gx / T(d);
    for (int64_t i = 0; i < d; i++) dx[r * d + i] += inv * dyr[i] * w[i] - c * xr[i];
  }
}

template <typename T>
void swiglu_forward(T* h, const T* g, const T* u, int64_t n) {
  for (int64_t i = 0; i < n; i++) h[i] = g[i] / (T(1) + std::exp(-g[i])) * u[i];
}

template <typename T>
void swiglu_backward(T* dg, T* du, const T* dh, const T* g, const T* u, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const T sig = T(1) / (T(1) + std::exp(-g[i]));
    const T silu = g[i] * sig;
    du[i] += dh[i] * silu;
    dg[i] += dh[i] * u[i] * sig * (T(1) + g[i] * (T(1) - sig));  // silu' = σ(1 + g(1 − σ))
  }
}

template <typename T>
void rope_rotate(T* x, const T* cos, const T* sin, int64_t half, bool inverse) {
  for (int64_t i = 0; i < half; i++) {
    const T c = cos[i], s = inverse ? -sin[i] : sin[i];
    const T a = x[2 * i], b = x[2 * i + 1];
    x[2 * i] = a * c - b * s;
    x[2 * i + 1] = a * s + b * c;
  }
}

template <typename T>
void attention_forward(T* o, T* p, const T* q, const T* k, const T* v, const HeadShape& s) {
  for (int64_t i = 0; i < s.t; i++) {
    T* pr = p + i * s.t;
    T mx = -std::numeric_limits<T>::infinity();
    for (int64_t j = 0; j <= i; j++) {
      pr[j] = dot(q + i * s.q_stride, k + j * s.k_stride, s.dk) * T(s.scale);
      mx = std::max(mx, pr[j]);
    }
    T sum = 0;
    for (int64_t j = 0; j <= i; j++) {
      pr[j] = std::exp(pr[j] - mx);
      sum += pr[j];
    }
    for (int64_t j = 0; j <= i; j++) pr[j] /= sum;
    for (int64_t j = i + 1; j < s.t; j++) pr[j] = 0;
    T* orow = o + i * s.o_stride;
    std::fill(orow, orow + s.dv, T(0));
    for (int64_t j = 0; j <= i; j++) axpy(orow, pr[j], v + j * s.v_stride, s.dv);
  }
}

template <typename T>
void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* p, const T* q, const T* k, const T* v,
                        const HeadShape& s) {
  std::vector<T> dp(static_cast<size_t>(s.t));
  for (int64_t i = 0; i < s.t; i++) {
    const T* pr = p + i * s.t;
    const T* dor = dout + i * s.o_stride;
    // dP = dO·Vᵀ, dV += Pᵀ·dO, then the softmax backward dS = P ⊙ (dP − Σ P·dP).
    T pdp = 0;
    for (int64_t j = 0; j <= i; j++) {
      dp[size_t(j)] = dot(dor, v + j * s.v_stride, s.dv);
      pdp += pr[j] * dp[size_t(j)];
      axpy(dv + j * s.v_stride, pr[j], dor, s.dv);
    }
    for (int64_t j = 0; j <= i; j++) {
      const T ds = pr[j] * (dp[size_t(j)] - pdp) * T(s.scale);
      axpy(dq + i * s.q_stride, ds, k + j * s.k_stride, s.dk);
      axpy(dk + j * s.k_stride, ds, q + i * s.q_stride, s.dk);
    }
  }
}

template <typename T>
double cross_entropy(T* dlogits, const T* logits, const int32_t* targets, int64_t n, int64_t v, double scale) {
  double loss = 0;
  for (int64_t r = 0; r < n; r++) {
    const T* lr = logits + r * v;
    T* dr = dlogits ? dlogits + r * v : nullptr;
    if (targets[r] < 0) {
      if (dr) std::fill(dr, dr + v, T(0));
      continue;
    }
    const T mx = *std::max_element(lr, lr + v);
    double sum = 0;
    for (int64_t i = 0; i < v; i++) sum += std::exp(double(lr[i] - mx));
    loss += std::log(sum) - double(lr[targets[r]] - mx);
    if (!dr) continue;
    for (int64_t i = 0; i < v; i++) dr[i] = T(std::exp(double(lr[i] - mx)) / sum * scale);
    dr[targets[r]] -= T(scale);
  }
  return loss;
}

template <typename T>
void embed_rows(T* out, const T* table, const int32_t* ids, int64_t n, int64_t d) {
  for (int64_t i = 0; i < n; i++) std::copy_n(table + int64_t(ids[i]) * d, d, out + i * d);
}

template <typename T>
void embed_rows_backward(T* dtable, const T* dout, const int32_t* ids, int64_t n, int64_t d) {
  for (int64_t i = 0; i < n; i++) {
    T* row = dtable + int64_t(ids[i]) * d;
    for (int64_t j = 0; j < d; j++) row[j] += dout[i * d + j];
  }
}

template <typename T>
double weighted_ce(T* dlogits, const T* logits, const int32_t* targets, const float* weights, double default_weight,
                   int64_t n, int64_t v, double* logprobs) {
  double loss = 0;
  for (int64_t r = 0; r < n; r++) {
    const double w = weights ? double(weights[r]) : default_weight;
    const double ce = cross_entropy(dlogits ? dlogits + r * v : nullptr, logits + r * v, targets + r, 1, v, w);
    if (logprobs) logprobs[r] = targets[r] < 0 ? 0.0 : -ce;
    if (targets[r] >= 0) loss += w * ce;
  }
  return loss;
}

#define R1_TRAIN_KERNELS(T)                                                                                      \
  template void linear_forward<T>(ThreadPool*, T*, const T*, const T*, int64_t, int64_t, int64_t);               \
  template void linear_backward<T>(ThreadPool*, T*, T*, const T*, const T*, const T*, int64_t, int64_t, int64_t); \
  template void rmsnorm_forward<T>(T*, T*, const T*, const T*, int64_t, int64_t, double);                        \
  template void rmsnorm_backward<T>(T*, T*, const T*, const T*, const T*, const T*, int64_t, int64_t);           \
  template void swiglu_forward<T>(T*, const T*, const T*, int64_t);                                              \
  template void swiglu_backward<T>(T*, T*, const T*, const T*, const T*, int64_t);                               \
  template void rope_rotate<T>(T*, const T*, const T*, int64_t, bool);                                           \
  template void attention_forward<T>(T*, T*, const T*, const T*, const T*, const HeadShape&);                    \
  template void attention_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, const T*,               \
                                      const HeadShape&);                                                          \
  template double cross_entropy<T>(T*, const T*, const int32_t*, int64_t, int64_t, double);                     \
  template void embed_rows<T>(T*, const T*, const int32_t*, int64_t, int64_t);                                   \
  template void embed_rows_backward<T>(T*, const T*, const int32_t*, int64_t, int64_t);                          \
  template double weighted_ce<T>(T*, const T*, const int32_t*, const float*, double, int64_t, int64_t, double*);
R1_TRAIN_KERNELS(float)
R1_TRAIN_KERNELS(double)

}  // namespace r1::train
