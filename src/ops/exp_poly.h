// The constants of the vector e^x kernels (exp_avx512.h, elementwise_avx2.cc): x = n·ln2 + r with
// |r| <= ln2/2, e^r by its degree-6 Taylor polynomial (error < 2e-8 relative on that interval),
// times 2^n. Plain constants, so every ISA's kernel evaluates the same polynomial.
#pragma once

namespace r1::exp_poly {

constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693145751953125f;  // ln 2 split so that n·kLn2Hi is exact
constexpr float kLn2Lo = 1.428606765330187045e-06f;
// Horner's order: p = ((kCoef[0]·r + kCoef[1])·r + …)·r + kCoef[6].
constexpr float kCoef[7] = {1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f};

}  // namespace r1::exp_poly
