#include "util/cpu.h"

#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if (defined(__x86_64__) || defined(__i386__)) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace r1 {
namespace {

#if defined(__x86_64__) || defined(__i386__)
// AMX with bf16 products: CPUID leaf 7 EDX bits 24 (tiles) and 22 (bf16); XCR0 bits 17-18 (the OS
// saves the tile configuration and data); on Linux the tile data is off for a process until it asks
// (ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA, kernel 5.16+), and a tile instruction before that faults.
bool detect_amx_bf16() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) || (edx >> 24 & 1) == 0 || (edx >> 22 & 1) == 0) return false;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || (ecx >> 27 & 1) == 0) return false;  // OSXSAVE: xgetbv is there
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo >> 17 & 3) != 3) return false;
#if defined(__linux__)
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) != 0) return false;
#endif
  return true;
}
#endif

CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  // GCC's __builtin_cpu_supports has no "f16c" before GCC 13; every AVX2 CPU has F16C.
  f.f16c = f.avx2;
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
  f.avx512vnni = __builtin_cpu_supports("avx512vnni");
  f.avx512bf16 = __builtin_cpu_supports("avx512bf16");
  f.avx512vbmi = __builtin_cpu_supports("avx512vbmi");
  f.amx_bf16 = f.avx512bf16 && detect_amx_bf16();
  // AVX-VNNI: CPUID leaf 7, sub-leaf 1, EAX bit 4 (GCC 12's __builtin_cpu_supports("avxvnni") reads
  // false on a CPU that has it). The OS saves the 256-bit state wherever AVX2 is reported.
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  f.avxvnni = f.avx2 && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && (eax >> 4 & 1) != 0;
  // Leaf 0's vendor string, "AuthenticAMD", in EBX, EDX, ECX.
  f.amd = __get_cpuid(0, &eax, &ebx, &ecx, &edx) && ebx == 0x68747541 && edx == 0x69746e65 && ecx == 0x444d4163;
#elif defined(__aarch64__)
  f.neon = true;  // ASIMD is part of every AArch64 CPU
#if defined(__linux__)
  f.neon_dotprod = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#endif
#endif
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

std::string cpu_description() {
  const CpuFeatures& f = cpu_features();
#if defined(__x86_64__)
  std::string s = "x86-64:";
#elif defined(__aarch64__)
  std::string s = "aarch64:";
#else
  std::string s = "cpu:";
#endif
  const std::pair<bool, const char*> flags[] = {
      {f.avx2, "avx2"},         {f.fma, "fma"},           {f.f16c, "f16c"},     {f.avxvnni, "avxvnni"},
      {f.avx512f, "avx512f"},   {f.avx512bw, "avx512bw"}, {f.avx512vl, "avx512vl"},
      {f.avx512vnni, "avx512vnni"}, {f.avx512bf16, "avx512bf16"}, {f.avx512vbmi, "avx512vbmi"}, {f.amx_bf16, "amx-bf16"}, {f.neon, "neon"},
      {f.neon_dotprod, "dotprod"},
  };
  bool any = false;
  for (const auto& [on, name] : flags) {
    if (!on) continue;
    s += " ";
    s += name;
    any = true;
  }
  if (!any) s += " baseline";
  if (f.amd) s += " (AMD)";
  s += ", " + std::to_string(std::thread::hardware_concurrency()) + " threads";
  return s;
}

}  // namespace r1
