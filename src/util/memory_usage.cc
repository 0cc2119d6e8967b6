#include "util/memory_usage.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace r1 {

int64_t peak_rss_bytes() {
  rusage u{};
  if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
  return static_cast<int64_t>(u.ru_maxrss) * 1024;  // Linux reports KiB
}

int64_t current_rss_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  long long size = 0, resident = 0;
  const int got = std::fscanf(f, "%lld %lld", &size, &resident);
  std::fclose(f);
  return got == 2 ? resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

int64_t proc_kib_field(const char* path, const char* key) {
  std::ifstream in(path);
  std::string k;
  for (long long kib = 0; in >> k;) {
    if (k == key) return in >> kib ? kib * 1024 : -1;
    in.ignore(1 << 16, '\n');
  }
  return -1;
}

int64_t anon_huge_page_bytes() {
  const int64_t b = proc_kib_field("/proc/self/smaps_rollup", "AnonHugePages:");
  return b > 0 ? b : 0;
}

}  // namespace r1
