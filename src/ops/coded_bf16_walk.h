// How the coded BF16 kernels for one token or a few (ops/coded_bf16.h) walk a matrix's rows, prefetch them and lay
// out the activation, shared by the AVX-512 (coded_bf16_avx512.h) and the AVX2 (coded_bf16_avx2.cc)
// kernels. No vector instructions here: it is included by files compiled with different flags.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ops/coded_bf16.h"
#include "ops/prefetch.h"

namespace r1 {
// Internal linkage: the files that include this are compiled with different flags.
namespace {

// Long rows are read kCodedStreams side by side, so that each activation load serves that many rows
// (35 KiB of float32 at k = 8960 does not stay in L1 against the weight stream); short rows one at a
// time, one forward stream. BM_gemv_coded_cold, 2 threads, 2 runs of a build with a temporary switch
// between the variants (float32 products): at k = 8960, 8 rows 50 / 47 GB/s (BF16-equivalent)
// against one row 42 / 38; at k = 1536, one row 52 / 49 against 2, 4 or 8 rows 31-39. The same cut
// as the plain float kernels' (gemv_avx512vnni.cc).
constexpr int kCodedStreams = 8;
constexpr int64_t kCodedStreamsMinK = 4096;

// How far ahead of a block the kernels prefetch its row: one row, kCodedPrefetchBytes (one forward
// stream); R rows side by side, kRowPrefetchBytes, past a row's end into the same row of the next
// group (rows are contiguous). One row at 16 KiB read 53-64 GB/s (BF16-equivalent, BM_gemv_coded_cold,
// k = 1536, 2 threads) where 4 KiB reads 73-80; 2, 3, 6 and 8 KiB read 57-74.
constexpr size_t kCodedPrefetchBytes = 4096;
constexpr size_t kRowPrefetchBytes = 2048;
template <int R>
size_t coded_prefetch_distance(size_t off, size_t stride) {
  if (R == 1) return kCodedPrefetchBytes;
  return off + kRowPrefetchBytes < stride ? kRowPrefetchBytes : kRowPrefetchBytes + (R - 1) * stride;
}

// Prefetches the 96-byte block at p with the hint (stream_prefetch(), ops/prefetch.h; the kernels
// read it once per row or group of rows, not per block). A block spans two or three cache lines;
// these three addresses, no more than 48 bytes apart, reach every line whatever its alignment. (One
// address per block, which leaves every third line to the hardware prefetcher, measured level.)
// Only for a row's lone last block: the kernels prefetch blocks in pairs (below).
inline void prefetch_coded_block(const uint8_t* p, StreamPrefetch hint) {
  prefetch_stream_line(p, hint);
  prefetch_stream_line(p + 48, hint);
  prefetch_stream_line(p + 95, hint);
}

// The same for two blocks in a row (192 bytes at p): one address per 64 bytes, half the prefetches
// of two prefetch_coded_block calls, which ask for most lines twice (a line the last address misses,
// where it straddles, is the next pair's first). On the Intel Xeon of session 55 the one-row kernel
// read 1.5x as fast this way (BM_gemv_coded_cold, k 1536, 2 threads: 20-23.5 against 13.3-14.8 GB/s
// BF16-equivalent).
inline void prefetch_coded_pair(const uint8_t* p, StreamPrefetch hint) {
  for (int line = 0; line < 3; ++line) prefetch_stream_line(p + 64 * line, hint);
}

// The prefetch for block b (its first element; p: where to prefetch for it) of a row of k, the rule
// of every coded kernel: the pair at every even block, a lone last block alone, nothing at odd
// blocks. The one-row bf16 kernel steps two blocks at a time and calls the pair and the lone block
// itself: through this function it read 17.3-17.4 against 25.4-26.2 GB/s (session 56, k 1536, 2
// threads, 3 alternations). For the kernels that step one block at a time (rows side by side, the float32-product and
// AVX2 kernels) this was level with a prefetch_coded_block per block on the Intel Xeon (session 56:
// k 8960, 8 rows, 2 threads, 20.8-27.1 against 23.1-24.6 GB/s over 4 alternations; AVX2 and
// float32 products level too), kept so that every coded kernel asks for a line once.
inline void prefetch_coded_step(const uint8_t* p, int64_t b, int64_t k, StreamPrefetch hint) {
  if ((b / kCodedBlock) % 2 != 0) return;
  if (b + kCodedBlock < k)
    prefetch_coded_pair(p, hint);
  else
    prefetch_coded_block(p, hint);
}

// Rows [r0, r1) of m, in order: when the rows are long, kCodedStreams at a time through many(first
// row's bytes, its index from r0), R at a time (R divides kCodedStreams: kernels for several tokens
// hold more accumulators a row), then the rest one at a time through one(bytes, index). Which rows
// go to `one` depends only on r0 and r1, so a row's sum is formed the same way for any R.
template <int R = kCodedStreams, class Many, class One>
void walk_coded_rows(const CodedBf16& m, int64_t r0, int64_t r1, Many many, One one) {
  static_assert(kCodedStreams % R == 0);
  auto row = [&](int64_t r) { return m.rows + static_cast<size_t>(r) * m.row_bytes; };
  int64_t r = r0;
  if (m.k >= kCodedStreamsMinK)
    for (; r + kCodedStreams <= r1; r += kCodedStreams)
      for (int j = 0; j < kCodedStreams; j += R) many(row(r + j), r + j - r0);
  for (; r < r1; ++r) one(row(r), r - r0);
}

// x (k floats) in the order a kernel's decoded float32 vectors hold each block's weights: lane `lane`
// of vector v carries element kElement(v, lane) of its block. Done once per call, for all the rows.
template <int kVectors, int kLanes, int (*kElement)(int, int)>
void lay_out_coded_activation(const float* x, int64_t k, float* dst) {
  static_assert(kVectors * kLanes == kCodedBlock);
  for (int64_t b = 0; b < k; b += kCodedBlock)
    for (int v = 0; v < kVectors; ++v)
      for (int lane = 0; lane < kLanes; ++lane) dst[b + kLanes * v + lane] = x[b + kElement(v, lane)];
}

// n_tok tokens' activations (rows of k) laid out so, in the calling thread's buffer (token t's at t·k).
template <int kVectors, int kLanes, int (*kElement)(int, int)>
const float* lay_out_coded_activations(const float* x, int64_t k, int64_t n_tok) {
  thread_local std::vector<float> xs;
  if (xs.size() < static_cast<size_t>(n_tok * k)) xs.resize(static_cast<size_t>(n_tok * k));
  for (int64_t t = 0; t < n_tok; ++t) lay_out_coded_activation<kVectors, kLanes, kElement>(x + t * k, k, xs.data() + t * k);
  return xs.data();
}

}  // namespace
}  // namespace r1
