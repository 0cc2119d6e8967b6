// NEON dot products for every AArch64 CPU (baseline ARMv8-A); see vec_dot_neon_impl.h.
#include "ops/vec_dot_neon_impl.h"

namespace r1 {

const VecDotTable& vec_dot_neon() {
  static const VecDotTable t = neon_table("neon");
  return t;
}

}  // namespace r1
