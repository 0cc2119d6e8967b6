#include "util/cpu.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <thread>

#include "util/timer.h"

namespace r1 {
namespace {

TEST(Cpu, FeaturesAreConsistent) {
  const CpuFeatures& f = cpu_features();
  // AVX-512 sub-features imply the foundation; AVX-512F implies AVX2 on every shipped CPU.
  if (f.avx512bw || f.avx512vl || f.avx512vnni) {
    EXPECT_TRUE(f.avx512f);
  }
  if (f.avx512f || f.avxvnni) {
    EXPECT_TRUE(f.avx2);
  }
  const std::string d = cpu_description();
  EXPECT_NE(d.find("threads"), std::string::npos);
  EXPECT_EQ(d.find("avx2") != std::string::npos, f.avx2) << d;
  EXPECT_EQ(d.find("avxvnni") != std::string::npos, f.avxvnni) << d;
#if defined(__x86_64__)
  // The kernel's view of the CPU (Linux names AVX-VNNI avx_vnni), where /proc/cpuinfo is there.
  if (std::FILE* cpuinfo = std::fopen("/proc/cpuinfo", "r")) {
    std::string text;
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, cpuinfo)) > 0;) text.append(buf, n);
    std::fclose(cpuinfo);
    EXPECT_EQ(text.find(" avx_vnni") != std::string::npos, f.avxvnni);
    EXPECT_EQ(text.find("AuthenticAMD") != std::string::npos, f.amd);
  }
#endif
}

TEST(Timer, MeasuresElapsedTime) {
  Timer t;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_GE(t.ms(), 19.0);
  EXPECT_LT(t.seconds(), 5.0);
}

}  // namespace
}  // namespace r1
