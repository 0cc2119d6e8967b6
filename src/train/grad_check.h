// Finite-difference gradient checks for the trainer's tests, in double precision: central
// differences of a scalar function against an analytic gradient.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

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

}  // namespace r1::train
