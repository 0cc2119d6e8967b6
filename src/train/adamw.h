// AdamW with global-norm gradient clipping and a warm-up + cosine learning-rate schedule
// (V3 §4.2: β 0.9 / 0.95, weight decay 0.1, clip 1.0). Decay applies only to the tensors the
// layout marks (matrices), never to norms or the router.
#pragma once
#include <cstdint>
#include <vector>

#include "train/params.h"

namespace r1::train {

struct OptimConfig {
  double lr = 1e-3;            // peak
  double min_lr_ratio = 0.1;   // the cosine ends at lr · min_lr_ratio
  int64_t warmup = 0;          // steps of linear warm-up from 0
  int64_t total_steps = 1;     // the cosine reaches its end here
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double weight_decay = 0.1;
  double grad_clip = 1.0;      // max global L2 norm; 0 = no clipping
};

// Learning rate at step (0-based): linear warm-up, then cosine from lr to lr · min_lr_ratio.
double lr_at(const OptimConfig& o, int64_t step);

class AdamW {
 public:
  AdamW(const ParamLayout& layout, const OptimConfig& o);
  // One update with this step's learning rate; clips grads in place first. Returns the global
  // gradient norm before clipping.
  double step(float* params, float* grads);

  const OptimConfig& config() const { return o_; }
  int64_t steps_done() const { return t_; }
  // Moments, for checkpoints.
  std::vector<float> m, v;
  void restore(int64_t steps_done) { t_ = steps_done; }

 private:
  OptimConfig o_;
  std::vector<uint8_t> decay_;  // per parameter element: 1 where weight decay applies
  int64_t t_ = 0;
};

}  // namespace r1::train
