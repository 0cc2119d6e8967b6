#include "ops/convert.h"

#include <cstring>

namespace r1 {
namespace {

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// m >> shift, rounded to nearest with ties to even (shift in 1..31).
uint32_t shift_round_even(uint32_t m, int shift) {
  if (shift >= 32) return 0;
  const uint32_t r = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  return r + ((rem > half || (rem == half && (r & 1))) ? 1 : 0);
}

// Encodes |f| (bits `a`, sign removed) into a small float format with `mant_bits` mantissa bits
// and exponent bias `bias`, round to nearest even. Normal and subnormal results; a carry out of
// the mantissa correctly bumps the exponent. The caller handles NaN / overflow.
uint32_t encode_small_float(uint32_t a, int mant_bits, int bias) {
  const int exp32 = static_cast<int>(a >> 23);
  if (exp32 == 0) return 0;  // f32 subnormals are far below every small format's range
  const uint32_t mant = a & 0x7fffff;
  const int e = exp32 - 127 + bias;  // biased exponent in the target format
  const int drop = 23 - mant_bits;
  if (e >= 1) {
    const uint32_t enc = (static_cast<uint32_t>(e) << mant_bits) | (mant >> drop);
    const uint32_t rem = mant & ((1u << drop) - 1), half = 1u << (drop - 1);
    return enc + ((rem > half || (rem == half && (enc & 1))) ? 1 : 0);
  }
  // Subnormal: value = r * 2^(1 - bias - mant_bits) with r = (1.mant) * 2^(e - 1 + mant_bits).
  return shift_round_even(mant | 0x800000, drop + 1 - e);
}

}  // namespace

float fp16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e == 0x1f) return float_of(sign | 0x7f800000 | (m << 13));  // inf / NaN (payload kept)
  if (e == 0) return (sign ? -1.0f : 1.0f) * static_cast<float>(m) * 0x1p-24f;  // subnormal
  return float_of(sign | ((e + 112) << 23) | (m << 13));
}

uint16_t f32_to_fp16(float f) {
  const uint32_t u = bits_of(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000);
  const uint32_t a = u & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7e00 | ((a >> 13) & 0x3ff);  // NaN stays a (quiet) NaN
  if (a >= 0x47800000) return sign | 0x7c00;                        // >= 65536 (and inf): inf
  // 65520 and above round up to 0x7c00 (inf) through the carry, as IEEE requires.
  return sign | static_cast<uint16_t>(encode_small_float(a, 10, 15));
}

float fp8_e4m3_to_f32(uint8_t v) {
  const float sign = (v & 0x80) ? -1.0f : 1.0f;
  const int e = (v >> 3) & 0xf, m = v & 7;
  if (e == 15 && m == 7) return sign * __builtin_nanf("");
  if (e == 0) return sign * static_cast<float>(m) * 0x1p-9f;
  return sign * float_of(static_cast<uint32_t>(e + 120) << 23 | static_cast<uint32_t>(m) << 20);
}

uint8_t f32_to_fp8_e4m3(float f) {
  const uint32_t u = bits_of(f);
  const uint8_t sign = static_cast<uint8_t>((u >> 24) & 0x80);
  const uint32_t a = u & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7f;          // NaN
  if (a >= 0x43e00000) return sign | 0x7e;         // >= 448 (and inf) saturates to 448
  return sign | static_cast<uint8_t>(encode_small_float(a, 3, 7));
}

}  // namespace r1
