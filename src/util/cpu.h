// What the CPU we run on can do, detected once. The SIMD kernels are compiled for AVX2 / AVX-512
// unconditionally (per file flags) and chosen at run time from these flags.
#pragma once
#include <string>

namespace r1 {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avxvnni = false;  // vpdpbusd on 256-bit lanes without AVX-512 (VEX-encoded)
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512vnni = false, avx512bf16 = false;
  bool avx512vbmi = false;  // byte permutes (vpermi2b)
  // Intel AMX tiles with bf16 products (tdpbf16ps), usable: the CPU has them, the OS saves their state
  // (XCR0), and on Linux this process was granted them (arch_prctl, asked once when this is first read).
  bool amx_bf16 = false;
  bool neon = false, neon_dotprod = false;  // AArch64: ASIMD (always), and its dot-product extension
  bool amd = false;  // x86 vendor AuthenticAMD: picks how decode prefetches its weights (ops/prefetch.h)
};

const CpuFeatures& cpu_features();
// One line for logs: "x86-64: avx2 fma f16c avx512f avx512bw avx512vl avx512vnni, 16 threads".
std::string cpu_description();

}  // namespace r1
