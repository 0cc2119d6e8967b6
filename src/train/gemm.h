// The two float matrix kernels under every training Linear, with an AVX2/FMA version chosen at
// run time (src/util/cpu.h) and a portable one. Row-major throughout.
//   gemm_abt:  C[i][j]  = Σ_k A[i][k] · B[j][k]             (forward: y = x·Wᵀ)
//   gemm_acc:  C[i][:] += Σ_k A(i, k) · B[k][:], A(i, k) = a[i·a_rs + k·a_cs]
//              (backward: dx += dy·W with A = dy; dW += dyᵀ·x with A = dyᵀ via strides)
// Each call covers rows [i0, i1) of C, so threads split C by rows.
#pragma once
#include <cstdint>

namespace r1::train {

void gemm_abt(float* c, const float* a, const float* b, int64_t i0, int64_t i1, int64_t n_j, int64_t n_k);
void gemm_acc(float* c, const float* a, int64_t a_rs, int64_t a_cs, const float* b, int64_t i0, int64_t i1, int64_t n_k,
              int64_t n_j);

// The implementations (gemm_avx2.cc is compiled with -mavx2 -mfma).
void gemm_abt_portable(float* c, const float* a, const float* b, int64_t i0, int64_t i1, int64_t n_j, int64_t n_k);
void gemm_acc_portable(float* c, const float* a, int64_t a_rs, int64_t a_cs, const float* b, int64_t i0, int64_t i1,
                       int64_t n_k, int64_t n_j);
void gemm_abt_avx2(float* c, const float* a, const float* b, int64_t i0, int64_t i1, int64_t n_j, int64_t n_k);
void gemm_acc_avx2(float* c, const float* a, int64_t a_rs, int64_t a_cs, const float* b, int64_t i0, int64_t i1,
                   int64_t n_k, int64_t n_j);

}  // namespace r1::train
