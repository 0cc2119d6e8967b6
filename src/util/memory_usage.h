// The process's resident memory, for speed reports (peak RSS next to tokens/s).
#pragma once
#include <cstdint>

namespace r1 {

int64_t peak_rss_bytes();     // high-water mark since the process started (getrusage)
int64_t current_rss_bytes();  // now (/proc/self/statm); 0 where unavailable

// Anonymous memory of this process in transparent huge pages now (AnonHugePages of
// /proc/self/smaps_rollup); 0 where unavailable. The weights and attention caches ask for 2 MiB pages
// (util/huge_pages.h) and decode reads 4 KiB pages much slower, but the kernel falls back to 4 KiB
// pages when it finds no free 2 MiB ones, so speed reports say how much memory got them.
int64_t anon_huge_page_bytes();

// The value of a "Key: N kB" line of a /proc file (meminfo, smaps_rollup) in bytes, `key` with its
// colon; -1 when the file or the key is not there (not Linux, an older kernel).
int64_t proc_kib_field(const char* path, const char* key);

}  // namespace r1
