// Bit layouts of ggml's block formats (ggml-common.h; SPEC §5.2). One struct per block; a
// quantized row is an array of them. fp16 fields are raw IEEE half bits.
#pragma once
#include <cmath>
#include <cstdint>

namespace r1 {

constexpr int kQK = 32;    // block size of Q8_0 / Q4_0 / Q4_1 / Q5_0 / Q5_1 / IQ4_NL
constexpr int kQKK = 256;  // super-block size of the K-quants

struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK];
};
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK / 2];  // element j in the low nibble of qs[j], element j+16 in the high nibble
};
// The older 32-element formats. Q4_1 / Q5_1 store value = d·q + m with unsigned codes; Q5_0
// value = d·(q − 16); the fifth bit of element j is bit j of qh (little-endian). IQ4_NL codes index
// a fixed non-linear table (kIQ4NLValues), value = d·table[q]. Nibble order as in Q4_0.
struct BlockQ4_1 {
  uint16_t d, m;
  uint8_t qs[kQK / 2];
};
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
struct BlockQ5_1 {
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};
struct BlockIQ4NL {
  uint16_t d;
  uint8_t qs[kQK / 2];
};
inline constexpr int8_t kIQ4NLValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// Q4_K / Q5_K: 8 sub-blocks of 32 with 6-bit (scale, min) pairs packed in scales[12].
struct BlockQ4K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qs[kQKK / 2];
};
struct BlockQ5K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[kQKK / 8];
  uint8_t qs[kQKK / 2];
};
// Q6_K: 16 sub-blocks of 16 with signed 8-bit scales; d comes last.
struct BlockQ6K {
  uint8_t ql[kQKK / 2];
  uint8_t qh[kQKK / 4];
  int8_t scales[kQKK / 16];
  uint16_t d;
};
// Q8_K: activations only. bsums[j] = sum of qs[16j .. 16j+15], used to apply K-quant mins/offsets.
struct BlockQ8K {
  float d;
  int8_t qs[kQKK];
  int16_t bsums[kQKK / 16];
};

static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24 && sizeof(BlockIQ4NL) == 18);
static_assert(sizeof(BlockQ4K) == 144 && sizeof(BlockQ5K) == 176 && sizeof(BlockQ6K) == 210);
static_assert(sizeof(BlockQ8K) == 292);

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K block.
inline void k_scale_min(int j, const uint8_t* s, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

}  // namespace r1
