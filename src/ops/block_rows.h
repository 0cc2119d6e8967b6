// Rows of the attention caches' block types addressed by element, the way the attention kernels
// address float and F16 rows: a Q8Ptr (Q4Ptr) is a "pointer" to element e of a run of Q8_0 (Q4_0)
// blocks, and K + t · stride + j moves it. Row strides are multiples of 32 elements and the kernels
// load 4, 8 or 16 elements at offsets that are multiples of those, so every load stays inside one
// block. with_row_pointer turns a cache's type and bytes into the matching row pointer.
#pragma once
#include <cstdint>

#include "core/dtype.h"
#include "core/error.h"
#include "ops/blocks.h"
#include "ops/convert.h"

namespace r1 {

// Q8_0: 32 int8 codes and an fp16 scale per block (llama.cpp's q8_0, `-ctk q8_0`).
struct Q8Ptr {
  const BlockQ8_0* blocks = nullptr;
  int64_t e = 0;  // element index from blocks[0].qs[0]

  Q8Ptr operator+(int64_t n) const { return {blocks, e + n}; }
  const BlockQ8_0& block() const { return blocks[e >> 5]; }
  const int8_t* codes() const { return blocks[e >> 5].qs + (e & 31); }
  // Element j from here, as a float (the scalar kernels' load).
  float operator[](int64_t j) const {
    const BlockQ8_0& b = blocks[(e + j) >> 5];
    return fp16_to_f32(b.d) * float(b.qs[(e + j) & 31]);
  }
};

// Q4_0: 32 4-bit codes c (value (c − 8) · d) and an fp16 scale d per block (llama.cpp's q4_0,
// `-ctk q4_0`). Element k < 16 of a block is the low nibble of qs[k], element k + 16 its high one:
// a load of up to 16 elements from here reads bytes() and keeps the nibbles above nibble_shift().
struct Q4Ptr {
  const BlockQ4_0* blocks = nullptr;
  int64_t e = 0;

  Q4Ptr operator+(int64_t n) const { return {blocks, e + n}; }
  const BlockQ4_0& block() const { return blocks[e >> 5]; }
  const uint8_t* bytes() const { return blocks[e >> 5].qs + (e & 15); }
  int nibble_shift() const { return static_cast<int>(e & 16) >> 2; }  // 0 (low nibbles) or 4
  float operator[](int64_t j) const {
    const BlockQ4_0& b = blocks[(e + j) >> 5];
    const int k = static_cast<int>((e + j) & 31);
    return fp16_to_f32(b.d) * float(((b.qs[k & 15] >> (k & 16 ? 4 : 0)) & 15) - 8);
  }
};

// f(row pointer of `type` at `rows`): const float* (F32), const uint16_t* (F16 bits), Q8Ptr or Q4Ptr
// (the kernel row types below). Any other type throws r1::Error naming `what`.
template <class F>
decltype(auto) with_row_pointer(DType type, const void* rows, const char* what, F&& f) {
  switch (type) {
    case DType::F32: return f(static_cast<const float*>(rows));
    case DType::F16: return f(static_cast<const uint16_t*>(rows));
    case DType::Q8_0: return f(Q8Ptr{static_cast<const BlockQ8_0*>(rows)});
    case DType::Q4_0: return f(Q4Ptr{static_cast<const BlockQ4_0*>(rows)});
    default: fail(what, ": rows of ", dtype_name(type), " (f32, f16, q8_0 or q4_0)");
  }
}

// The row types the attention kernels read in place (with_row_pointer's), and those of them that are
// blocks of 32 values (strides must be whole blocks).
constexpr DType kKernelRowTypes[] = {DType::F32, DType::F16, DType::Q8_0, DType::Q4_0};
inline bool is_kernel_row_type(DType type) {
  for (DType t : kKernelRowTypes)
    if (t == type) return true;
  return false;
}
// Every attention cache type (llama.cpp's -ctk / -ctv values, in its order): the kernel row types and
// five more that attention widens to float32 a chunk of positions at a time (ops/attention.cc).
constexpr DType kCacheRowTypes[] = {DType::F32,  DType::F16,    DType::BF16, DType::Q8_0, DType::Q4_0,
                                    DType::Q4_1, DType::IQ4_NL, DType::Q5_0, DType::Q5_1};
inline bool is_cache_row_type(DType type) {
  for (DType t : kCacheRowTypes)
    if (t == type) return true;
  return false;
}
// The cache types stored in blocks of 32 values: rows must be whole blocks.
inline bool is_block_row_type(DType type) { return is_cache_row_type(type) && type != DType::F32 && type != DType::F16 && type != DType::BF16; }
// Values per row widened to float32 from such a row's first d: d, or whole blocks up to the one holding
// value d − 1.
inline int64_t widened_width(DType type, int64_t d) { return is_block_row_type(type) ? (d + 31) / 32 * 32 : d; }

}  // namespace r1
