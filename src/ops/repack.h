// Load-time weight repacking: Q4_0 rows interleaved in groups of 8, so that one 32-byte load
// holds 4 consecutive weights of each of 8 rows. An AVX2 kernel then multiplies 8 rows by one
// broadcast group of 4 activations per instruction and ends with one row per float lane: no
// per-row horizontal sums, and each activation block is loaded once per 8 rows (ops/gemm_avx2.cc).
// CPUs with AVX-512 VNNI do not use it (their kernels read the file's layout at the read ceiling).
//
// Group g (rows 8g .. 8g+7) keeps the bytes those rows held; block column i of the group is 144
// bytes: the 8 rows' fp16 scales, then 4 chunks of 32 bytes, chunk v holding qs[4v .. 4v+3] of
// row 0, then of row 1, … (a Q4_0 byte j carries element j in its low nibble and element j+16 in
// its high one, so chunk v's low nibbles are elements 4v..4v+3 and its high nibbles 16+4v..19+4v).
// Rows past the last whole group stay as they were.
#pragma once
#include <cstdint>

#include "ops/blocks.h"

namespace r1 {

constexpr int kInterleave = 8;  // rows per group
constexpr int64_t kQ4_0x8ColumnBytes = kInterleave * static_cast<int64_t>(sizeof(BlockQ4_0));  // 144

// Rewrites n_rows Q4_0 rows of k elements (data: row after row) into the interleaved layout, in place.
void repack_q4_0_x8(uint8_t* data, int64_t n_rows, int64_t k);

// Row r of an interleaved Q4_0 matrix of n_rows rows, back in the file's layout (k / 32 blocks).
void unpack_q4_0_x8_row(const uint8_t* data, int64_t n_rows, int64_t k, int64_t r, BlockQ4_0* out);

}  // namespace r1
