// The process's resident memory, for speed reports (peak RSS next to tokens/s).
#pragma once
#include <cstdint>

namespace r1 {

int64_t peak_rss_bytes();     // high-water mark since the process started (getrusage)
int64_t current_rss_bytes();  // now (/proc/self/statm); 0 where unavailable

}  // namespace r1
