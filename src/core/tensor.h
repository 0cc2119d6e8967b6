// A read-only view of one tensor's bytes inside a mapped file (or any buffer). Shapes use ggml's
// order: ne[0] is the contiguous axis. A HF Linear weight [out][in] is ne = {in, out}.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/dtype.h"

namespace r1 {

// How a matrix's rows lie in memory. Interleaved8: Q4_0 / Q8_0 rows repacked at load in groups of 8 for
// the AVX2 and NEON kernels (ops/repack.h). CodedBf16: BF16 rows compressed losslessly at load to 12
// bits a weight for the AVX-512 kernels (ops/coded_bf16.h). Only matmul (and matmul_row_values)
// reads such a tensor, and row() does not apply.
enum class RowLayout : uint8_t { Plain, Interleaved8, CodedBf16 };

struct TensorView {
  std::string name;
  DType type = DType::F32;
  int n_dims = 0;
  std::array<int64_t, 4> ne{1, 1, 1, 1};
  const void* data = nullptr;
  size_t nbytes = 0;
  RowLayout layout = RowLayout::Plain;

  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t rows() const { return ne[1] * ne[2] * ne[3]; }
  size_t row_stride() const { return nbytes / static_cast<size_t>(rows()); }
  const uint8_t* row(int64_t i) const {
    return static_cast<const uint8_t*>(data) + static_cast<size_t>(i) * row_stride();
  }
  std::string shape_string() const;  // "{256, 512}"
};

}  // namespace r1
