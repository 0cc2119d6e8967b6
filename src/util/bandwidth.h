// A STREAM-style memory bandwidth benchmark (McCalpin's STREAM: copy, scale, add, triad) plus the
// read-only kernel that matters for decode, where the weights are streamed once per token and
// nothing is written. Its best read bandwidth is the ceiling that tg speed is measured against:
// ceiling tokens/s = bandwidth / weight bytes read per token.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "util/huge_pages.h"

namespace r1 {

class ThreadPool;

struct BandwidthResult {
  std::string kernel;  // "read", "copy", "scale", "add", "triad"
  double best_gbs = 0;  // best of the repetitions, in 10^9 bytes/s (STREAM reports the best)
  double avg_gbs = 0;
  int64_t bytes_per_rep = 0;  // bytes moved per repetition (reads + writes, as STREAM counts)
};

// Arrays of n_floats floats each (3 arrays; choose >= 4x the last-level cache), every kernel run
// `reps` times on `pool`'s threads, each thread on its own contiguous slice (first touched by it).
std::vector<BandwidthResult> measure_bandwidth(ThreadPool& pool, int64_t n_floats, int reps);

// The read kernel alone, on one array kept between readings: for readings right before and after a
// timed decode (r1 bench --bandwidth), so that each run is set against the bandwidth of its moment
// rather than one reading minutes away on a shared machine.
class ReadBandwidth {
 public:
  ReadBandwidth(ThreadPool& pool, int64_t n_floats);  // n_floats >= 1024, placed by the threads that read it
  double best_gbs(int reps);                          // best of reps passes, 10^9 bytes/s

 private:
  ThreadPool& pool_;
  int64_t n_;
  HugeFloatArray a_;  // 2 MiB pages, as the weights
};

}  // namespace r1
