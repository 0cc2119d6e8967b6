#include "ops/attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "ops/convert.h"
#include "ops/matmul.h"
#include "ops/quant.h"
#include "util/cpu.h"

namespace r1 {
namespace {

// float64 reference of attend() (of attend_causal() when causal: query i sees n_keys − (n_q − 1 − i)
// keys); mag[i][j] = Σ_t p_t·|v_t[j]| bounds the rounding of out[i][j]; lse (if given) gets each
// query's log-sum-exp of its scores.
std::vector<double> reference(const std::vector<float>& q, int64_t n_q, int64_t d_k, const std::vector<float>& K,
                              int64_t n_keys, const std::vector<float>& V, int64_t d_v, double scale,
                              std::vector<double>* mag, bool causal = false, std::vector<double>* lse = nullptr) {
  std::vector<double> out(static_cast<size_t>(n_q * d_v), 0.0);
  mag->assign(out.size(), 0.0);
  for (int64_t i = 0; i < n_q; ++i) {
    const int64_t seen = causal ? n_keys - (n_q - 1 - i) : n_keys;
    std::vector<double> s(static_cast<size_t>(seen));
    double mx = -INFINITY, sum = 0;
    for (int64_t t = 0; t < seen; ++t) {
      double d = 0;
      for (int64_t j = 0; j < d_k; ++j) d += double(q[i * d_k + j]) * K[t * d_k + j];
      s[t] = d * scale;
      mx = std::max(mx, s[t]);
    }
    for (auto& x : s) sum += (x = std::exp(x - mx));
    if (lse != nullptr) lse->push_back(mx + std::log(sum));
    for (int64_t t = 0; t < seen; ++t)
      for (int64_t j = 0; j < d_v; ++j) {
        out[i * d_v + j] += s[t] / sum * V[t * d_v + j];
        (*mag)[i * d_v + j] += s[t] / sum * std::fabs(V[t * d_v + j]);
      }
  }
  return out;
}

// A kernel over keys and values of T: float, or uint16_t (F16 bits: the F16 KV cache's).
template <class T>
using Kernel = void (*)(const float*, int64_t, int64_t, const T*, int64_t, int64_t, const T*, int64_t, int64_t, float,
                        float*, float*, float*, bool);
template <class T>
struct NamedKernel {
  const char* name;
  Kernel<T> fn;
};

// The public entry points (attend / attend_causal by the flag) and every kernel this CPU runs at
// these sizes.
template <class T = float>
std::vector<NamedKernel<T>> kernels_for(int64_t d_k, int64_t d_v) {
  std::vector<NamedKernel<T>> k = {
      {"attend", [](const float* q, int64_t n_q, int64_t d_k, const T* K, int64_t ks, int64_t n_keys, const T* V,
                    int64_t vs, int64_t d_v, float scale, float* out, float* scores, float*, bool causal) {
         if (causal) return attend_causal(q, n_q, d_k, K, ks, n_keys, V, vs, d_v, scale, out, scores);
         attend(q, n_q, d_k, K, ks, n_keys, V, vs, d_v, scale, out, scores);
       }},
      {"scalar", &attend_scalar}};
#if defined(R1_HAVE_X86_KERNELS)
  if (cpu_features().avx2 && cpu_features().fma && d_k % 8 == 0 && d_v % 8 == 0) k.push_back({"avx2", &attend_avx2});
  if (cpu_features().avx512f && d_k % 16 == 0 && d_v % 16 == 0) k.push_back({"avx512", &attend_avx512});
#elif defined(R1_HAVE_NEON_KERNELS)
  if (d_k % 4 == 0 && d_v % 4 == 0) k.push_back({"neon", &attend_neon});
#else
  (void)d_k, (void)d_v;
#endif
  return k;
}

// Every kernel against float64 at the head sizes of the models (GQA 64/128, MLA's 192 and 512-wide
// latent), key counts around the 16-key blocks, and 1..7 queries; scores large enough that the
// softmax is far from uniform (scale 0.3 on N(0, 1) entries).
TEST(Attention, KernelsMatchFloat64) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const struct { int64_t d_k, d_v; } dims[] = {{64, 64}, {128, 128}, {192, 128}, {576, 512}, {24, 40}};
  for (auto [d_k, d_v] : dims)
    for (int64_t n_keys : {1, 15, 16, 17, 100, 515})
      for (int64_t n_q : {1, 6, 7}) {
        std::vector<float> q(size_t(n_q * d_k)), K(size_t(n_keys * d_k)), V(size_t(n_keys * d_v));
        for (auto* v : {&q, &K, &V})
          for (auto& x : *v) x = nd(rng);
        std::vector<double> mag;
        const auto ref = reference(q, n_q, d_k, K, n_keys, V, d_v, 0.3, &mag);
        for (const NamedKernel<float>& kernel : kernels_for(d_k, d_v)) {
          std::vector<float> out(size_t(n_q * d_v), NAN), scores(size_t(n_q * n_keys));
          kernel.fn(q.data(), n_q, d_k, K.data(), d_k, n_keys, V.data(), d_v, d_v, 0.3f, out.data(), scores.data(), nullptr, false);
          for (size_t i = 0; i < out.size(); ++i)
            ASSERT_NEAR(out[i], ref[i], 2e-5 * mag[i] + 1e-30)
                << kernel.name << " d_k=" << d_k << " d_v=" << d_v << " keys=" << n_keys << " n_q=" << n_q << " i=" << i;
        }
      }
}

// Scores from −100 to +100 (exp underflows for most keys): the largest key dominates exactly as in
// float64, and no NaN appears.
TEST(Attention, PeakedSoftmax) {
  const int64_t d = 16, n_keys = 40;
  std::vector<float> q(d, 0.0f), K(size_t(n_keys * d), 0.0f), V(size_t(n_keys * d));
  q[0] = 1.0f;
  for (int64_t t = 0; t < n_keys; ++t) {
    K[t * d] = -100.0f + 5.0f * float(t);  // scores −100, −95, ..., 95
    for (int64_t j = 0; j < d; ++j) V[t * d + j] = float(t);
  }
  std::vector<double> mag;
  const auto ref = reference(q, 1, d, K, n_keys, V, d, 1.0, &mag);
  std::vector<float> out(d), scores(n_keys);
  attend(q.data(), 1, d, K.data(), d, n_keys, V.data(), d, d, 1.0f, out.data(), scores.data());
  for (int64_t j = 0; j < d; ++j) EXPECT_NEAR(out[j], ref[j], 1e-5 * ref[j]);
  EXPECT_NEAR(out[0], 39.0 - std::exp(-5.0), 1e-4);
}

// MLA's layout: the values are the first d_v floats of the key rows (k_stride = v_stride = d_k).
TEST(Attention, ValuesInsideKeyRows) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t d_k = 576, d_v = 512, n_keys = 37, n_q = 16;
  std::vector<float> q(size_t(n_q * d_k)), K(size_t(n_keys * d_k)), V(size_t(n_keys * d_v));
  for (auto& x : q) x = nd(rng);
  for (auto& x : K) x = nd(rng);
  for (int64_t t = 0; t < n_keys; ++t) std::copy_n(K.begin() + t * d_k, d_v, V.begin() + t * d_v);
  std::vector<double> mag;
  const auto ref = reference(q, n_q, d_k, K, n_keys, V, d_v, 0.05, &mag);
  for (const NamedKernel<float>& kernel : kernels_for(d_k, d_v)) {
    std::vector<float> out(size_t(n_q * d_v), NAN), scores(size_t(n_q * n_keys));
    kernel.fn(q.data(), n_q, d_k, K.data(), d_k, n_keys, K.data(), d_k, d_v, 0.05f, out.data(), scores.data(), nullptr, false);
    for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], ref[i], 2e-5 * mag[i] + 1e-30) << kernel.name << " " << i;
  }
}

// A causal block of consecutive tokens' queries (MLA's decompressed heads, 192 / 128, and odd
// sizes): query i must ignore the last n_q − 1 − i keys, however large their scores. The masked
// keys get huge scores, so a kernel that let them in would be far off; and each query's result
// must equal attend() of that query alone over its own keys.
TEST(Attention, CausalBlocksSeeOnlyTheirKeys) {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const struct { int64_t d_k, d_v; } dims[] = {{192, 128}, {96, 64}, {24, 40}};
  for (auto [d_k, d_v] : dims)
    for (int64_t n_q : {1, 5, 16})
      for (int64_t n_keys : {n_q, n_q + 1, int64_t(47), int64_t(300)}) {
        std::vector<float> q(size_t(n_q * d_k)), K(size_t(n_keys * d_k)), V(size_t(n_keys * d_v));
        for (auto* v : {&q, &K, &V})
          for (auto& x : *v) x = nd(rng);
        for (int64_t t = n_keys - n_q + 1; t < n_keys; ++t)  // keys only later queries see: aligned with them
          for (int64_t j = 0; j < d_k; ++j) K[size_t(t * d_k + j)] = 4 * q[size_t((t - (n_keys - n_q)) * d_k + j)];
        std::vector<double> mag;
        const auto ref = reference(q, n_q, d_k, K, n_keys, V, d_v, 0.3, &mag, true);
        for (const NamedKernel<float>& kernel : kernels_for(d_k, d_v)) {
          std::vector<float> out(size_t(n_q * d_v), NAN), scores(size_t(n_q * n_keys));
          kernel.fn(q.data(), n_q, d_k, K.data(), d_k, n_keys, V.data(), d_v, d_v, 0.3f, out.data(), scores.data(), nullptr, true);
          for (size_t i = 0; i < out.size(); ++i)
            ASSERT_NEAR(out[i], ref[i], 2e-5 * mag[i] + 1e-30)
                << kernel.name << " d_k=" << d_k << " keys=" << n_keys << " n_q=" << n_q << " i=" << i;
        }
        std::vector<float> one(static_cast<size_t>(d_v)), scores(static_cast<size_t>(n_keys));
        const int64_t i = n_q / 2, seen = n_keys - (n_q - 1 - i);
        attend(q.data() + i * d_k, 1, d_k, K.data(), d_k, seen, V.data(), d_v, d_v, 0.3f, one.data(), scores.data());
        std::vector<float> out(size_t(n_q * d_v)), block_scores(size_t(n_q * n_keys));
        attend_causal(q.data(), n_q, d_k, K.data(), d_k, n_keys, V.data(), d_v, d_v, 0.3f, out.data(), block_scores.data());
        for (int64_t j = 0; j < d_v; ++j) ASSERT_NEAR(out[size_t(i * d_v + j)], one[size_t(j)], 1e-5f) << j;
      }
  std::vector<float> x(64), scores(4);
  EXPECT_THROW(attend_causal(x.data(), 3, 8, x.data(), 8, 2, x.data(), 8, 8, 1.0f, x.data(), scores.data()), Error);
}

// Keys and values stored as F16: every kernel must compute the attention of the stored (rounded)
// values as exactly as the float32 kernels do theirs -- the reference widens the same F16 bits --
// with and without the causal mask, at row strides wider than the rows (a cache's heads).
TEST(Attention, F16KernelsMatchFloat64OnTheStoredValues) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const struct { int64_t d_k, d_v; } dims[] = {{64, 64}, {128, 128}, {24, 40}};
  for (auto [d_k, d_v] : dims)
    for (int64_t n_keys : {7, 16, 17, 300})
      for (int64_t n_q : {1, 6, 7})
        for (bool causal : {false, true}) {
          const int64_t stride = d_k + d_v + 8;  // keys and values interleaved in one buffer, with a gap
          std::vector<float> q(size_t(n_q * d_k)), K(size_t(n_keys * d_k)), V(size_t(n_keys * d_v));
          std::vector<uint16_t> rows(size_t(n_keys * stride), f32_to_fp16(NAN));
          for (auto& x : q) x = nd(rng);
          for (int64_t t = 0; t < n_keys; ++t) {
            for (int64_t j = 0; j < d_k; ++j) {
              const uint16_t h = f32_to_fp16(3 * nd(rng));
              rows[size_t(t * stride + j)] = h, K[size_t(t * d_k + j)] = fp16_to_f32(h);
            }
            for (int64_t j = 0; j < d_v; ++j) {
              const uint16_t h = f32_to_fp16(nd(rng));
              rows[size_t(t * stride + d_k + j)] = h, V[size_t(t * d_v + j)] = fp16_to_f32(h);
            }
          }
          if (causal && n_q > n_keys) continue;
          std::vector<double> mag;
          const auto ref = reference(q, n_q, d_k, K, n_keys, V, d_v, 0.1, &mag, causal);
          for (const NamedKernel<uint16_t>& kernel : kernels_for<uint16_t>(d_k, d_v)) {
            std::vector<float> out(size_t(n_q * d_v), NAN), scores(size_t(n_q * n_keys));
            kernel.fn(q.data(), n_q, d_k, rows.data(), stride, n_keys, rows.data() + d_k, stride, d_v, 0.1f, out.data(),
                      scores.data(), nullptr, causal);
            for (size_t i = 0; i < out.size(); ++i)
              ASSERT_NEAR(out[i], ref[i], 2e-5 * mag[i] + 1e-30) << kernel.name << " d_k=" << d_k << " d_v=" << d_v
                                                                  << " keys=" << n_keys << " n_q=" << n_q
                                                                  << " causal=" << causal << " i=" << i;
          }
        }
}

// n cache rows of `stride` N(0, sigma²) values stored as `type`, and the first d values of each row as
// stored: [n][d]. What follows a row's first d values is made unreadable: NaN values (F32, F16) or, in
// Q8_0 / Q4_0, NaN scales in every block past the one holding value d − 1. A kernel reading there
// puts NaN in its output.
struct StoredRows {
  std::vector<uint8_t> bytes;
  std::vector<float> values;
};
StoredRows stored_rows(DType type, int64_t n, int64_t d, int64_t stride, std::mt19937& rng, float sigma = 1.0f) {
  std::normal_distribution<float> nd(0.0f, sigma);
  const size_t row = row_bytes(type, stride);
  StoredRows r{std::vector<uint8_t>(size_t(n) * row), std::vector<float>(size_t(n * d))};
  std::vector<float> x(static_cast<size_t>(stride));
  for (int64_t t = 0; t < n; ++t) {
    uint8_t* bytes = r.bytes.data() + size_t(t) * row;
    for (auto& v : x) v = nd(rng);
    if (!is_block_row_type(type)) std::fill(x.begin() + d, x.end(), NAN);
    quantize_row(type, x.data(), bytes, stride);
    if (is_block_row_type(type)) {
      const size_t block = row_bytes(type, 32);
      for (int64_t b = (d + 31) / 32; b < stride / 32; ++b) {
        const uint16_t nan = 0x7E00;  // every block starts with its fp16 scale
        std::memcpy(bytes + size_t(b) * block, &nan, sizeof nan);
      }
    }
    dequantize_row(type, bytes, x.data(), stride);
    std::copy_n(x.data(), d, r.values.data() + t * d);
  }
  return r;
}

// Runs every kernel this CPU has at these widths (scalar, AVX2, AVX-512 / NEON, and the public attend()
// and attend_part() over all keys when not causal) on keys of k_type at K and values of v_type at V;
// their outputs and log-sum-exps (NaN where the entry point gives none) by name.
struct KernelRun {
  std::string name;
  std::vector<float> out, lse;
};
std::vector<KernelRun> run_kernels(DType k_type, const void* K, int64_t k_stride, DType v_type, const void* V,
                                   int64_t v_stride, const std::vector<float>& q, int64_t n_q, int64_t d_k,
                                   int64_t n_keys, int64_t d_v, float scale, bool causal) {
  std::vector<KernelRun> runs;
  auto run = [&](const char* name, auto&& fn) {
    std::vector<float> out(size_t(n_q * d_v), NAN), scores(size_t(n_q * n_keys)), lse(size_t(n_q), NAN);
    fn(out.data(), scores.data(), lse.data());
    runs.push_back({name, std::move(out), std::move(lse)});
  };
  // Rows of the widened types reach the kernels only as float32 (through attend() / attend_part()).
  if (is_kernel_row_type(k_type) && is_kernel_row_type(v_type)) with_row_pointer(k_type, K, "test", [&](auto Kr) {
    with_row_pointer(v_type, V, "test", [&](auto Vr) {
      using KR = decltype(Kr);
      using VR = decltype(Vr);
      auto kernel = [&](auto fn) {
        return [&, fn](float* out, float* scores, float* lse) {
          fn(q.data(), n_q, d_k, Kr, k_stride, n_keys, Vr, v_stride, d_v, scale, out, scores, lse, causal);
        };
      };
      run("scalar", kernel(&attend_scalar<KR, VR>));
#if defined(R1_HAVE_X86_KERNELS)
      const CpuFeatures& f = cpu_features();
      if (f.avx2 && f.fma && f.f16c && d_k % 8 == 0 && d_v % 8 == 0) run("avx2", kernel(&attend_avx2<KR, VR>));
      if (f.avx512f && f.f16c && d_k % 16 == 0 && d_v % 16 == 0) run("avx512", kernel(&attend_avx512<KR, VR>));
#elif defined(R1_HAVE_NEON_KERNELS)
      if (d_k % 4 == 0 && d_v % 4 == 0) run("neon", kernel(&attend_neon<KR, VR>));
#endif
    });
  });
  if (!causal) {
    run("attend", [&](float* out, float* scores, float*) {
      attend(k_type, v_type, q.data(), n_q, d_k, K, k_stride, n_keys, V, v_stride, d_v, scale, out, scores);
    });
    run("attend_part", [&](float* out, float* scores, float* lse) {
      attend_part(k_type, v_type, q.data(), n_q, d_k, K, k_stride, 0, n_keys, V, v_stride, d_v, scale, out, lse, scores);
    });
  }
  return runs;
}

// Every kernel on keys and values of every pair of kernel row types (`-ctk` / `-ctv`: F32, F16, Q8_0,
// Q4_0), and attend() / attend_part() on the widened ones (BF16, Q4_1, IQ4_NL, Q5_0, Q5_1: each with
// itself and both ways with F16 and Q8_0; 300 keys are two chunks of widened rows), against float64 on
// the values the rows hold, with keys and values in their own rows and, as MLA's
// latent cache has them (one type), values as the first d_v values of the key rows. After each row's
// first d values come NaN (or NaN block scales), which would poison the output if read. Widths around
// the kernels' vector sizes (48 / 24: part of a block), MLA's 0.66B latent (288 / 256).
TEST(Attention, KernelsMatchFloat64OnEveryPairOfCacheTypes) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const struct { int64_t d_k, d_v; bool shared; } dims[] = {{64, 64, false}, {128, 128, false}, {48, 24, false},
                                                            {288, 256, true}, {96, 64, true}};
  const auto pair_tested = [](DType k, DType v) {
    const auto plain = [](DType t) { return t == DType::F16 || t == DType::Q8_0; };
    return (is_kernel_row_type(k) && is_kernel_row_type(v)) || k == v || plain(k) || plain(v);
  };
  for (DType k_type : kCacheRowTypes)
    for (DType v_type : kCacheRowTypes)
      for (auto [d_k, d_v, shared] : dims) {
        if ((shared && k_type != v_type) || !pair_tested(k_type, v_type)) continue;
        for (int64_t n_keys : {1, 17, 300})
          for (int64_t n_q : {1, 6, 16})
            for (bool causal : {false, true}) {
              if (causal && n_q > n_keys) continue;
              const int64_t k_stride = (d_k + 31) / 32 * 32 + 32, v_stride = (d_v + 31) / 32 * 32 + 32;
              std::vector<float> q(size_t(n_q * d_k));
              for (auto& x : q) x = nd(rng);
              const StoredRows keys = stored_rows(k_type, n_keys, d_k, k_stride, rng, 3.0f);
              const StoredRows vals = shared ? StoredRows{} : stored_rows(v_type, n_keys, d_v, v_stride, rng);
              std::vector<float> V = vals.values;
              if (shared) {
                for (int64_t t = 0; t < n_keys; ++t)
                  V.insert(V.end(), keys.values.begin() + t * d_k, keys.values.begin() + t * d_k + d_v);
              }
              std::vector<double> mag, lse;
              const auto ref = reference(q, n_q, d_k, keys.values, n_keys, V, d_v, 0.1, &mag, causal, &lse);
              const void* Vrows = shared ? keys.bytes.data() : vals.bytes.data();
              for (const auto& [name, out, got_lse] : run_kernels(k_type, keys.bytes.data(), k_stride, v_type, Vrows,
                                                                  shared ? k_stride : v_stride, q, n_q, d_k, n_keys,
                                                                  d_v, 0.1f, causal)) {
                const std::string what = name + " keys " + std::string(dtype_name(k_type)) + " values " +
                                         std::string(dtype_name(v_type)) + " d_k=" + std::to_string(d_k) +
                                         " d_v=" + std::to_string(d_v) + " keys=" + std::to_string(n_keys) +
                                         " n_q=" + std::to_string(n_q) + " causal=" + std::to_string(causal);
                for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], ref[i], 2e-5 * mag[i] + 1e-30) << what << " i=" << i;
                if (name == "attend") continue;  // no log-sum-exps out of attend()
                for (size_t i = 0; i < lse.size(); ++i) {
                  ASSERT_NEAR(got_lse[i], lse[i], 1e-5 * (1 + std::fabs(lse[i]))) << what << " lse of query " << i;
                }
              }
            }
      }
  // Block rows that do not start on a block are refused by name.
  std::vector<BlockQ8_0> rows(4);
  std::vector<float> q(32), out(32), scores(2);
  EXPECT_THROW(attend(q.data(), 1, 32, Q8Ptr{rows.data()}, 48, 2, Q8Ptr{rows.data()}, 48, 32, 1.0f, out.data(),
                      scores.data()),
               Error);
  EXPECT_THROW(attend(DType::F16, DType::Q4_0, q.data(), 1, 32, rows.data(), 48, 2, rows.data(), 48, 32, 1.0f,
                      out.data(), scores.data()),
               Error);
  EXPECT_THROW(attend(DType::Q5_0, DType::F16, q.data(), 1, 32, rows.data(), 48, 2, rows.data(), 48, 32, 1.0f,
                      out.data(), scores.data()),
               Error);
  EXPECT_THROW(attend(DType::Q4_K, q.data(), 1, 32, rows.data(), 32, 2, rows.data(), 32, 32, 1.0f, out.data(),
                      scores.data()),
               Error);
}

// Checks out (n_q × d) of attention in bf16 products against a float64 reference of the same roundings,
// and against the exact attention within that rounding. K and V: the values the kernel read,
// [n_keys][d]. The kernel's roundings: queries, keys and values to bf16; its softmax runs along blocks
// of 16 keys, a block's probabilities e^(s − m) taken against the largest score m up to that block's
// end and rounded to bf16, then scaled by e^(m − m_final) and divided by Σ e^(s − m_final).
void expect_bf16_attention(const std::vector<float>& out, const std::vector<float>& q, int64_t n_q, int64_t d,
                           const std::vector<float>& K, const std::vector<float>& V, int64_t n_keys, double scale,
                           bool causal, const std::string& what) {
  auto bf = [](double x) { return double(bf16_to_f32(f32_to_bf16(float(x)))); };
  std::vector<double> mag;
  const auto exact = reference(q, n_q, d, K, n_keys, V, d, scale, &mag, causal);
  for (int64_t i = 0; i < n_q; ++i) {
    const int64_t seen = keys_seen(i, n_q, n_keys, causal);
    std::vector<double> sc(static_cast<size_t>(seen)), running(sc.size());
    for (int64_t t = 0; t < seen; ++t) {
      double dot = 0;
      for (int64_t j = 0; j < d; ++j) dot += bf(q[size_t(i * d + j)]) * bf(K[size_t(t * d + j)]);
      sc[size_t(t)] = scale * dot;
    }
    double mx = -INFINITY, sum = 0;
    for (int64_t b = 0; b < seen; b += 16) {
      for (int64_t t = b; t < std::min(seen, b + 16); ++t) mx = std::max(mx, sc[size_t(t)]);
      for (int64_t t = b; t < std::min(seen, b + 16); ++t) running[size_t(t)] = mx;
    }
    for (double x : sc) sum += std::exp(x - mx);
    for (int64_t j = 0; j < d; ++j) {
      // A probability within float32's reach of a bf16 rounding midpoint may round either way in the
      // kernel (its scores and exp are float32): that term gets one bf16 step of slack.
      double o = 0, slack = 0;
      for (int64_t t = 0; t < seen; ++t) {
        const double e = std::exp(sc[size_t(t)] - running[size_t(t)]), w = std::exp(running[size_t(t)] - mx) / sum;
        const double v = bf(V[size_t(t * d + j)]);
        o += bf(e) * w * v;
        slack += std::fabs(bf(e * (1 + 1e-5)) - bf(e * (1 - 1e-5))) * w * std::fabs(v);
      }
      const size_t at = size_t(i * d + j);
      ASSERT_NEAR(out[at], o, 1e-4 * mag[at] + slack + 1e-30) << what << " i=" << i << " j=" << j;
      ASSERT_NEAR(out[at], exact[at], 3e-2 * mag[at] + 1e-30) << what << ": far from exact attention";
    }
  }
}

// A case of the bf16 tests, for their failure messages.
std::string case_name(DType type, int64_t d, int64_t n_keys, int64_t n_q, bool causal) {
  return std::string(dtype_name(type)) + " d=" + std::to_string(d) + " keys=" + std::to_string(n_keys) +
         " n_q=" + std::to_string(n_q) + " causal=" + std::to_string(causal);
}

// Turns the bf16 products on for one test (the suite runs with them off: R1_BF16_DOT=0).
struct Bf16On {
  Bf16On() { set_bf16_dot_products(true); }
  ~Bf16On() { set_bf16_dot_products(false); }
};

// Prompt attention in bf16 products: packed from F32 and F16 rows (strided, as MLA's decompressed
// heads lie), with and without the causal mask.
TEST(Attention, Bf16PromptKernelMatchesFloat64OfItsRoundings) {
  Bf16On on;
  if (!attend_bf16_available(64, 64)) GTEST_SKIP() << "no AVX-512 BF16 on this CPU";
  std::mt19937 rng(9);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (DType type : {DType::F32, DType::F16})
    for (int64_t d : {64, 128})
      for (int64_t n_keys : {1, 2, 15, 16, 17, 301})
        for (int64_t n_q : {1, 6, 7, 20})  // 20: more than the kernel's 16 at once (MQA groups)
          for (bool causal : {false, true}) {
            if (causal && n_q > n_keys) continue;
            const int64_t stride = d + 16;  // rows with a gap after them
            std::vector<float> q(size_t(n_q * d)), K(size_t(n_keys * d)), V(size_t(n_keys * d));
            for (auto* v : {&q, &K, &V})
              for (auto& x : *v) x = nd(rng);
            std::vector<float> K32(size_t(n_keys * stride), NAN), V32(K32.size(), NAN);
            std::vector<uint16_t> K16(K32.size(), 0x7E00), V16(K32.size(), 0x7E00);  // F16 NaN in the gaps
            for (int64_t t = 0; t < n_keys; ++t)
              for (int64_t j = 0; j < d; ++j) {
                const size_t at = size_t(t * d + j), row_at = size_t(t * stride + j);
                K16[row_at] = f32_to_fp16(K[at]), V16[row_at] = f32_to_fp16(V[at]);
                if (type == DType::F16) K[at] = fp16_to_f32(K16[row_at]), V[at] = fp16_to_f32(V16[row_at]);
                K32[row_at] = K[at], V32[row_at] = V[at];
              }
            const void* krows = type == DType::F16 ? static_cast<const void*>(K16.data()) : K32.data();
            const void* vrows = type == DType::F16 ? static_cast<const void*>(V16.data()) : V32.data();
            std::vector<uint16_t> Kb(size_t(n_keys * d)), Vp(size_t((n_keys + 1) / 2 * 2 * d), 0xFFFF);
            pack_bf16_rows(type, krows, stride, n_keys, d, Kb.data());
            pack_bf16_pairs(type, vrows, stride, n_keys, d, Vp.data());
            std::vector<float> out(size_t(n_q * d), NAN);
            attend_bf16(q.data(), n_q, d, Kb.data(), n_keys, Vp.data(), d, 0.3f, out.data(), causal);
            expect_bf16_attention(out, q, n_q, d, K, V, n_keys, 0.3, causal,
                                  case_name(type, d, n_keys, n_q, causal));
          }
}

// Decode attention while the bf16 products are on: attend() on cache rows of F32, F16, Q8_0 and Q4_0,
// keys and values of one type or two (strided), which the kernel packs to bf16 block by block, and on
// rows of the widened types (BF16, Q5_1, IQ4_NL, Q4_1 / Q5_0; 130 keys: one chunk), through float32.
TEST(Attention, Bf16CacheRowsKernelMatchesFloat64OfItsRoundings) {
  Bf16On on;
  if (!attend_bf16_available(64, 64)) GTEST_SKIP() << "no AVX-512 BF16 on this CPU";
  std::mt19937 rng(10);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const std::pair<DType, DType> pairs[] = {{DType::F32, DType::F32},   {DType::F16, DType::F16},
                                           {DType::Q8_0, DType::Q8_0}, {DType::Q4_0, DType::Q4_0},
                                           {DType::Q8_0, DType::Q4_0}, {DType::F16, DType::Q8_0},
                                           {DType::BF16, DType::BF16}, {DType::Q5_1, DType::Q5_1},
                                           {DType::IQ4_NL, DType::F16}, {DType::Q4_1, DType::Q5_0}};
  for (auto [type, v_type] : pairs)
    for (int64_t d : {64, 576})
      for (int64_t n_keys : {1, 15, 16, 17, 130})
        for (int64_t n_q : {1, 6, 8, 17})
          for (bool causal : {false, true}) {
            if (causal && (n_q > n_keys || type != v_type || (type != DType::F32 && type != DType::F16))) continue;
            const int64_t stride = d + 32;  // rows with a gap after them (whole Q8_0 blocks)
            std::vector<float> q(size_t(n_q * d));
            for (auto& v : q) v = nd(rng);
            const StoredRows keys = stored_rows(type, n_keys, d, stride, rng), vals = stored_rows(v_type, n_keys, d, stride, rng);
            const std::vector<uint8_t>&Krows = keys.bytes, &Vrows = vals.bytes;
            const std::vector<float>&K = keys.values, &V = vals.values;
            // Scores of N(0, 1) rows grow as √d: the scale keeps the softmax as peaked at 576 as at 64.
            const float scale = 2.4f / std::sqrt(float(d));
            std::vector<float> out(size_t(n_q * d), NAN), scores(size_t(n_q * n_keys));
            if (causal) {
              if (type == DType::F16) {
                attend_causal(q.data(), n_q, d, reinterpret_cast<const uint16_t*>(Krows.data()), stride, n_keys,
                              reinterpret_cast<const uint16_t*>(Vrows.data()), stride, d, scale, out.data(),
                              scores.data());
              } else {
                attend_causal(q.data(), n_q, d, reinterpret_cast<const float*>(Krows.data()), stride, n_keys,
                              reinterpret_cast<const float*>(Vrows.data()), stride, d, scale, out.data(), scores.data());
              }
            } else {
              attend(type, v_type, q.data(), n_q, d, Krows.data(), stride, n_keys, Vrows.data(), stride, d, scale,
                     out.data(), scores.data());
            }
            expect_bf16_attention(out, q, n_q, d, K, V, n_keys, scale, causal,
                                  case_name(type, d, n_keys, n_q, causal) + " values " + std::string(dtype_name(v_type)));
          }
}

// A prompt's tokens over widened cache rows (attend_tokens; float32 products): token t's queries see
// the first n_keys0 + t keys, each 256-position chunk widened once for all tokens, the parts merged
// per token. Against float64 for every token, with the chunk boundary inside the block (200 + 120
// tokens), a block after it, one token, and a token that sees no key (zeros); and on a kernel row
// type (F16, read in place) the same floats as attend() per token.
TEST(Attention, TokensOverWidenedRowsMatchFloat64PerToken) {
  set_bf16_dot_products(false);
  std::mt19937 rng(13);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t d = 64, n_q = 3, stride = d + 32, q_stride = n_q * d + 8, out_stride = n_q * d + 5;
  const float scale = 2.4f / std::sqrt(float(d));
  const std::pair<DType, DType> pairs[] = {{DType::Q5_0, DType::Q5_0}, {DType::IQ4_NL, DType::F16},
                                           {DType::BF16, DType::Q4_1}, {DType::F16, DType::F16}};
  for (auto [k_type, v_type] : pairs) {
    EXPECT_EQ(attention_widens_rows(k_type, v_type, d, d), k_type != DType::F16) << dtype_name(k_type);
    const int64_t n_rows = 340;
    const StoredRows keys = stored_rows(k_type, n_rows, d, stride, rng), vals = stored_rows(v_type, n_rows, d, stride, rng);
    for (const auto& [n_keys0, n_tok] : {std::pair<int64_t, int64_t>{200, 120}, {270, 9}, {17, 1}, {0, 4}}) {
      std::vector<float> q(size_t(n_tok * q_stride)), out(size_t(n_tok * out_stride), NAN), scores(size_t(n_q * n_rows));
      for (auto& v : q) v = nd(rng);
      attend_tokens(k_type, v_type, q.data(), q_stride, n_tok, n_q, d, keys.bytes.data(), stride, n_keys0,
                    vals.bytes.data(), stride, d, scale, out.data(), out_stride, scores.data());
      for (int64_t t = 0; t < n_tok; ++t) {
        const std::string what = std::string(dtype_name(k_type)) + " token " + std::to_string(t) + " of " +
                                 std::to_string(n_tok) + " after " + std::to_string(n_keys0);
        const float* got = out.data() + t * out_stride;
        if (n_keys0 + t == 0) {
          for (int64_t j = 0; j < n_q * d; ++j) ASSERT_EQ(got[j], 0.0f) << what;
          continue;
        }
        const std::vector<float> qt(q.begin() + t * q_stride, q.begin() + t * q_stride + n_q * d);
        std::vector<double> mag;
        const auto want = reference(qt, n_q, d, keys.values, n_keys0 + t, vals.values, d, scale, &mag);
        for (size_t j = 0; j < want.size(); ++j) ASSERT_NEAR(got[j], want[j], 2e-5 * mag[j] + 1e-30) << what << " @" << j;
        if (k_type == DType::F16) {
          std::vector<float> one(size_t(n_q * d));
          attend(k_type, v_type, qt.data(), n_q, d, keys.bytes.data(), stride, n_keys0 + t, vals.bytes.data(), stride,
                 d, scale, one.data(), scores.data());
          ASSERT_TRUE(std::equal(one.begin(), one.end(), got)) << what;
        }
      }
    }
  }
}

// Attention split over the keys: each part is the attention over its range and its log-sum-exp that
// of its scores -- in float32 products within float rounding, in bf16 ones (where the CPU has them)
// within bf16 rounding of the exact attention -- and the parts merged give the attention over all
// keys. Also the merge on its own, on float64-exact parts: float precision.
TEST(Attention, PartsOverKeyRangesMergeIntoTheWholeAttention) {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (bool bf16 : {false, true}) {
    set_bf16_dot_products(bf16);
    if (bf16 && !attend_bf16_available(64, 64)) break;  // no AVX-512 BF16 on this CPU
    const double tol = bf16 ? 3e-2 : 2e-5, lse_tol = bf16 ? 0.05 : 1e-4;
    for (DType type : {DType::F16, DType::Q8_0, DType::Q4_0, DType::Q5_0})
    for (int64_t d : {64, 576}) {
      const int64_t n_q = 16, n_keys = 203, stride = d + 32;
      const float scale = 2.4f / std::sqrt(float(d));
      std::vector<float> q(size_t(n_q * d));
      for (auto& v : q) v = nd(rng);
      const StoredRows stored = stored_rows(type, n_keys, d, stride, rng);
      const std::vector<uint8_t>& rows = stored.bytes;
      const std::vector<float>& K = stored.values;
      // Values are the keys' rows (MLA's layout); three parts, the middle one not on a 16-key block.
      const int64_t cuts[] = {0, 64, 151, n_keys};
      std::vector<float> outs(size_t(3 * n_q * d)), lses(size_t(3 * n_q)), merged(size_t(n_q * d), NAN);
      for (int p = 0; p < 3; ++p) {
        const int64_t k0 = cuts[p], k1 = cuts[p + 1];
        std::vector<float> scores(size_t(n_q * (k1 - k0)));
        attend_part(type, type, q.data(), n_q, d, rows.data(), stride, k0, k1, rows.data(), stride, d, scale,
                    outs.data() + p * n_q * d, lses.data() + p * n_q, scores.data());
        std::vector<float> Kp(K.begin() + k0 * d, K.begin() + k1 * d);
        std::vector<double> mag;
        const auto want = reference(q, n_q, d, Kp, k1 - k0, Kp, d, scale, &mag);
        for (int64_t i = 0; i < n_q; ++i) {
          double lse = -INFINITY, sum = 0;
          std::vector<double> sc;
          for (int64_t t = k0; t < k1; ++t) {
            double dot = 0;
            for (int64_t j = 0; j < d; ++j) dot += double(q[size_t(i * d + j)]) * K[size_t(t * d + j)];
            sc.push_back(scale * dot);
            lse = std::max(lse, sc.back());
          }
          for (double v : sc) sum += std::exp(v - lse);
          lse += std::log(sum);
          EXPECT_NEAR(lses[size_t(p * n_q + i)], lse, lse_tol) << dtype_name(type) << " d=" << d << " part " << p;
          for (int64_t j = 0; j < d; ++j) {
            const size_t at = size_t(i * d + j);
            ASSERT_NEAR(outs[size_t(p * n_q * d) + at], want[at], tol * mag[at] + 1e-30)
                << dtype_name(type) << " d=" << d << " part " << p << " bf16=" << bf16;
          }
        }
      }
      merge_attention_parts(3, n_q, d, outs.data(), lses.data(), merged.data());
      std::vector<double> mag;
      const auto whole = reference(q, n_q, d, K, n_keys, K, d, scale, &mag);
      for (size_t at = 0; at < merged.size(); ++at) {
        ASSERT_NEAR(merged[at], whole[at], tol * mag[at] + 1e-30) << dtype_name(type) << " d=" << d << " bf16=" << bf16;
      }
    }
  }
  set_bf16_dot_products(false);  // as the suite runs
  EXPECT_THROW(attend_part(DType::F16, DType::F16, nullptr, 1, 64, nullptr, 64, 5, 5, nullptr, 64, 64, 1.0f, nullptr,
                           nullptr, nullptr),
               Error);  // empty range

  // The merge alone: float64 attention of two halves and their log-sum-exps give the whole.
  const int64_t n_q = 3, d = 8, n_keys = 40;
  std::vector<float> q(size_t(n_q * d)), K(size_t(n_keys * d)), V(K.size());
  for (auto* v : {&q, &K, &V})
    for (auto& x : *v) x = nd(rng);
  std::vector<float> outs, lses(size_t(2 * n_q));
  for (int p = 0; p < 2; ++p) {
    const int64_t k0 = p * 25, k1 = p == 0 ? 25 : n_keys;
    std::vector<float> Kp(K.begin() + k0 * d, K.begin() + k1 * d), Vp(V.begin() + k0 * d, V.begin() + k1 * d);
    std::vector<double> mag;
    for (double v : reference(q, n_q, d, Kp, k1 - k0, Vp, d, 0.7, &mag)) outs.push_back(float(v));
    for (int64_t i = 0; i < n_q; ++i) {
      double sum = 0;
      for (int64_t t = k0; t < k1; ++t) {
        double dot = 0;
        for (int64_t j = 0; j < d; ++j) dot += double(q[size_t(i * d + j)]) * K[size_t(t * d + j)];
        sum += std::exp(0.7 * dot);
      }
      lses[size_t(p * n_q + i)] = float(std::log(sum));
    }
  }
  std::vector<float> merged(size_t(n_q * d)), merged_lse(static_cast<size_t>(n_q));
  merge_attention_parts(2, n_q, d, outs.data(), lses.data(), merged.data(), merged_lse.data());
  std::vector<double> mag;
  const auto whole = reference(q, n_q, d, K, n_keys, V, d, 0.7, &mag);
  for (size_t at = 0; at < merged.size(); ++at) EXPECT_NEAR(merged[at], whole[at], 1e-5 * mag[at]);
  for (int64_t i = 0; i < n_q; ++i) {  // the union's log-sum-exp: ln(e^lse_0 + e^lse_1)
    const double want = std::log(std::exp(double(lses[size_t(i)])) + std::exp(double(lses[size_t(n_q + i)])));
    EXPECT_NEAR(merged_lse[size_t(i)], want, 1e-5 * (1 + std::fabs(want))) << "query " << i;
  }
}

// The bf16 packers read rows of every cache type but F32 (strided; whole blocks) as the values they
// hold: the same bf16 as packing the dequantized float32 rows. 301 rows: two chunks of the widened
// types, the second odd.
TEST(Attention, Bf16PackersReadBlockRowsAsTheirValues) {
  Bf16On on;
  if (!attend_bf16_available(64, 64)) GTEST_SKIP() << "no AVX-512 BF16 on this CPU";
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  const int64_t d = 64, stride = 96;
  for (DType type : kCacheRowTypes)
  for (int64_t n : {7, 301}) {
    if (type == DType::F32) continue;
    const size_t row = row_bytes(type, stride);
    std::vector<uint8_t> blocks(size_t(n) * row);
    std::vector<float> f32(size_t(n * stride)), x(static_cast<size_t>(stride));
    for (int64_t t = 0; t < n; ++t) {
      for (auto& v : x) v = nd(rng);
      quantize_row(type, x.data(), blocks.data() + t * row, stride);
      dequantize_row(type, blocks.data() + t * row, f32.data() + t * stride, stride);
    }
    std::vector<uint16_t> a(size_t(n * d)), b(a.size()), pa(size_t((n + 1) / 2 * 2 * d)), pb(pa.size());
    pack_bf16_rows(type, blocks.data(), stride, n, d, a.data());
    pack_bf16_rows(DType::F32, f32.data(), stride, n, d, b.data());
    EXPECT_EQ(a, b) << dtype_name(type);
    pack_bf16_pairs(type, blocks.data(), stride, n, d, pa.data());
    pack_bf16_pairs(DType::F32, f32.data(), stride, n, d, pb.data());
    EXPECT_EQ(pa, pb) << dtype_name(type);
    if (is_block_row_type(type)) {  // not whole blocks
      EXPECT_THROW(pack_bf16_rows(type, blocks.data(), 80, n, d, a.data()), Error);
    }
  }
}

}  // namespace
}  // namespace r1
