// Load-time weight repacking: rows interleaved in groups of 8, so that one load holds a run of
// consecutive codes of each of 8 rows. A kernel then multiplies 8 rows by one broadcast run of
// activations per instruction and ends with one row per lane: no per-row horizontal sums, and the
// per-block work (scales, activation loads) is done once per 8 rows.
//   - Q4_0 / Q8_0 on AVX2 (ops/gemm_avx2_impl.h) and ARM (ops/gemm_neon_impl.h, 4 rows per
//     register), any number of tokens;
//   - Q4_K, Q5_0, Q4_0 and Q8_0 on AVX-512 VNNI, one-token decode (gemv_x8_avx512.cc): the one-row
//     Q4_K / Q5_0 kernels spent most of their instructions on the blocks' scales (and Q5_0's fifth
//     bits) and could not keep up with memory in quiet moments; Q8_0's reads twice as fast in L2
//     this way (93 against 46 GB/s a thread), Q4_0's 1.7x as fast (70 against 41), and both as fast
//     or faster from memory. Prefill's tile
//     (gemm_avx512vnni.cc) reads the interleaved groups directly.
//
// Group g (rows 8g .. 8g+7) keeps the bytes those rows held. Block column i of the group holds the
// 8 rows' block i, cut into chunks: a chunk of L bytes at byte s of a block goes to byte 8s + r·L of
// the column for row r, so chunk by chunk the 8 rows' copies lie side by side. The chunks:
//   - Q4_0 / Q8_0: the fp16 scale (2 bytes), then runs of 4 code bytes (Q4_0: a byte j carries
//     element j in its low nibble and j+16 in its high one; Q8_0: element j);
//   - Q4_K: d and dmin (4 bytes), the three dwords of the 6-bit scales and mins, then runs of 8
//     bytes of qs (byte j of the 32 at 32c: sub-block 2c's element j in its low nibble, 2c+1's in
//     its high one);
//   - Q5_0: d (2 bytes), each of the 4 bytes of qh alone (so the 8 rows' byte p is one qword: a
//     64-bit mask of the fifth bits), then runs of 8 bytes of qs.
// Rows past the last whole group stay as they were.
#pragma once
#include <cstdint>

#include "core/dtype.h"

namespace r1 {

constexpr int kInterleave = 8;  // rows per group

// Whether `type` has the interleaved layout (Q4_0, Q8_0, Q4_K, Q5_0).
bool can_interleave(DType type);

// Rewrites n_rows rows of k elements (data: row after row) into the interleaved layout, in place.
void repack_x8(DType type, uint8_t* data, int64_t n_rows, int64_t k);

// Row r of an interleaved matrix of n_rows rows, back in the file's layout (row_bytes(type, k) bytes).
void unpack_x8_row(DType type, const uint8_t* data, int64_t n_rows, int64_t k, int64_t r, void* out);

}  // namespace r1
