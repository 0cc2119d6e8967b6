// The NEON dot products compiled with the dot-product extension (ARMv8.2-A +dotprod: sdot), for
// CPUs that report it (HWCAP_ASIMDDP); see vec_dot_neon_impl.h.
#include "ops/vec_dot_neon_impl.h"
#include "ops/gemm_neon_impl.h"

namespace r1 {

const VecDotTable& vec_dot_neon_dotprod() {
  static const VecDotTable t = neon_table("neon_dotprod");
  return t;
}

const GemmTable& gemm_neon_dotprod() {
  static const GemmTable t = neon_gemm_table();
  return t;
}

}  // namespace r1
