// The AVX2 prefill kernels (gemm_avx2_impl.h) compiled with AVX-VNNI as well (-mavxvnni: vpdpbusd on
// 256-bit lanes, VEX-encoded), for the CPUs that have it without AVX-512 (Intel's client CPUs from
// Alder Lake on); the "avx2vnni" backend (matmul.cc).
#include "ops/gemm_avx2_impl.h"

namespace r1 {

const GemmTable& gemm_avx2vnni() {
  static const GemmTable t = avx2_gemm_table();
  return t;
}

}  // namespace r1
