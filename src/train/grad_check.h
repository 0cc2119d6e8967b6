// Finite-difference gradient checks for the trainer's tests, in double precision: central
// differences of a scalar function against an analytic gradient, per coordinate or per parameter
// tensor, and the random inputs those checks feed the models.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "train/policy.h"

namespace r1::train {

// max |analytic − numeric| / max |numeric| over the checked coordinates (every one when
// max_coords is 0 or covers them all, else that many chosen at random).
inline double grad_check(const std::function<double()>& loss, std::vector<double>& x,
                         const std::vector<double>& analytic, size_t max_coords = 0, double h = 1e-5,
                         uint64_t seed = 1) {
  std::vector<size_t> coords(x.size());
  for (size_t i = 0; i < x.size(); i++) coords[i] = i;
  if (max_coords && max_coords < x.size()) {
    std::mt19937_64 rng(seed);
    std::shuffle(coords.begin(), coords.end(), rng);
    coords.resize(max_coords);
  }
  double max_err = 0, max_ref = 1e-12;
  for (size_t i : coords) {
    const double saved = x[i];
    x[i] = saved + h;
    const double up = loss();
    x[i] = saved - h;
    const double down = loss();
    x[i] = saved;
    const double numeric = (up - down) / (2 * h);
    max_err = std::max(max_err, std::abs(numeric - analytic[i]));
    max_ref = std::max(max_ref, std::abs(numeric));
  }
  return max_err / max_ref;
}

inline std::vector<double> random_vector(size_t n, uint64_t seed, double scale = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(0.0, scale);
  std::vector<double> v(n);
  for (double& x : v) x = d(rng);
  return v;
}

inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); i++) s += a[i] * b[i];
  return s;
}

// grad_check of each parameter tensor whose name contains `filter` ("" = all), up to per_tensor
// coordinates of each (params is restored after each tensor); tensor name -> relative error.
inline std::map<std::string, double> param_errors(const std::function<double()>& loss, std::vector<double>& params,
                                                  const std::vector<double>& grads, const ParamLayout& layout,
                                                  size_t per_tensor, const std::string& filter = "") {
  std::map<std::string, double> out;
  for (const ParamTensor& t : layout.tensors) {
    if (t.name.find(filter) == std::string::npos) continue;
    std::vector<double> x(params.begin() + long(t.offset), params.begin() + long(t.offset + t.size));
    std::vector<double> g(grads.begin() + long(t.offset), grads.begin() + long(t.offset + t.size));
    auto f = [&] {
      std::copy(x.begin(), x.end(), params.begin() + long(t.offset));
      return loss();
    };
    out[t.name] = grad_check(f, x, g, per_tensor, 1e-5, t.offset + 1);
    std::copy(x.begin(), x.end(), params.begin() + long(t.offset));
  }
  return out;
}

// B sequences of S + 1 random tokens below V, as next-token batches; position `unscored` is left
// unscored (target -1).
inline Batch random_next_token_batch(int64_t V, int64_t B, int64_t S, uint64_t seed, size_t unscored = 1) {
  Batch b;
  b.B = B;
  b.S = S;
  std::mt19937_64 rng(seed);
  for (int64_t i = 0; i < B * (S + 1); i++) {
    const int32_t t = int32_t(rng() % uint64_t(V));
    if (i % (S + 1) != S) b.tokens.push_back(t);
    if (i % (S + 1) != 0) b.targets.push_back(t);
  }
  b.targets[unscored] = -1;
  return b;
}

}  // namespace r1::train
