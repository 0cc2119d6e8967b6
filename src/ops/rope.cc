#include "ops/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace r1 {
namespace {

void validate(const RopeParams& p) {
  if (p.n_dims <= 0 || p.n_dims % 2 != 0) fail("rope: n_dims must be positive and even, got ", p.n_dims);
  if (!p.freq_factors.empty() && static_cast<int>(p.freq_factors.size()) != p.n_dims / 2)
    fail("rope: ", p.freq_factors.size(), " frequency factors for ", p.n_dims / 2, " pairs");
  if (!(p.theta > 0)) fail("rope: theta must be positive");
}

// Rotates pairs of one head with per-pair cos/sin.
void rotate(float* x, int n_dims, RopePairing pairing, const float* c, const float* s) {
  const int half = n_dims / 2;
  for (int i = 0; i < half; ++i) {
    const int i0 = pairing == RopePairing::kNorm ? 2 * i : i;
    const int i1 = pairing == RopePairing::kNorm ? 2 * i + 1 : i + half;
    const float x0 = x[i0], x1 = x[i1];
    x[i0] = x0 * c[i] - x1 * s[i];
    x[i1] = x0 * s[i] + x1 * c[i];
  }
}

void cos_sin_at(const std::vector<double>& freqs, int64_t pos, float mscale, float* c, float* s) {
  for (size_t i = 0; i < freqs.size(); ++i) {
    const double angle = static_cast<double>(pos) * freqs[i];
    c[i] = static_cast<float>(std::cos(angle)) * mscale;
    s[i] = static_cast<float>(std::sin(angle)) * mscale;
  }
}

}  // namespace

void yarn_corr_dims(const RopeParams& p, double* low, double* high) {
  const auto corr = [&](double rotations) {
    return p.n_dims * std::log(p.yarn_orig_ctx / (2 * std::numbers::pi * rotations)) / (2 * std::log(p.theta));
  };
  *low = std::max(0.0, std::floor(corr(p.yarn_beta_fast)));
  *high = std::min(static_cast<double>(p.n_dims - 1), std::ceil(corr(p.yarn_beta_slow)));
}

std::vector<double> rope_frequencies(const RopeParams& p) {
  validate(p);
  const int half = p.n_dims / 2;
  std::vector<double> f(half);
  double low = 0, high = 0;
  if (p.yarn_factor > 1) yarn_corr_dims(p, &low, &high);
  for (int i = 0; i < half; ++i) {
    double theta = std::pow(p.theta, -2.0 * i / p.n_dims);
    if (!p.freq_factors.empty()) theta /= p.freq_factors[i];
    if (p.yarn_factor > 1) {
      const double ramp = std::clamp((i - low) / std::max(0.001, high - low), 0.0, 1.0);
      theta = theta / p.yarn_factor * ramp + theta * (1 - ramp);
    }
    f[i] = theta;
  }
  return f;
}

std::vector<float> llama3_freq_factors(int n_dims, double theta, double factor, double low_freq_factor,
                                       double high_freq_factor, double orig_ctx) {
  std::vector<float> out(n_dims / 2);
  const double low_wavelen = orig_ctx / low_freq_factor, high_wavelen = orig_ctx / high_freq_factor;
  for (int i = 0; i < n_dims / 2; ++i) {
    const double freq = std::pow(theta, -2.0 * i / n_dims);
    const double wavelen = 2 * std::numbers::pi / freq;
    double divisor = 1;
    if (wavelen > low_wavelen) {
      divisor = factor;
    } else if (wavelen >= high_wavelen) {
      const double smooth = (orig_ctx / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
      divisor = 1 / ((1 - smooth) / factor + smooth);
    }
    out[i] = static_cast<float>(divisor);
  }
  return out;
}

RopeTable::RopeTable(const RopeParams& p, int64_t n_pos) : p_(p), n_pos_(n_pos) {
  const std::vector<double> freqs = rope_frequencies(p);
  const size_t half = freqs.size();
  cos_.resize(half * static_cast<size_t>(n_pos));
  sin_.resize(half * static_cast<size_t>(n_pos));
  for (int64_t pos = 0; pos < n_pos; ++pos) cos_sin_at(freqs, pos, p.mscale, &cos_[pos * half], &sin_[pos * half]);
}

void RopeTable::apply(float* x, int n_heads, int64_t head_stride, int64_t pos) const {
  if (pos < 0 || pos >= n_pos_) fail("rope: position ", pos, " outside the table's ", n_pos_, " positions");
  const size_t half = static_cast<size_t>(p_.n_dims / 2);
  for (int h = 0; h < n_heads; ++h)
    rotate(x + h * head_stride, p_.n_dims, p_.pairing, &cos_[pos * half], &sin_[pos * half]);
}

void rope_apply(float* x, int n_heads, int64_t head_stride, int64_t pos, const RopeParams& p) {
  const std::vector<double> freqs = rope_frequencies(p);
  std::vector<float> c(freqs.size()), s(freqs.size());
  cos_sin_at(freqs, pos, p.mscale, c.data(), s.data());
  for (int h = 0; h < n_heads; ++h) rotate(x + h * head_stride, p.n_dims, p.pairing, c.data(), s.data());
}

}  // namespace r1
