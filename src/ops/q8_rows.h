// Rows of Q8_0 blocks (32 int8 codes and an fp16 scale each: llama.cpp's q8_0, the attention caches'
// `-ctk q8_0`) addressed by element, the way the attention kernels address float and F16 rows: a
// Q8Ptr is a "pointer" to element e of a run of blocks, and K + t · stride + j moves it. Row strides
// are multiples of 32 elements and the kernels load 4, 8 or 16 elements at offsets that are
// multiples of those, so every load stays inside one block.
#pragma once
#include <cstdint>

#include "ops/blocks.h"
#include "ops/convert.h"

namespace r1 {

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

}  // namespace r1
