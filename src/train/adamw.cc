#include "train/adamw.h"

#include <cmath>
#include <numbers>

#include "core/error.h"

namespace r1::train {

double lr_at(const OptimConfig& o, int64_t step) {
  if (step < o.warmup) return o.lr * double(step + 1) / double(o.warmup);
  const int64_t span = std::max<int64_t>(1, o.total_steps - o.warmup);
  const double progress = std::min(1.0, double(step - o.warmup) / double(span));
  const double cosine = 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  return o.lr * (o.min_lr_ratio + (1.0 - o.min_lr_ratio) * cosine);
}

AdamW::AdamW(const ParamLayout& layout, const OptimConfig& o) : m(layout.total, 0.0f), v(layout.total, 0.0f), o_(o) {
  if (!(o.lr > 0) || o.beta1 < 0 || o.beta1 >= 1 || o.beta2 < 0 || o.beta2 >= 1 || o.weight_decay < 0 || o.grad_clip < 0) {
    fail("optimizer: lr must be > 0, betas in [0, 1), weight decay and clip >= 0");
  }
  decay_.assign(layout.total, 0);
  for (const ParamTensor& t : layout.tensors) {
    if (t.decay) std::fill(decay_.begin() + long(t.offset), decay_.begin() + long(t.offset + t.size), 1);
  }
}

double AdamW::step(float* params, float* grads) {
  const size_t n = m.size();
  double sq = 0;
  for (size_t i = 0; i < n; i++) sq += double(grads[i]) * double(grads[i]);
  const double norm = std::sqrt(sq);
  if (!std::isfinite(norm)) fail("optimizer: the gradient norm is not finite (", norm, "); lower the learning rate");
  const float clip = o_.grad_clip > 0 && norm > o_.grad_clip ? float(o_.grad_clip / norm) : 1.0f;
  const double lr = lr_at(o_, t_);
  t_++;
  const double bc1 = 1.0 - std::pow(o_.beta1, double(t_)), bc2 = 1.0 - std::pow(o_.beta2, double(t_));
  const float b1 = float(o_.beta1), b2 = float(o_.beta2);
  const float step_size = float(lr / bc1), decay = float(lr * o_.weight_decay), eps = float(o_.eps);
  const float inv_sqrt_bc2 = float(1.0 / std::sqrt(bc2));
  for (size_t i = 0; i < n; i++) {
    const float g = grads[i] * clip;
    m[i] = b1 * m[i] + (1 - b1) * g;
    v[i] = b2 * v[i] + (1 - b2) * g * g;
    if (decay_[i]) params[i] -= decay * params[i];  // decoupled decay (the "W" of AdamW)
    params[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
  }
  return norm;
}

}  // namespace r1::train
