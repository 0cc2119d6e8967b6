// The end both trainable models share: final RMSNorm → untied head → weighted next-token
// cross-entropy, and its backward. Holds the activations of the last forward.
#pragma once
#include <cstdint>
#include <vector>

#include "train/policy.h"

namespace r1 {
class ThreadPool;
}

namespace r1::train {

template <typename T>
struct LmHead {
  std::vector<T> h_last, final_rstd, final, logits;  // h_last: the last block's output [N][D]
  std::vector<double> logprobs;                      // log p(target) per position (0 unscored)

  // h: [N][D]; norm and head: offsets in P. Sets rep->n_scored and rep->lm (each scored token
  // weighted by batch.weights, else 1 / n_scored). Returns d(lm)/d(logits) with backward, else {}.
  std::vector<T> forward(ThreadPool* pool, const T* P, size_t norm, size_t head, const T* h, const Batch& batch,
                         int64_t D, int64_t V, double rms_eps, bool backward, LossReport* rep);
  // Accumulates the head's and the norm's gradients into G; returns d(lm)/d(h_last).
  std::vector<T> backward(ThreadPool* pool, const T* P, T* G, size_t norm, size_t head, const std::vector<T>& dlogits,
                          int64_t D, int64_t V) const;
};

}  // namespace r1::train
