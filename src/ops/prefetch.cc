#include "ops/prefetch.h"

#include <cstdlib>
#include <string>

#include "core/error.h"
#include "util/cpu.h"

namespace r1 {

std::atomic<int> g_stream_prefetch{-1};

StreamPrefetch decide_stream_prefetch() {
  const char* env = std::getenv("R1_STREAM_PREFETCH");
  if (env == nullptr || *env == 0) return cpu_features().amd ? StreamPrefetch::kNonTemporal : StreamPrefetch::kL1;
  const std::string v = env;
  if (v == "nta") return StreamPrefetch::kNonTemporal;
  if (v == "t0") return StreamPrefetch::kL1;
  if (v == "t1") return StreamPrefetch::kL2;
  if (v == "none") return StreamPrefetch::kNone;
  fail("R1_STREAM_PREFETCH=", v, ": expected nta, t0, t1 or none");
}

}  // namespace r1
