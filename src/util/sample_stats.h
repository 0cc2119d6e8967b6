// Mean and sample standard deviation of repeated measurements, as llama-bench reports them
// (stddev with n-1 in the denominator, 0 for a single sample).
#pragma once
#include <vector>

namespace r1 {

struct SampleStats {
  double mean = 0, stddev = 0;
};

SampleStats sample_stats(const std::vector<double>& xs);
double median(std::vector<double> xs);  // 0 for an empty list

}  // namespace r1
