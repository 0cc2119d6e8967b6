#include "util/sample_stats.h"

#include <algorithm>
#include <cmath>

namespace r1 {

SampleStats sample_stats(const std::vector<double>& xs) {
  SampleStats s;
  if (xs.empty()) return s;
  for (double x : xs) s.mean += x;
  s.mean /= static_cast<double>(xs.size());
  if (xs.size() < 2) return s;
  double ss = 0;
  for (double x : xs) ss += (x - s.mean) * (x - s.mean);
  s.stddev = std::sqrt(ss / static_cast<double>(xs.size() - 1));
  return s;
}

double median(std::vector<double> xs) {
  if (xs.empty()) return 0;
  const size_t mid = xs.size() / 2;
  std::nth_element(xs.begin(), xs.begin() + static_cast<std::ptrdiff_t>(mid), xs.end());
  if (xs.size() % 2) return xs[mid];
  const double hi = xs[mid];
  return (*std::max_element(xs.begin(), xs.begin() + static_cast<std::ptrdiff_t>(mid)) + hi) / 2;
}

}  // namespace r1
