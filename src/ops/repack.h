// Load-time weight repacking: Q4_0 / Q8_0 rows interleaved in groups of 8, so that one 32-byte
// load holds 4 consecutive codes of each of 8 rows. An AVX2 kernel then multiplies 8 rows by one
// broadcast group of 4 activations per instruction and ends with one row per float lane: no
// per-row horizontal sums, and each activation block is loaded once per 8 rows (ops/gemm_avx2_impl.h;
// on ARM ops/gemm_neon_impl.h, 4 rows per register). CPUs with AVX-512 VNNI do not use it (their
// kernels read the file's layout at the read ceiling).
//
// Group g (rows 8g .. 8g+7) keeps the bytes those rows held. Block column i of the group holds the
// 8 rows' block i: their fp16 scales (16 bytes), then chunks of 32 bytes, chunk v holding
// qs[4v .. 4v+3] of row 0, then of row 1, … (Q4_0: 4 chunks, a byte j carrying element j in its low
// nibble and element j+16 in its high one, so chunk v's low nibbles are elements 4v..4v+3 and its
// high nibbles 16+4v..19+4v; Q8_0: 8 chunks, chunk v = elements 4v..4v+3). Rows past the last whole
// group stay as they were.
#pragma once
#include <cstdint>

#include "core/dtype.h"

namespace r1 {

constexpr int kInterleave = 8;  // rows per group

// Whether `type` has the interleaved layout (Q4_0, Q8_0).
bool can_interleave(DType type);

// Rewrites n_rows rows of k elements (data: row after row) into the interleaved layout, in place.
void repack_x8(DType type, uint8_t* data, int64_t n_rows, int64_t k);

// Row r of an interleaved matrix of n_rows rows, back in the file's layout (row_bytes(type, k) bytes).
void unpack_x8_row(DType type, const uint8_t* data, int64_t n_rows, int64_t k, int64_t r, void* out);

}  // namespace r1
