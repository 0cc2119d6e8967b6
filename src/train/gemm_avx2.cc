// AVX2 + FMA training GEMMs (see gemm.h). Register tiles: gemm_abt computes 4 rows of C by 2
// columns at a time with 8 accumulators; gemm_acc updates 4 rows of C over 16 columns at a time,
// loading each row of B once for the 4 rows.
#include <immintrin.h>

#include "train/gemm.h"

namespace r1::train {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float dot(const float* x, const float* y, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + k), _mm256_loadu_ps(y + k), acc);
  float s = hsum(acc);
  for (; k < n; k++) s += x[k] * y[k];
  return s;
}

}  // namespace

void gemm_abt_avx2(float* c, const float* a, const float* b, int64_t i0, int64_t i1, int64_t n_j, int64_t n_k) {
  const int64_t k8 = n_k / 8 * 8;
  int64_t i = i0;
  for (; i + 4 <= i1; i += 4) {
    const float* a0 = a + i * n_k;
    const float* a1 = a0 + n_k;
    const float* a2 = a1 + n_k;
    const float* a3 = a2 + n_k;
    int64_t j = 0;
    for (; j + 2 <= n_j; j += 2) {
      const float* b0 = b + j * n_k;
      const float* b1 = b0 + n_k;
      __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
      for (int64_t k = 0; k < k8; k += 8) {
        const __m256 vb0 = _mm256_loadu_ps(b0 + k), vb1 = _mm256_loadu_ps(b1 + k);
        __m256 va = _mm256_loadu_ps(a0 + k);
        c00 = _mm256_fmadd_ps(va, vb0, c00);
        c01 = _mm256_fmadd_ps(va, vb1, c01);
        va = _mm256_loadu_ps(a1 + k);
        c10 = _mm256_fmadd_ps(va, vb0, c10);
        c11 = _mm256_fmadd_ps(va, vb1, c11);
        va = _mm256_loadu_ps(a2 + k);
        c20 = _mm256_fmadd_ps(va, vb0, c20);
        c21 = _mm256_fmadd_ps(va, vb1, c21);
        va = _mm256_loadu_ps(a3 + k);
        c30 = _mm256_fmadd_ps(va, vb0, c30);
        c31 = _mm256_fmadd_ps(va, vb1, c31);
      }
      float r[8] = {hsum(c00), hsum(c01), hsum(c10), hsum(c11), hsum(c20), hsum(c21), hsum(c30), hsum(c31)};
      for (int64_t k = k8; k < n_k; k++) {
        r[0] += a0[k] * b0[k], r[1] += a0[k] * b1[k], r[2] += a1[k] * b0[k], r[3] += a1[k] * b1[k];
        r[4] += a2[k] * b0[k], r[5] += a2[k] * b1[k], r[6] += a3[k] * b0[k], r[7] += a3[k] * b1[k];
      }
      for (int q = 0; q < 4; q++) {
        c[(i + q) * n_j + j] = r[2 * q];
        c[(i + q) * n_j + j + 1] = r[2 * q + 1];
      }
    }
    for (; j < n_j; j++) {
      for (int q = 0; q < 4; q++) c[(i + q) * n_j + j] = dot(a + (i + q) * n_k, b + j * n_k, n_k);
    }
  }
  for (; i < i1; i++) {
    for (int64_t j = 0; j < n_j; j++) c[i * n_j + j] = dot(a + i * n_k, b + j * n_k, n_k);
  }
}

void gemm_acc_avx2(float* c, const float* a, int64_t a_rs, int64_t a_cs, const float* b, int64_t i0, int64_t i1,
                   int64_t n_k, int64_t n_j) {
  const int64_t j16 = n_j / 16 * 16;
  int64_t i = i0;
  for (; i + 4 <= i1; i += 4) {
    float* c0 = c + i * n_j;
    float* c1 = c0 + n_j;
    float* c2 = c1 + n_j;
    float* c3 = c2 + n_j;
    const float* ai = a + i * a_rs;
    for (int64_t j = 0; j < j16; j += 16) {
      __m256 x00 = _mm256_loadu_ps(c0 + j), x01 = _mm256_loadu_ps(c0 + j + 8);
      __m256 x10 = _mm256_loadu_ps(c1 + j), x11 = _mm256_loadu_ps(c1 + j + 8);
      __m256 x20 = _mm256_loadu_ps(c2 + j), x21 = _mm256_loadu_ps(c2 + j + 8);
      __m256 x30 = _mm256_loadu_ps(c3 + j), x31 = _mm256_loadu_ps(c3 + j + 8);
      for (int64_t k = 0; k < n_k; k++) {
        const float* bk = b + k * n_j + j;
        const __m256 b0 = _mm256_loadu_ps(bk), b1 = _mm256_loadu_ps(bk + 8);
        const float* ak = ai + k * a_cs;
        __m256 s = _mm256_set1_ps(ak[0]);
        x00 = _mm256_fmadd_ps(s, b0, x00);
        x01 = _mm256_fmadd_ps(s, b1, x01);
        s = _mm256_set1_ps(ak[a_rs]);
        x10 = _mm256_fmadd_ps(s, b0, x10);
        x11 = _mm256_fmadd_ps(s, b1, x11);
        s = _mm256_set1_ps(ak[2 * a_rs]);
        x20 = _mm256_fmadd_ps(s, b0, x20);
        x21 = _mm256_fmadd_ps(s, b1, x21);
        s = _mm256_set1_ps(ak[3 * a_rs]);
        x30 = _mm256_fmadd_ps(s, b0, x30);
        x31 = _mm256_fmadd_ps(s, b1, x31);
      }
      _mm256_storeu_ps(c0 + j, x00), _mm256_storeu_ps(c0 + j + 8, x01);
      _mm256_storeu_ps(c1 + j, x10), _mm256_storeu_ps(c1 + j + 8, x11);
      _mm256_storeu_ps(c2 + j, x20), _mm256_storeu_ps(c2 + j + 8, x21);
      _mm256_storeu_ps(c3 + j, x30), _mm256_storeu_ps(c3 + j + 8, x31);
    }
    for (int64_t q = 0; q < 4 && j16 < n_j; q++) {  // the last n_j % 16 columns
      float* cq = c + (i + q) * n_j;
      for (int64_t k = 0; k < n_k; k++) {
        const float s = ai[q * a_rs + k * a_cs];
        for (int64_t j = j16; j < n_j; j++) cq[j] += s * b[k * n_j + j];
      }
    }
  }
  if (i < i1) gemm_acc_portable(c, a, a_rs, a_cs, b, i, i1, n_k, n_j);
}

}  // namespace r1::train
