// Reading the reference data of tests/data (raw float32 arrays, whitespace-separated token ids)
// and comparing against it. Header-only: tests of every module include it.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/error.h"

namespace r1::test_data {

// A raw little-endian float32 file (refs/*.f32). Throws if it cannot be read.
inline std::vector<float> read_f32(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail("cannot read reference file ", path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

// Whitespace-separated token ids (refs/tokens.txt). Throws if the file cannot be read.
inline std::vector<int32_t> read_ids(const std::string& path) {
  std::ifstream f(path);
  if (!f) fail("cannot read reference file ", path);
  std::vector<int32_t> ids;
  for (int32_t x; f >> x;) ids.push_back(x);
  return ids;
}

// max |got - ref| / max |ref| over the ref.size() values: the error measure of tests/data/README.md §5.
inline double rel_err(const float* got, const std::vector<float>& ref) {
  double max_diff = 0, max_ref = 0;
  for (size_t i = 0; i < ref.size(); i++) {
    max_diff = std::max(max_diff, std::fabs(double(got[i]) - double(ref[i])));
    max_ref = std::max(max_ref, std::fabs(double(ref[i])));
  }
  return max_diff / max_ref;
}

}  // namespace r1::test_data
