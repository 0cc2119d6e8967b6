#include "train/lm_head.h"

#include "train/kernels.h"

namespace r1::train {

template <typename T>
std::vector<T> LmHead<T>::forward(ThreadPool* pool, const T* P, size_t norm, size_t head, const T* h,
                                  const Batch& batch, int64_t D, int64_t V, double rms_eps, bool backward,
                                  LossReport* rep) {
  const int64_t N = batch.B * batch.S;
  h_last.assign(h, h + N * D);
  final.resize(size_t(N * D));
  final_rstd.resize(size_t(N));
  rmsnorm_forward(final.data(), final_rstd.data(), h_last.data(), P + norm, N, D, rms_eps);
  logits.resize(size_t(N * V));
  linear_forward(pool, logits.data(), final.data(), P + head, N, D, V);

  for (int32_t t : batch.targets) rep->n_scored += t >= 0;
  std::vector<T> dlogits(backward ? size_t(N * V) : 0);
  logprobs.assign(size_t(N), 0.0);
  rep->lm = weighted_ce(backward ? dlogits.data() : nullptr, logits.data(), batch.targets.data(),
                        batch.weights.empty() ? nullptr : batch.weights.data(),
                        rep->n_scored ? 1.0 / double(rep->n_scored) : 0.0, N, V, logprobs.data());
  return dlogits;
}

template <typename T>
std::vector<T> LmHead<T>::backward(ThreadPool* pool, const T* P, T* G, size_t norm, size_t head,
                                   const std::vector<T>& dlogits, int64_t D, int64_t V) const {
  const int64_t N = int64_t(final_rstd.size());
  std::vector<T> dfinal(size_t(N * D), T(0)), dh(size_t(N * D), T(0));
  linear_backward(pool, dfinal.data(), G + head, dlogits.data(), final.data(), P + head, N, D, V);
  rmsnorm_backward(dh.data(), G + norm, dfinal.data(), h_last.data(), P + norm, final_rstd.data(), N, D);
  return dh;
}

template struct LmHead<float>;
template struct LmHead<double>;

}  // namespace r1::train
