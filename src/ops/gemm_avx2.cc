// The AVX2 prefill kernels (gemm_avx2_impl.h) for CPUs with AVX2, FMA and F16C (this file's flags).
#include "ops/gemm_avx2_impl.h"

namespace r1 {

const GemmTable& gemm_avx2() {
  static const GemmTable t = avx2_gemm_table();
  return t;
}

}  // namespace r1
