#include "ops/convert.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "ops/matmul.h"

namespace r1 {
namespace {

// Exhaustive checks of one small float format against its definition: every code decodes to
// sign·2^(e−bias)·(1+m/2^M) (or the subnormal form), re-encodes to itself, and the exact midpoint
// between two neighbouring codes rounds to the even one (just above / below it: the nearer code).
struct Format {
  int exp_bits, mant_bits, bias, n_codes;
  float (*decode)(uint32_t);
  uint32_t (*encode)(float);
  bool (*is_special)(uint32_t);  // inf / NaN codes
};

double reference_value(const Format& f, uint32_t code) {
  const int sign_shift = f.exp_bits + f.mant_bits;
  const uint32_t e = (code >> f.mant_bits) & ((1u << f.exp_bits) - 1), m = code & ((1u << f.mant_bits) - 1);
  const double mag = e == 0 ? std::ldexp(static_cast<double>(m), 1 - f.bias - f.mant_bits)
                            : std::ldexp(1.0 + std::ldexp(static_cast<double>(m), -f.mant_bits), static_cast<int>(e) - f.bias);
  return (code >> sign_shift) & 1 ? -mag : mag;
}

void check_format(const Format& f) {
  const uint32_t sign_bit = 1u << (f.exp_bits + f.mant_bits);
  for (uint32_t c = 0; c < static_cast<uint32_t>(f.n_codes); ++c) {
    if (f.is_special(c)) continue;
    const float v = f.decode(c);
    ASSERT_EQ(static_cast<double>(v), reference_value(f, c)) << "code " << c;
    ASSERT_EQ(std::signbit(v), (c & sign_bit) != 0) << "code " << c;
    ASSERT_EQ(f.encode(v), c) << "code " << c;
    // Midpoint to the next code of larger magnitude (same sign), if that one is finite.
    const uint32_t next = c + 1;
    if ((next & (sign_bit - 1)) == 0 || f.is_special(next)) continue;
    const double mid = (reference_value(f, c) + reference_value(f, next)) / 2;
    const float midf = static_cast<float>(mid);
    ASSERT_EQ(static_cast<double>(midf), mid) << "midpoint not exact in f32";
    const uint32_t even = (c & 1) ? next : c;
    ASSERT_EQ(f.encode(midf), even) << "tie between " << c << " and " << next;
    ASSERT_EQ(f.encode(std::nextafter(midf, 0.0f)), c);
    ASSERT_EQ(f.encode(std::nextafter(midf, mid > 0 ? INFINITY : -INFINITY)), next);
  }
}

TEST(Convert, Fp16Exhaustive) {
  check_format({5, 10, 15, 1 << 16, [](uint32_t c) { return fp16_to_f32(static_cast<uint16_t>(c)); },
                [](float v) { return static_cast<uint32_t>(f32_to_fp16(v)); },
                [](uint32_t c) { return ((c >> 10) & 0x1f) == 0x1f; }});
}

TEST(Convert, Fp16Specials) {
  EXPECT_TRUE(std::isinf(fp16_to_f32(0x7c00)));
  EXPECT_TRUE(std::isnan(fp16_to_f32(0x7e00)));
  EXPECT_EQ(f32_to_fp16(INFINITY), 0x7c00);
  EXPECT_EQ(f32_to_fp16(-INFINITY), 0xfc00);
  EXPECT_EQ(f32_to_fp16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_fp16(65519.0f), 0x7bff);
  EXPECT_EQ(f32_to_fp16(65520.0f), 0x7c00);  // rounds to infinity, as IEEE
  EXPECT_EQ(f32_to_fp16(1e-10f), 0x0000);
  EXPECT_EQ(f32_to_fp16(-0.0f), 0x8000);
  EXPECT_TRUE(std::isnan(fp16_to_f32(f32_to_fp16(NAN))));
  EXPECT_EQ(f32_to_fp16(0x1p-25f), 0x0000);              // tie between 0 and the smallest subnormal
  EXPECT_EQ(f32_to_fp16(std::nextafter(0x1p-25f, 1.0f)), 0x0001);
}

// The row conversions of every backend this CPU runs give the element functions' bits: every fp16
// code, the midpoints between neighbouring codes and the floats just beside them (ties to even),
// overflow, values far below the smallest subnormal, random floats; row lengths that leave every tail.
TEST(Convert, Fp16RowsMatchTheElementFunctionsOnEveryBackend) {
  std::vector<uint16_t> codes;
  std::vector<float> floats;
  for (uint32_t c = 0; c < (1u << 16); ++c) {
    codes.push_back(static_cast<uint16_t>(c));
    const float v = fp16_to_f32(static_cast<uint16_t>(c));
    if (std::isnan(v)) continue;
    floats.push_back(v);
    const float next = fp16_to_f32(static_cast<uint16_t>(c + 1));
    if ((c & 0x7fff) == 0x7fff || std::isnan(next) || std::isinf(v)) continue;
    const float mid = static_cast<float>((double(v) + double(next)) / 2);
    floats.insert(floats.end(), {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, v < 0 ? -INFINITY : INFINITY)});
  }
  std::mt19937 rng(5);
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 100000; ++i) {
    uint32_t u = bits(rng);
    float f;
    std::memcpy(&f, &u, 4);
    if (!std::isnan(f)) floats.push_back(f);
  }
  floats.insert(floats.end(), {65519.0f, 65520.0f, 1e30f, -1e30f, 1e-30f, -1e-30f, 0x1p-25f, -0.0f});
  for (const char* b : {"scalar", "avx512vnni", "avx512", "avx2", "neon_dotprod", "neon"}) {
    if (!force_matmul_backend(b)) continue;
    std::vector<float> wide(codes.size(), -1.0f);
    fp16_to_f32_row(codes.data(), wide.data(), int64_t(codes.size()));
    for (size_t i = 0; i < codes.size(); ++i) {
      const float ref = fp16_to_f32(codes[i]);
      if (std::isnan(ref)) {
        EXPECT_TRUE(std::isnan(wide[i])) << b << " code " << i;
      } else {
        ASSERT_EQ(std::memcmp(&wide[i], &ref, 4), 0) << b << " code " << i << ": " << wide[i] << " vs " << ref;
      }
    }
    std::vector<uint16_t> narrow(floats.size(), 0x1234);
    f32_to_fp16_row(floats.data(), narrow.data(), int64_t(floats.size()));
    for (size_t i = 0; i < floats.size(); ++i) {
      ASSERT_EQ(narrow[i], f32_to_fp16(floats[i])) << b << " value " << floats[i];
    }
    EXPECT_TRUE(std::isnan(fp16_to_f32([&] {
      uint16_t h = 0;
      const float nan = NAN;
      f32_to_fp16_row(&nan, &h, 1);
      return h;
    }()))) << b;
    // Every length up to 40 from an odd start: nothing beyond n is read or written.
    for (int64_t n = 0; n <= 40; ++n) {
      std::vector<uint16_t> h(48, 0xBEEF);
      f32_to_fp16_row(floats.data() + 3, h.data() + 1, n);
      std::vector<float> f(48, -7.0f);
      fp16_to_f32_row(codes.data() + 1001, f.data() + 1, n);
      for (int64_t i = 0; i < 48; ++i) {
        const bool inside = i >= 1 && i <= n;
        EXPECT_EQ(h[size_t(i)], inside ? f32_to_fp16(floats[size_t(i + 2)]) : 0xBEEF) << b << " n=" << n << " i=" << i;
        EXPECT_EQ(f[size_t(i)], inside ? fp16_to_f32(codes[size_t(i + 1000)]) : -7.0f) << b << " n=" << n << " i=" << i;
      }
    }
  }
  force_matmul_backend("auto");
}

TEST(Convert, Bf16Exhaustive) {
  check_format({8, 7, 127, 1 << 16, [](uint32_t c) { return bf16_to_f32(static_cast<uint16_t>(c)); },
                [](float v) { return static_cast<uint32_t>(f32_to_bf16(v)); },
                [](uint32_t c) { return ((c >> 7) & 0xff) == 0xff; }});
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
  EXPECT_EQ(f32_to_bf16(INFINITY), 0x7f80);
  EXPECT_EQ(f32_to_bf16(3.4028235e38f), 0x7f80);  // max float rounds up to inf
}

TEST(Convert, Fp8E4M3Exhaustive) {
  check_format({4, 3, 7, 256, [](uint32_t c) { return fp8_e4m3_to_f32(static_cast<uint8_t>(c)); },
                [](float v) { return static_cast<uint32_t>(f32_to_fp8_e4m3(v)); },
                [](uint32_t c) { return (c & 0x7f) == 0x7f; }});
}

TEST(Convert, Fp8E4M3Specials) {
  EXPECT_TRUE(std::isnan(fp8_e4m3_to_f32(0x7f)));
  EXPECT_TRUE(std::isnan(fp8_e4m3_to_f32(0xff)));
  EXPECT_EQ(fp8_e4m3_to_f32(0x7e), 448.0f);
  EXPECT_EQ(fp8_e4m3_to_f32(0x01), 0x1p-9f);  // smallest subnormal m·2^-9
  EXPECT_EQ(fp8_e4m3_to_f32(0x08), 0x1p-6f);  // smallest normal
  EXPECT_EQ(f32_to_fp8_e4m3(448.0f), 0x7e);
  EXPECT_EQ(f32_to_fp8_e4m3(1000.0f), 0x7e);  // saturates
  EXPECT_EQ(f32_to_fp8_e4m3(-1e30f), 0xfe);
  EXPECT_EQ(f32_to_fp8_e4m3(INFINITY), 0x7e);
  EXPECT_EQ(f32_to_fp8_e4m3(NAN) & 0x7f, 0x7f);
  EXPECT_EQ(f32_to_fp8_e4m3(0x1p-10f), 0x00);  // tie to even (0)
  EXPECT_EQ(f32_to_fp8_e4m3(3 * 0x1p-10f), 0x02);  // tie between 1 and 2 -> 2
}

}  // namespace
}  // namespace r1
