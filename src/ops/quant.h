// Block quantization formats (ggml-compatible bit layouts): dequantize a row, quantize a row.
// Scalar reference implementations; these define the formats. SIMD code lives in the kernels.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace r1 {

// dst[0..n) = values of the row src (n a multiple of the block size of t). Any weight type.
void dequantize_row(DType t, const void* src, float* dst, int64_t n);
// Writes row_bytes(t, n) bytes; matches llama.cpp's reference quantizers (quantize_row_*_ref)
// bit for bit, so files we write hold the same bytes llama-quantize would (without imatrix).
void quantize_row(DType t, const float* src, void* dst, int64_t n);


}  // namespace r1
