// NEON dot products for every AArch64 CPU (baseline ARMv8-A); see vec_dot_neon_impl.h.
#include "ops/vec_dot_neon_impl.h"
#include "ops/gemm_neon_impl.h"

namespace r1 {

const VecDotTable& vec_dot_neon() {
  static const VecDotTable t = neon_table("neon");
  return t;
}

const GemmTable& gemm_neon() {
  static const GemmTable t = neon_gemm_table();
  return t;
}

}  // namespace r1
