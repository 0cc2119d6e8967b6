// The integer formats' rows in lanes, on AVX-512 F/BW: a group of 16 weight rows laid out so that one
// 512-bit vector holds 4 consecutive codes of each of the 16 rows (codes[block][quad][row][4], quad q
// = elements 4q..4q+3 of a 32-element block), with the blocks' scales and mins one float per row
// (scales[block][row], or [block][half][row] for Q6_K's scale per 16; mins[block][row]). Codes are
// unsigned: the stored code plus the format's offset (8 for Q4_0, 16 for Q5_0, 32 for Q6_K, 128 for
// Q8_0 and IQ4_NL, 0 for the formats with a min), so element i of a block of row j is
// scale · (code − offset) + min.
//
// Two kernels read this layout: the vpdpbusd tile (gemm_avx512vnni.cc), which multiplies the codes
// as they are, and the AMX bf16 prefill of the integer formats (gemm_avx512bf16.cc), which turns them
// into bf16 weights. In an unnamed namespace: each including file, built for its own CPU, keeps its
// own copy.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "ops/avx512_kquant.h"
#include "ops/blocks.h"
#include "ops/repack.h"

namespace r1 {
namespace {

constexpr int kLanes = 16;  // rows per group

__m128i load16(const uint8_t* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
__m256i load32(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// ---- integer formats: a group of rows into the lanes layout --------------------------------------
//
// A group's rows are read as stored and transposed into the lanes layout in one pass: byte
// positions move, byte values do not, so the per-format work on the codes (nibbles, fifth and sixth
// bits, IQ4_NL's table) is done after the transpose, on 16 rows at once. The scales (fp16, and the
// 6-bit K-quant pairs) are gathered one dword per row and decoded in the same way.

// Up to 16 consecutive rows; lanes past the last row repeat it (their outputs are never stored).
struct RowGroup {
  const uint8_t* rows[kLanes];
  const uint8_t* base;
  __m512i offsets;  // lane j: byte offset of rows[j] from base

  RowGroup(const uint8_t* first, size_t stride, int n) : base(first) {
    alignas(64) int32_t off[kLanes];
    for (int j = 0; j < kLanes; ++j) {
      off[j] = static_cast<int32_t>(std::min(j, n - 1) * stride);
      rows[j] = first + off[j];
    }
    offsets = _mm512_load_si512(off);
  }
  // Lane j: the dword at byte `at` of row j.
  __m512i dword(size_t at) const { return _mm512_i32gather_epi32(offsets, base + at, 1); }
  // Lane j: the two fp16 of the dword at byte `at` of row j (at, at + 2), as float; one gather for
  // the pairs stored together (d and dmin, d and m).
  struct Halves {
    __m512 lo, hi;
  };
  Halves halves(size_t at) const;
  __m512 half(size_t at) const { return halves(at).lo; }
};

// The two fp16 of each lane's dword, as float: the low ones, then the high ones.
RowGroup::Halves fp16_pairs(__m512i d) {
  return {_mm512_cvtph_ps(_mm512_cvtepi32_epi16(d)), _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(d, 16)))};
}
RowGroup::Halves RowGroup::halves(size_t at) const { return fp16_pairs(dword(at)); }

__m512i join(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

// The 32 bytes at byte `at` of every row: t[q] holds bytes 4q..4q+3 of row j in lane j. An 8×8
// dword transpose on both 256-bit halves at once (rows j and j + 8 share a vector): unpack by
// dwords, then by qwords, then pick 128-bit lanes.
[[gnu::always_inline]] inline void transpose32(const RowGroup& g, size_t at, __m512i t[8]) {
  __m512i z[8], s[8], u[8];
  for (int j = 0; j < 8; ++j) z[j] = join(load32(g.rows[j] + at), load32(g.rows[j + 8] + at));
  for (int j = 0; j < 8; j += 2) {
    s[j] = _mm512_unpacklo_epi32(z[j], z[j + 1]);      // per 128-bit lane: j.0 j+1.0 j.1 j+1.1
    s[j + 1] = _mm512_unpackhi_epi32(z[j], z[j + 1]);  //                   j.2 j+1.2 j.3 j+1.3
  }
  for (int j = 0; j < 8; j += 4)
    for (int h = 0; h < 2; ++h) {
      u[j + 2 * h] = _mm512_unpacklo_epi64(s[j + h], s[j + 2 + h]);      // rows j..j+3, dword 2h (and +4)
      u[j + 2 * h + 1] = _mm512_unpackhi_epi64(s[j + h], s[j + 2 + h]);  // rows j..j+3, dword 2h+1 (and +4)
    }
  // u[c] (rows 0..3, dwords c | c+4) and u[4 + c] (rows 4..7): 128-bit lanes 0 / 2 hold dword c of
  // rows 0..3 / 8..11 (u[c]) and 4..7 / 12..15 (u[4 + c]); lanes 1 / 3 dword c + 4.
  const __m512i lo = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0), hi = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
  for (int c = 0; c < 4; ++c) {
    t[c] = _mm512_permutex2var_epi64(u[c], lo, u[4 + c]);
    t[c + 4] = _mm512_permutex2var_epi64(u[c], hi, u[4 + c]);
  }
}

// The 16 bytes at byte `at` of every row: t[q], q < 4, as transpose32's. 128-bit lane L of z[j]
// holds row j + 4L, so a 4×4 dword transpose inside the lanes puts row 4L + i at dword 4L + i.
[[gnu::always_inline]] inline void transpose16(const RowGroup& g, size_t at, __m512i t[4]) {
  __m512i z[4];
  for (int j = 0; j < 4; ++j) {
    z[j] = _mm512_castsi128_si512(load16(g.rows[j] + at));
    z[j] = _mm512_inserti32x4(z[j], load16(g.rows[j + 4] + at), 1);
    z[j] = _mm512_inserti32x4(z[j], load16(g.rows[j + 8] + at), 2);
    z[j] = _mm512_inserti32x4(z[j], load16(g.rows[j + 12] + at), 3);
  }
  const __m512i a0 = _mm512_unpacklo_epi32(z[0], z[1]), a1 = _mm512_unpackhi_epi32(z[0], z[1]);
  const __m512i a2 = _mm512_unpacklo_epi32(z[2], z[3]), a3 = _mm512_unpackhi_epi32(z[2], z[3]);
  t[0] = _mm512_unpacklo_epi64(a0, a2);
  t[1] = _mm512_unpackhi_epi64(a0, a2);
  t[2] = _mm512_unpacklo_epi64(a1, a3);
  t[3] = _mm512_unpackhi_epi64(a1, a3);
}

__m512i low_nibbles(__m512i v) { return _mm512_and_si512(v, _mm512_set1_epi8(0xF)); }
__m512i high_nibbles(__m512i v) { return _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(0xF)); }
// 0x10 added to the bytes of v whose bit `bit` of the matching byte of h is set (a fifth bit).
__m512i add_fifth_bit(__m512i v, __m512i h, int bit) {
  const __mmask64 set = _mm512_test_epi8_mask(h, _mm512_set1_epi8(static_cast<char>(1 << bit)));
  return _mm512_mask_add_epi8(v, set, v, _mm512_set1_epi8(0x10));
}
// Lane j byte i (i < 4): 0x10 if bit i of lane j's dword of bits is set (Q5_0 / Q5_1's fifth bits
// of 4 consecutive elements, the bits shifted down to 0..3 by the caller).
__m512i fifth_bits4(__m512i bits) {
  const __m512i spread = _mm512_shuffle_epi8(bits, _mm512_set4_epi32(0x0c0c0c0c, 0x08080808, 0x04040404, 0));
  const __m512i sel = _mm512_set1_epi32(0x08040201);
  return _mm512_maskz_mov_epi8(_mm512_test_epi8_mask(spread, sel), _mm512_set1_epi8(0x10));
}

// Each expander writes a group's nb blocks of 32: codes[block][quad][row][4] (unsigned: code +
// the gemm's offset), scales[block][half][row] (kHalves) or [block][row], mins[block][row].

void expand_q8_0(const RowGroup& g, int64_t nb, uint8_t* codes, float* scales, float*) {
  for (int64_t b = 0; b < nb; ++b, codes += 8 * 64) {
    const size_t at = static_cast<size_t>(b) * sizeof(BlockQ8_0);
    __m512i t[8];
    transpose32(g, at + 2, t);
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));  // + 128
    for (int q = 0; q < 8; ++q) _mm512_storeu_si512(codes + q * 64, _mm512_xor_si512(t[q], flip));
    _mm512_storeu_ps(scales + b * kLanes, g.half(at));
  }
}

// One block of a 32-element format with nibbles into codes[quad][row][4]: t[q] holds bytes 4q..4q+3
// of qs in lane j for row j, qh the fifth bits (Q5_0 / Q5_1), lut IQ4_NL's table.
template <typename Block>
void store_nibble_codes(const __m512i t[4], __m512i qh, [[maybe_unused]] __m512i lut, uint8_t* codes) {
  for (int q = 0; q < 4; ++q) {
    __m512i lo = low_nibbles(t[q]), hi = high_nibbles(t[q]);  // elements 4q.. and 16 + 4q..
    if constexpr (requires(const Block& x) { x.qh; }) {
      lo = _mm512_or_si512(lo, fifth_bits4(_mm512_srli_epi32(qh, 4 * q)));
      hi = _mm512_or_si512(hi, fifth_bits4(_mm512_srli_epi32(qh, 16 + 4 * q)));
    }
    if constexpr (std::is_same_v<Block, BlockIQ4NL>) lo = _mm512_shuffle_epi8(lut, lo), hi = _mm512_shuffle_epi8(lut, hi);
    _mm512_storeu_si512(codes + q * 64, lo);
    _mm512_storeu_si512(codes + (q + 4) * 64, hi);
  }
}

// The 32-element formats with nibbles (element j low in byte j, j + 16 high): Q4_0, Q4_1, Q5_0,
// Q5_1, IQ4_NL. Codes unsigned as stored (IQ4_NL: its table entry + 128); Q4_1 / Q5_1's m the min.
template <typename Block>
void expand_nibbles(const RowGroup& g, int64_t nb, uint8_t* codes, float* scales, float* mins) {
  constexpr bool kM = requires(const Block& x) { x.m; };
  constexpr bool kQh = requires(const Block& x) { x.qh; };
  constexpr size_t kQs = offsetof(Block, qs);
  // IQ4_NL: a nibble indexes the table (+128, so that the codes are unsigned) in every 128-bit lane.
  __m512i lut = _mm512_setzero_si512();
  if constexpr (std::is_same_v<Block, BlockIQ4NL>) {
    alignas(16) int8_t table[16];
    for (int i = 0; i < 16; ++i) table[i] = static_cast<int8_t>(kIQ4NLValues[i] ^ 0x80);
    lut = _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(table)));
  }
  for (int64_t b = 0; b < nb; ++b, codes += 8 * 64) {
    const size_t at = static_cast<size_t>(b) * sizeof(Block);
    __m512i t[4];
    transpose16(g, at + kQs, t);
    __m512i qh = _mm512_setzero_si512();
    if constexpr (kQh) qh = g.dword(at + offsetof(Block, qh));
    store_nibble_codes<Block>(t, qh, lut, codes);
    const auto [d, m] = g.halves(at);  // Q4_1 / Q5_1: m after d
    _mm512_storeu_ps(scales + b * kLanes, d);
    if constexpr (kM) _mm512_storeu_ps(mins + b * kLanes, m);
  }
}

// Q4_K / Q5_K: sub-blocks 2c and 2c + 1 of a super-block into codes; t[q] holds bytes 4q..4q+3 of qs
// bytes 32c.. in lane j for row j, qh[q] (Q5_K) the same of qh.
template <bool kQ5>
void store_k_codes(int c, const __m512i t[8], [[maybe_unused]] const __m512i qh[8], uint8_t* codes) {
  for (int q = 0; q < 8; ++q) {
    __m512i lo = low_nibbles(t[q]), hi = high_nibbles(t[q]);
    if constexpr (kQ5) lo = add_fifth_bit(lo, qh[q], 2 * c), hi = add_fifth_bit(hi, qh[q], 2 * c + 1);
    _mm512_storeu_si512(codes + (2 * c * 8 + q) * 64, lo);
    _mm512_storeu_si512(codes + ((2 * c + 1) * 8 + q) * 64, hi);
  }
}

// A super-block's 8 scales and mins per lane: d and dmin, and u0..u2 the 3 dwords of its scales[12].
void store_k_scales(RowGroup::Halves d_dmin, __m512i u0, __m512i u1, __m512i u2, float* scales, float* mins) {
  const auto [sc, mn] = q4k_scales_mins_x16(u0, u1, u2);
  const __m512i byte = _mm512_set1_epi32(0xFF);
  for (int j = 0; j < 8; ++j) {
    const int shift = 8 * (j % 4);
    const __m512 s = _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(sc[j / 4], shift), byte));
    const __m512 m = _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srli_epi32(mn[j / 4], shift), byte));
    _mm512_storeu_ps(scales + j * kLanes, _mm512_mul_ps(d_dmin.lo, s));
    _mm512_storeu_ps(mins + j * kLanes, _mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(d_dmin.hi, m)));
  }
}

// Q4_K / Q5_K: 32 bytes of qs hold sub-blocks 2c (low nibbles) and 2c + 1 (high); Q5_K's fifth bit
// of element l of sub-block j is bit j of qh[l]. The 6-bit (scale, min) pairs are decoded on 16 rows
// at once, 32 bits at a time: u0, u1, u2 the 3 dwords of scales[12] (one block: q4k_scales_mins).
template <bool kQ5>
void expand_k(const RowGroup& g, int64_t nb, uint8_t* codes, float* scales, float* mins) {
  using Block = std::conditional_t<kQ5, BlockQ5K, BlockQ4K>;
  for (int64_t i = 0; i < nb / 8; ++i, codes += 8 * 8 * 64, scales += 8 * kLanes, mins += 8 * kLanes) {
    const size_t at = static_cast<size_t>(i) * sizeof(Block);
    __m512i qh[8] = {};
    if constexpr (kQ5) transpose32(g, at + offsetof(Block, qh), qh);
    for (int c = 0; c < 4; ++c) {
      __m512i t[8];
      transpose32(g, at + offsetof(Block, qs) + 32 * c, t);
      store_k_codes<kQ5>(c, t, qh, codes);
    }
    store_k_scales(g.halves(at), g.dword(at + 4), g.dword(at + 8), g.dword(at + 12), scales, mins);
  }
}

// Q6_K: per half h of 128 elements, ql[64h..64h+31] (l0) and ql[64h+32..] (l1) give runs 0 / 1 in
// their low nibbles and 2 / 3 in their high ones, qh[32h..32h+31] the top two bits (bits 0-1, 2-3,
// 4-5, 6-7 for runs 0..3). Codes are the stored 6 bits (offset 32); a signed 8-bit scale per 16.
void expand_q6_k(const RowGroup& g, int64_t nb, uint8_t* codes, float* scales, float*) {
  const __m512i top = _mm512_set1_epi8(0x30);
  for (int64_t i = 0; i < nb / 8; ++i, scales += 16 * kLanes) {
    const size_t at = static_cast<size_t>(i) * sizeof(BlockQ6K);
    for (int h = 0; h < 2; ++h, codes += 4 * 8 * 64) {
      __m512i l0[8], l1[8], qh[8];
      transpose32(g, at + 64 * h, l0);
      transpose32(g, at + 64 * h + 32, l1);
      transpose32(g, at + offsetof(BlockQ6K, qh) + 32 * h, qh);
      for (int q = 0; q < 8; ++q) {
        const __m512i run[4] = {
            _mm512_or_si512(low_nibbles(l0[q]), _mm512_and_si512(_mm512_slli_epi16(qh[q], 4), top)),
            _mm512_or_si512(low_nibbles(l1[q]), _mm512_and_si512(_mm512_slli_epi16(qh[q], 2), top)),
            _mm512_or_si512(high_nibbles(l0[q]), _mm512_and_si512(qh[q], top)),
            _mm512_or_si512(high_nibbles(l1[q]), _mm512_and_si512(_mm512_srli_epi16(qh[q], 2), top))};
        for (int r = 0; r < 4; ++r) _mm512_storeu_si512(codes + (r * 8 + q) * 64, run[r]);
      }
    }
    const __m512 d = g.halves(at + offsetof(BlockQ6K, d) - 2).hi;  // d ends the block: the dword before it
    for (int w = 0; w < 4; ++w) {
      const __m512i s4 = g.dword(at + offsetof(BlockQ6K, scales) + 4 * w);
      for (int j = 0; j < 4; ++j) {  // scale 4w + j: byte j, sign-extended
        const __m512i s = _mm512_srai_epi32(_mm512_slli_epi32(s4, 24 - 8 * j), 24);
        _mm512_storeu_ps(scales + (4 * w + j) * kLanes, _mm512_mul_ps(d, _mm512_cvtepi32_ps(s)));
      }
    }
  }
}

// ---- integer formats: interleaved rows into the lanes layout --------------------------------------
//
// Rows interleaved at load (ops/repack.h) already lie 8 to a block column in runs of a few bytes, so
// their lanes layout is two groups' runs side by side: loads and dword permutes, no transpose, and
// no copy back to the file's layout first.

// Two groups of 8 interleaved rows: lanes 0..7 from lo, 8..15 from hi (hi = lo when only 8 rows are
// left: those lanes are never stored). `at` is a byte offset in a group.
struct X8Pair {
  const uint8_t* lo;
  const uint8_t* hi;

  // 32 bytes of each group: 8 dwords, one per row (a chunk of 4 bytes).
  __m512i dwords(size_t at) const { return join(load32(lo + at), load32(hi + at)); }
  // 16 bytes of each group: 8 fp16, one per row (a chunk of 2 bytes), as float.
  __m512 fp16s(size_t at) const {
    return _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(load16(lo + at)), load16(hi + at), 1));
  }
  // 64 bytes of each group: 8 qwords, one per row (a chunk of 8 bytes); their low and high dwords.
  void qwords(size_t at, __m512i& low, __m512i& high) const {
    const __m512i a = _mm512_loadu_si512(lo + at), b = _mm512_loadu_si512(hi + at);
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    low = _mm512_permutex2var_epi32(a, even, b);
    high = _mm512_permutex2var_epi32(a, _mm512_add_epi32(even, _mm512_set1_epi32(1)), b);
  }
  // 4 runs of 8 bytes, one byte per row each (Q5_0's qh, a chunk of 1 byte): each row's 4 bytes as
  // its dword.
  __m512i byte_runs(size_t at) const {
    auto rows8 = [](const uint8_t* p, __m128i& r0, __m128i& r4) {
      const __m128i b01 = _mm_unpacklo_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)),
                                            _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 8)));
      const __m128i b23 = _mm_unpacklo_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 16)),
                                            _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 24)));
      r0 = _mm_unpacklo_epi16(b01, b23);  // rows 0..3
      r4 = _mm_unpackhi_epi16(b01, b23);  // rows 4..7
    };
    __m128i a0, a4, b0, b4;
    rows8(lo + at, a0, a4);
    rows8(hi + at, b0, b4);
    __m512i v = _mm512_castsi128_si512(a0);
    v = _mm512_inserti32x4(v, a4, 1);
    v = _mm512_inserti32x4(v, b0, 2);
    return _mm512_inserti32x4(v, b4, 3);
  }
};

// Q8_0 block column (272 bytes): the 8 rows' d, then runs q = 0..7 of 4 codes, 32 bytes each.
void expand_q8_0_x8(const X8Pair& g, int64_t nb, uint8_t* codes, float* scales, float*) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));  // + 128
  for (int64_t b = 0; b < nb; ++b, codes += 8 * 64) {
    const size_t at = static_cast<size_t>(b) * kInterleave * sizeof(BlockQ8_0);
    for (int q = 0; q < 8; ++q) _mm512_storeu_si512(codes + q * 64, _mm512_xor_si512(g.dwords(at + 16 + 32 * q), flip));
    _mm512_storeu_ps(scales + b * kLanes, g.fp16s(at));
  }
}

// Q4_0 block column (144 bytes): the 8 rows' d, then runs q = 0..3 of 4 qs bytes, 32 bytes each.
void expand_q4_0_x8(const X8Pair& g, int64_t nb, uint8_t* codes, float* scales, float*) {
  for (int64_t b = 0; b < nb; ++b, codes += 8 * 64) {
    const size_t at = static_cast<size_t>(b) * kInterleave * sizeof(BlockQ4_0);
    __m512i t[4];
    for (int q = 0; q < 4; ++q) t[q] = g.dwords(at + 16 + 32 * q);
    store_nibble_codes<BlockQ4_0>(t, _mm512_setzero_si512(), _mm512_setzero_si512(), codes);
    _mm512_storeu_ps(scales + b * kLanes, g.fp16s(at));
  }
}

// Q5_0 block column (176 bytes): d at 0, qh byte p of the 8 rows at 16 + 8p, qs bytes 0..7 of
// each row at 48, 8..15 at 112.
void expand_q5_0_x8(const X8Pair& g, int64_t nb, uint8_t* codes, float* scales, float*) {
  for (int64_t b = 0; b < nb; ++b, codes += 8 * 64) {
    const size_t at = static_cast<size_t>(b) * kInterleave * sizeof(BlockQ5_0);
    __m512i t[4];
    g.qwords(at + 48, t[0], t[1]);
    g.qwords(at + 112, t[2], t[3]);
    store_nibble_codes<BlockQ5_0>(t, g.byte_runs(at + 16), _mm512_setzero_si512(), codes);
    _mm512_storeu_ps(scales + b * kLanes, g.fp16s(at));
  }
}

// Q4_K block column (1152 bytes): d and dmin at 0, the scales' dwords at 32, 64, 96, then qs bytes
// 8m..8m+7 of each row at 128 + 64m.
void expand_q4_k_x8(const X8Pair& g, int64_t nb, uint8_t* codes, float* scales, float* mins) {
  for (int64_t i = 0; i < nb / 8; ++i, codes += 8 * 8 * 64, scales += 8 * kLanes, mins += 8 * kLanes) {
    const size_t at = static_cast<size_t>(i) * kInterleave * sizeof(BlockQ4K);
    for (int c = 0; c < 4; ++c) {
      __m512i t[8];
      for (int m = 0; m < 4; ++m) g.qwords(at + 128 + 64 * (4 * c + m), t[2 * m], t[2 * m + 1]);
      store_k_codes<false>(c, t, nullptr, codes);
    }
    store_k_scales(fp16_pairs(g.dwords(at)), g.dwords(at + 32), g.dwords(at + 64), g.dwords(at + 96), scales, mins);
  }
}

}  // namespace
}  // namespace r1
