#include "model/mla.h"

#include <algorithm>
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "core/error.h"
#include "io/gguf.h"
#include "model/deepseek_model.h"
#include "ops/convert.h"
#include "ops/quant.h"
#include "util/threadpool.h"

namespace r1 {
namespace {

const std::string kModels = std::string(R1_TEST_DATA_DIR) + "/models/";

std::vector<double> rows_of(const Linear& l) {
  std::vector<float> row(size_t(l.in()));
  std::vector<double> all;
  for (int64_t r = 0; r < l.out(); r++) {
    linear_row(l, r, row.data());
    all.insert(all.end(), row.begin(), row.end());
  }
  return all;
}

std::vector<double> matvec(const std::vector<double>& W, int64_t in, const std::vector<double>& x) {
  std::vector<double> y(W.size() / size_t(in));
  for (size_t r = 0; r < y.size(); r++) {
    for (int64_t c = 0; c < in; c++) y[r] += W[r * size_t(in) + size_t(c)] * x[size_t(c)];
  }
  return y;
}

void rms(std::vector<double>& x, size_t begin, size_t n, const TensorView& w, double eps) {
  double ss = 0;
  for (size_t j = 0; j < n; j++) ss += x[begin + j] * x[begin + j];
  const double k = 1 / std::sqrt(ss / double(n) + eps);
  for (size_t j = 0; j < n; j++) x[begin + j] *= k * static_cast<const float*>(w.data)[j];
}

void rope(std::vector<double>& x, size_t begin, const std::vector<double>& freq, int64_t pos) {
  for (size_t i = 0; i < freq.size(); i++) {
    const double a = double(pos) * freq[i], x0 = x[begin + 2 * i], x1 = x[begin + 2 * i + 1];
    x[begin + 2 * i] = x0 * std::cos(a) - x1 * std::sin(a);
    x[begin + 2 * i + 1] = x0 * std::sin(a) + x1 * std::cos(a);
  }
}

// Naive MLA (SPEC §1.4 step 5) in double: every head's k_nope and v decompressed from the latent.
std::vector<double> naive_mla(const DeepseekConfig& c, const MlaWeights& w, const std::vector<float>& xn, int64_t n) {
  const int64_t H = c.n_head, nope = c.qk_nope_dim, rp = c.qk_rope_dim, r = c.kv_lora_rank, v = c.v_head_dim;
  const int64_t qk = nope + rp, D = c.n_embd;
  const bool q_lora = c.q_lora_rank > 0;
  const std::vector<double> Wqa = rows_of(q_lora ? w.wq_a : w.wq), Wqb = q_lora ? rows_of(w.wq_b) : std::vector<double>();
  const std::vector<double> Wkva = rows_of(w.wkv_a), Wo = rows_of(w.wo);
  const std::vector<double> freq = rope_frequencies(c.rope);
  // W_UK_hᵀ [h][j][d] and W_UV_h [h][d][j] as the model binds them (stored, built or used in place).
  std::vector<float> kb(size_t(H * r * nope)), vb(size_t(H * v * r));
  for (int64_t row = 0; row < H * r; row++) {
    dequantize_row(w.wk_b.type, static_cast<const uint8_t*>(w.wk_b.data) + size_t(row) * row_bytes(w.wk_b.type, nope),
                   kb.data() + row * nope, nope);
  }
  for (int64_t h = 0; h < H; h++) {
    for (int64_t d = 0; d < v; d++) {
      const int64_t row = h * v + d;
      dequantize_row(w.wv_b.type, static_cast<const uint8_t*>(w.wv_b.data) + size_t(row) * row_bytes(w.wv_b.type, r),
                     vb.data() + (h * v + d) * r, r);
    }
  }
  std::vector<std::vector<double>> q(n), k(n), val(n);
  for (int64_t t = 0; t < n; t++) {
    const std::vector<double> x(xn.begin() + t * D, xn.begin() + (t + 1) * D);
    std::vector<double> qa = matvec(Wqa, D, x);
    if (q_lora) {
      rms(qa, 0, qa.size(), w.q_a_norm, c.rms_eps);
      qa = matvec(Wqb, c.q_lora_rank, qa);
    }
    q[size_t(t)] = qa;
    for (int64_t h = 0; h < H; h++) rope(q[size_t(t)], size_t(h * qk + nope), freq, t);
    std::vector<double> kv = matvec(Wkva, D, x);
    rms(kv, 0, size_t(r), w.kv_a_norm, c.rms_eps);
    rope(kv, size_t(r), freq, t);
    k[size_t(t)].assign(size_t(H * qk), 0);
    val[size_t(t)].assign(size_t(H * v), 0);
    for (int64_t h = 0; h < H; h++) {
      for (int64_t d = 0; d < nope; d++) {
        for (int64_t j = 0; j < r; j++) k[size_t(t)][size_t(h * qk + d)] += kb[(h * r + j) * nope + d] * kv[size_t(j)];
      }
      for (int64_t d = 0; d < rp; d++) k[size_t(t)][size_t(h * qk + nope + d)] = kv[size_t(r + d)];
      for (int64_t d = 0; d < v; d++) {
        for (int64_t j = 0; j < r; j++) val[size_t(t)][size_t(h * v + d)] += vb[(h * v + d) * r + j] * kv[size_t(j)];
      }
    }
  }
  std::vector<double> out;
  for (int64_t t = 0; t < n; t++) {
    std::vector<double> o(size_t(H * v));
    for (int64_t h = 0; h < H; h++) {
      std::vector<double> p(size_t(t + 1));
      double mx = -1e300, sum = 0;
      for (int64_t s = 0; s <= t; s++) {
        double dot = 0;
        for (int64_t d = 0; d < qk; d++) dot += q[size_t(t)][size_t(h * qk + d)] * k[size_t(s)][size_t(h * qk + d)];
        p[size_t(s)] = dot * c.attn_scale();
        mx = std::max(mx, p[size_t(s)]);
      }
      for (double& e : p) sum += (e = std::exp(e - mx));
      for (int64_t s = 0; s <= t; s++) {
        for (int64_t d = 0; d < v; d++) o[size_t(h * v + d)] += p[size_t(s)] / sum * val[size_t(s)][size_t(h * v + d)];
      }
    }
    const std::vector<double> y = matvec(Wo, H * v, o);
    out.insert(out.end(), y.begin(), y.end());
  }
  return out;
}

double max_rel_diff(const std::vector<float>& got, const std::vector<double>& want) {
  double m = 0, scale = 0;
  for (size_t i = 0; i < want.size(); i++) {
    m = std::max(m, std::abs(double(got[i]) - want[i]));
    scale = std::max(scale, std::abs(want[i]));
  }
  return m / scale;
}

// n attention-normed inputs of width D, N(0, 1) entries.
std::vector<float> normal_inputs(int64_t n, int64_t D, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<float> xn(size_t(n * D));
  for (float& x : xn) x = std::normal_distribution<float>(0, 1)(rng);
  return xn;
}

TEST(Mla, AbsorbedPrefillAndDecodeEqualNaiveAttention) {
  auto model = DeepseekModel::load(kModels + "deepseek2-mini-f32.gguf");
  const DeepseekConfig& c = model->config();
  const MlaWeights& w = model->weights().layers[1].attn;
  const int64_t n = 7, D = c.n_embd;
  const std::vector<float> xn = normal_inputs(n, D, 3);
  const std::vector<double> want = naive_mla(c, w, xn, n);

  ThreadPool pool(2);
  MlaScratch s(c, n, 16, pool.size());
  // Prefill: all n tokens in one call.
  LatentKVCache batch(c.n_layer, c.latent_dim(), 16);
  std::vector<float> got(size_t(n * D));
  mla_forward(c, w, batch, 1, 0, xn.data(), n, got.data(), s, pool);
  const double prefill_err = max_rel_diff(got, want);
  // Decode: one token per call over the growing latent cache.
  LatentKVCache step(c.n_layer, c.latent_dim(), 16);
  for (int64_t t = 0; t < n; t++) {
    mla_forward(c, w, step, 1, t, xn.data() + t * D, 1, got.data() + t * D, s, pool);
    step.advance(1);
  }
  const double decode_err = max_rel_diff(got, want);
  std::printf("MLA absorbed vs naive (double): prefill %.3g, decode %.3g (relative to max |out|)\n", prefill_err,
              decode_err);
  EXPECT_LT(prefill_err, 1e-5);
  EXPECT_LT(decode_err, 1e-5);
  // The latent cache holds exactly kv_lora + rope floats per position, the same from both paths up
  // to float32 rounding: prefill's tile adds each row's products in order of k, decode's kernel in
  // 16 lanes and then across them (up to ~15 ulps of a latent apart here).
  std::vector<float> a(size_t(c.latent_dim())), b(a.size());
  for (int64_t t = 0; t < n; t++) {
    batch.read(1, t, a.data());
    step.read(1, t, b.data());
    for (size_t j = 0; j < a.size(); j++) EXPECT_NEAR(a[j], b[j], 4e-6 * std::max(1.0f, std::fabs(b[j])));
  }
}

// Both forms of prefill (absorbed, decompressed) on each kind of up-projection the loaders bind:
// GGUF F32 (attn_kv_b or split), Q8_0, the Lite shape without q LoRA, and FP8 with block scales;
// a whole prompt in one pass and in two passes (the second over cached positions), 37 tokens so that
// the decompressed form's blocks of 16 tokens end short.
TEST(Mla, BothPrefillFormsEqualNaiveAttention) {
  struct Case {
    const char* model;
    double tol;      // quantized weights: the absorbed form quantizes its activations to Q8_0 as well
    bool quantized;  // then the decompressed form, which keeps float32 activations, is the closer one
  };
  const Case cases[] = {{"deepseek2-mini-f32.gguf", 1e-5, false},
                        {"deepseek2-lite-mini-f32.gguf", 1e-5, false},
                        {"deepseek2-mini-q8_0.gguf", 2e-2, true},
                        {"deepseek2-mini-hf-fp8", 1e-5, false}};
  ThreadPool pool(2);
  for (const Case& k : cases) {
    auto model = DeepseekModel::load(kModels + k.model);
    const DeepseekConfig& c = model->config();
    const MlaWeights& w = model->weights().layers[1].attn;
    const int64_t n = 37, D = c.n_embd, split = 20;
    const std::vector<float> xn = normal_inputs(n, D, 5);
    const std::vector<double> want = naive_mla(c, w, xn, n);
    MlaScratch s(c, n, 64, pool.size());
    double err[2] = {0, 0};
    for (MlaPrefill mode : {MlaPrefill::Absorbed, MlaPrefill::Decompressed}) {
      set_mla_prefill(mode);
      const char* name = mode == MlaPrefill::Absorbed ? "absorbed" : "decompressed";
      std::vector<float> got(size_t(n * D));
      LatentKVCache one(c.n_layer, c.latent_dim(), 64);
      mla_forward(c, w, one, 1, 0, xn.data(), n, got.data(), s, pool);
      const double whole = max_rel_diff(got, want);
      LatentKVCache two(c.n_layer, c.latent_dim(), 64);
      mla_forward(c, w, two, 1, 0, xn.data(), split, got.data(), s, pool);
      two.advance(split);
      mla_forward(c, w, two, 1, split, xn.data() + split * D, n - split, got.data() + split * D, s, pool);
      const double parts = max_rel_diff(got, want);
      std::printf("%s, %s prefill vs naive (double): one pass %.3g, two passes %.3g\n", k.model, name, whole, parts);
      EXPECT_LT(whole, k.tol) << k.model << " " << name;
      EXPECT_LT(parts, k.tol) << k.model << " " << name;
      err[mode == MlaPrefill::Decompressed] = whole;
    }
    if (k.quantized) {
      EXPECT_LT(err[1], err[0]) << k.model;
    }
    set_mla_prefill(MlaPrefill::Auto);
  }
}

// The decompressed form's result does not depend on the thread count (its work is split by head
// rows and by blocks of tokens, each computed whole by one thread).
TEST(Mla, DecompressedFormDoesNotDependOnThreads) {
  auto model = DeepseekModel::load(kModels + "deepseek2-mini-q8_0.gguf");
  const DeepseekConfig& c = model->config();
  const MlaWeights& w = model->weights().layers[1].attn;
  const int64_t n = 37, D = c.n_embd;
  const std::vector<float> xn = normal_inputs(n, D, 9);
  set_mla_prefill(MlaPrefill::Decompressed);
  std::vector<std::vector<float>> out;
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    MlaScratch s(c, n, 64, pool.size());
    LatentKVCache cache(c.n_layer, c.latent_dim(), 64);
    out.emplace_back(size_t(n * D));
    mla_forward(c, w, cache, 1, 0, xn.data(), n, out.back().data(), s, pool);
  }
  set_mla_prefill(MlaPrefill::Auto);
  EXPECT_EQ(out[0], out[1]);
  EXPECT_EQ(out[0], out[2]);
}

TEST(Mla, AutomaticFormIsDecompressedForLongPasses) {
  auto model = DeepseekModel::load(kModels + "deepseek2-mini-f32.gguf");
  const DeepseekConfig& c = model->config();
  EXPECT_TRUE(mla_decompressed_pays(c, 0, kMlaDecompressedMinTokens));  // a prompt from the start
  EXPECT_TRUE(mla_decompressed_pays(c, 0, 512));
  EXPECT_FALSE(mla_decompressed_pays(c, 0, kMlaDecompressedMinTokens - 1));  // short: the fixed steps cost more
  EXPECT_FALSE(mla_decompressed_pays(c, 0, 0));
  EXPECT_FALSE(mla_decompressed_pays(c, 4096, 1));   // decoding: the whole cache for one query
  EXPECT_FALSE(mla_decompressed_pays(c, 4096, 2));   // an MTP draft check
  EXPECT_TRUE(mla_decompressed_pays(c, 4096, 512));  // the next chunk of a long prompt
  EXPECT_FALSE(mla_decompressed_pays(c, 1 << 20, 64));  // a short chunk far into the context
}

TEST(Mla, LatentCacheBounds) {
  LatentKVCache cache(2, 80, 4);
  EXPECT_EQ(cache.latent_dim(), 80);
  cache.advance(3);
  EXPECT_THROW(cache.check_room(2), Error);
  EXPECT_THROW(cache.advance(2), Error);
  EXPECT_THROW(cache.truncate(4), Error);
  cache.truncate(1);
  EXPECT_EQ(cache.size(), 1);
  EXPECT_NE(cache.rows(1), cache.rows(0));
  EXPECT_EQ(cache.row_bytes(), 80u * 4u);
  EXPECT_THROW(LatentKVCache(0, 80, 4), Error);
  EXPECT_THROW(LatentKVCache(2, 80, 4, DType::Q8_0), Error);
  // F16 rows: half the bytes, the values rounded to F16 and widened back by read().
  LatentKVCache f16(2, 80, 4, DType::F16);
  EXPECT_EQ(f16.row_bytes(), 80u * 2u);
  std::vector<float> row(80), back(80);
  for (int j = 0; j < 80; j++) row[size_t(j)] = 0.37f * float(j) - 11.1f;
  f16.write(1, 2, row.data());
  f16.read(1, 2, back.data());
  for (int j = 0; j < 80; j++) EXPECT_EQ(back[size_t(j)], fp16_to_f32(f32_to_fp16(row[size_t(j)]))) << j;
  f16.read(0, 2, back.data());
  EXPECT_EQ(back[5], 0.0f);  // another layer untouched
}

}  // namespace
}  // namespace r1
