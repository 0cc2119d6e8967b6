// The forward pass against llama.cpp's reference logits (tests/data/README.md §4, §5).
#include "model/dense.h"

#include <gtest/gtest.h>

#include <cmath>
#include <deque>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "model/model.h"
#include "model/weights.h"
#include "ops/attention.h"
#include "ops/matmul.h"
#include "ops/quant.h"
#include "ops/repack.h"
#include "util/cpu.h"
#include "util/threadpool.h"
#include "testing/reference_data.h"

namespace r1 {
namespace {
using r1::test_data::read_f32;
using r1::test_data::rel_err;
using r1::test_data::read_ids;

const std::string kData = R1_TEST_DATA_DIR;


int32_t argmax(const float* row, int64_t n) { return int32_t(std::max_element(row, row + n) - row); }

struct Case {
  const char* model;      // path under models/
  const char* ref;        // refs/<ref>.*
  double tol;             // bound on max|Δ|/max|logit|, prompt and gen rows
  // llama.cpp wrote long-run (1024-token) references for the F32 files only; every variant is
  // checked against its family's F32 long run, with this bound: exact-weight files at F32
  // precision, quantized ones at ~1.5x their measured quantization error (random weights this
  // small quantize coarsely: 2 % for Q8_0 up to 23 % for Q4_0).
  double long_tol;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.model << " vs " << c.ref; }

class DenseRefTest : public testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    model_ = Model::load(kData + "/models/" + GetParam().model);
    ref_prefix_ = kData + "/refs/" + GetParam().ref;
  }
  const ModelConfig& cfg() const { return model_->config(); }
  std::unique_ptr<Model> model_;
  std::string ref_prefix_;
  ThreadPool pool_{2};
};

TEST_P(DenseRefTest, PromptOneBatchThenGreedyContinuation) {
  const auto ids = read_ids(kData + "/refs/tokens.txt");
  const auto ref = read_f32(ref_prefix_ + ".logits.f32");
  const auto gen_ref = read_f32(ref_prefix_ + ".gen_logits.f32");
  ASSERT_EQ(ids.size(), 32u);
  const int64_t V = cfg().n_vocab;
  KVCache cache(cfg().n_layer, cfg().n_head_kv, cfg().head_dim, 256);
  DenseActivations act(cfg(), 64, 256, pool_.size());
  std::vector<float> logits(32 * size_t(V));
  dense_forward(cfg(), model_->weights(), cache, act, pool_, ids.data(), 32, true, logits.data());
  const double e_prompt = rel_err(logits.data(), ref);
  EXPECT_LE(e_prompt, GetParam().tol);

  // Greedy continuation fed with the reference ids (so every row is comparable), checking our
  // argmax at each step while every reference margin so far exceeds twice the tolerance.
  std::ifstream jf(ref_prefix_ + ".json");
  const nlohmann::json j = nlohmann::json::parse(jf);
  const auto greedy = j["greedy"].get<std::vector<int32_t>>();
  const auto margins = j["greedy_top1_minus_top2"].get<std::vector<double>>();
  const double max_abs = j["max_abs_logit"].get<double>();
  std::vector<float> gen(16 * size_t(V));
  bool comparable = true;
  int checked = 0;
  const float* prev = logits.data() + 31 * V;
  for (int s = 0; s < 16; s++) {
    comparable = comparable && margins[size_t(s)] > 2 * GetParam().tol * max_abs;
    if (comparable) {
      EXPECT_EQ(argmax(prev, V), greedy[size_t(s)]) << "step " << s;
      checked++;
    }
    dense_forward(cfg(), model_->weights(), cache, act, pool_, &greedy[size_t(s)], 1, false, gen.data() + s * V);
    prev = gen.data() + s * V;
  }
  // Decode rows within tol until an activation code flips. Summed in another order than llama.cpp's
  // (the avx2 and avx512 backends), a float can land on the other side of a Q8_K / Q8_0 rounding
  // boundary; the flipped code moves that step's keys and values, so that row and every later one
  // differ by up to the quantized bound (2e-2, as Q4_0's) while the rows before stay within tol.
  // Measured: Q5_K_M on avx2, rows 0-9 within 3e-7, rows 10-15 7.6e-3 to 1.2e-2. A flip is rare, so
  // at least half the rows must stay within tol (an error in the kernels shows from the first row).
  // Float models quantize no activations, so no row of theirs may exceed tol.
  const bool quantized = is_quantized(model_->weights().layers[0].wq.type);
  double max_ref = 0;
  for (float v : gen_ref) max_ref = std::max(max_ref, double(std::fabs(v)));
  int rows_over = 0, first_over = -1;
  double e_gen = 0;
  for (int s = 0; s < 16; s++) {
    double d = 0;
    for (int64_t i = 0; i < V; i++) d = std::max(d, std::fabs(double(gen[s * V + i]) - gen_ref[s * V + i]));
    e_gen = std::max(e_gen, d / max_ref);
    if (d / max_ref <= GetParam().tol) continue;
    if (rows_over == 0) first_over = s;
    ++rows_over;
  }
  EXPECT_LE(rows_over, quantized ? 8 : 0) << "decode rows beyond " << GetParam().tol;
  EXPECT_LE(e_gen, quantized ? std::max(GetParam().tol, 2e-2) : GetParam().tol) << "first row beyond tol: " << first_over;
  std::printf("[ measured ] %s vs %s: prompt %.3g, gen %.3g (%d of 16 rows beyond tol), greedy steps checked %d/16\n",
              GetParam().model, GetParam().ref, e_prompt, e_gen, rows_over, checked);
}

// BF16 and F16 weights' prefill with bf16 products (the default where the CPU has AVX-512 BF16; the
// suite runs with R1_BF16_DOT=0): activations rounded to bf16, F16 weights too. Within 1e-2 of
// llama.cpp's float32 logits on this random model (measured ~3e-3 for BF16; bf16 keeps 8
// significant bits), and really on the bf16 path.
TEST(DenseBf16, Bf16DotProductsStayWithinTheirTolerance) {
  const auto ids = read_ids(kData + "/refs/tokens.txt");
  const auto ref = read_f32(kData + "/refs/qwen2-mini-f32.logits.f32");
  ThreadPool pool(2);
  for (const auto& [file, type, exact_tol] : {std::tuple<const char*, DType, double>{"qwen2-mini-bf16", DType::BF16, 1e-5},
                                              {"qwen2-mini-f16", DType::F16, 1e-4}}) {
    auto model = Model::load(kData + "/models/" + file + ".gguf");
    const ModelConfig& c = model->config();
    auto prompt = [&](bool bf16) {
      set_bf16_dot_products(bf16);
      KVCache cache(c.n_layer, c.n_head_kv, c.head_dim, 64);
      DenseActivations act(c, 32, 64, pool.size());
      std::vector<float> logits(32 * size_t(c.n_vocab));
      dense_forward(c, model->weights(), cache, act, pool, ids.data(), 32, true, logits.data());
      return logits;
    };
    const std::vector<float> exact = prompt(false), rounded = prompt(true);
    const bool bf16_path = matmul_activation_type(type, c.n_embd, 32) == DType::BF16;  // while on
    set_bf16_dot_products(false);
    const double e_exact = rel_err(exact.data(), ref), e_rounded = rel_err(rounded.data(), ref);
    std::printf("[ measured ] %s prompt vs f32 reference: float32 products %.3g, bf16 %.3g\n", file, e_exact,
                e_rounded);
    EXPECT_LE(e_exact, exact_tol) << file;
    EXPECT_LE(e_rounded, 1e-2) << file;
    if (bf16_path) {
      EXPECT_GT(e_rounded, e_exact) << file;  // the activations were rounded
    } else {
      EXPECT_EQ(rounded, exact) << file;  // no AVX-512 BF16 here: float32 either way
    }
  }
}

// m's weights with every matrix (rows as stored or interleaved at load) dequantized to float32 into
// store: the quantized model computed without rounding its activations.
DenseWeights dequantized_weights(const DenseWeights& m, std::deque<std::vector<float>>& store) {
  DenseWeights w = m;
  auto to_f32 = [&](TensorView& t) {
    if (t.data == nullptr || t.type == DType::F32) return;
    const int64_t k = t.ne[0], rows = t.rows();
    std::vector<float>& out = store.emplace_back(size_t(k * rows));
    std::vector<uint8_t> row(row_bytes(t.type, k));
    for (int64_t r = 0; r < rows; ++r) {
      const auto* src = static_cast<const uint8_t*>(t.data) + size_t(r) * row.size();
      if (t.layout == RowLayout::Interleaved8) unpack_x8_row(t.type, static_cast<const uint8_t*>(t.data), rows, k, r, row.data());
      dequantize_row(t.type, t.layout == RowLayout::Interleaved8 ? row.data() : src, out.data() + r * k, k);
    }
    t.data = out.data(), t.type = DType::F32, t.layout = RowLayout::Plain, t.nbytes = out.size() * sizeof(float);
  };
  for (LayerWeights& L : w.layers) for_each_dense_matrix(L, to_f32);
  to_f32(w.output);
  return w;
}

// On AMX CPUs the integer formats' prefill (64 tokens or more) takes bf16 products too: weights made
// bf16 as laid out, activations rounded to bf16 instead of quantized to 8 bits per block (ops/matmul.h).
// The logits of a 64-token prompt (the long reference prompt's first) are closer to those of the same
// weights with float32 activations (the matrices dequantized) than the 8-bit path's, within the bf16
// bound (1e-2 of the largest), and really on that path.
TEST(DenseBf16, AmxIntegerPrefillIsCloserThanEightBitActivations) {
  if (!cpu_features().amx_bf16) GTEST_SKIP() << "no AMX on this CPU";
  set_amx_products(true);  // whatever R1_AMX says
  const auto ids = read_ids(kData + "/refs/long_tokens.txt");
  ASSERT_GE(ids.size(), 64u);
  ThreadPool pool(2);
  for (const char* name : {"qwen2-mini-q8_0", "qwen2-mini-q4_0", "qwen2-mini-q4_k_m", "qwen2-mini-q6_k"}) {
    auto model = Model::load(kData + "/models/" + name + ".gguf");
    const ModelConfig& c = model->config();
    std::deque<std::vector<float>> store;
    const DenseWeights exact_w = dequantized_weights(model->weights(), store);
    auto prompt = [&](const DenseWeights& w, bool bf16) {
      set_bf16_dot_products(bf16);
      KVCache cache(c.n_layer, c.n_head_kv, c.head_dim, 64);
      DenseActivations act(c, 64, 64, pool.size());
      std::vector<float> logits(64 * size_t(c.n_vocab));
      dense_forward(c, w, cache, act, pool, ids.data(), 64, true, logits.data());
      return logits;
    };
    const std::vector<float> exact = prompt(exact_w, false), int8 = prompt(model->weights(), false),
                             bf16 = prompt(model->weights(), true);
    const bool on = matmul_activation_type(model->weights().layers[0].wq.type, c.n_embd, 64) == DType::BF16;
    set_bf16_dot_products(false);
    const double e_int8 = rel_err(int8.data(), exact), e_bf16 = rel_err(bf16.data(), exact);
    std::printf("[ measured ] %s prompt vs float32 activations: 8-bit activations %.3g, bf16 products %.3g\n", name,
                e_int8, e_bf16);
    EXPECT_TRUE(on) << name;
    EXPECT_LT(e_bf16, e_int8) << name;
    EXPECT_LE(e_bf16, 1e-2) << name;
  }
  reset_amx_products();
}

// The KV cache's types (model/kv_cache.h), against llama.cpp's references computed with F32 caches,
// for the 32-token prompt (in one pass and token by token) and the 1024-token run: F16 rows move the
// logits only by that rounding (within 1e-3, measured 1.5e-4..2.5e-4), Q8_0 blocks (`-ctk q8_0`) by
// theirs (within 1e-2, measured 4.5e-3..5.5e-3), and both really move them (the F32 cache's logits
// are not reproduced); an F32 cache reproduces the references at float precision.
TEST(DenseCacheTypes, LogitsMoveOnlyByTheRoundingOfKeysAndValues) {
  const auto ids = read_ids(kData + "/refs/tokens.txt");
  const auto long_ids = read_ids(kData + "/refs/long_tokens.txt");
  ThreadPool pool(2);
  // bound: largest error allowed; moved: smallest error that shows the values were rounded (0: none).
  const struct { DType type; double bound, moved; } kinds[] = {
      {DType::F16, 1e-3, 1e-6}, {DType::Q8_0, 1e-2, 1e-5}, {DType::F32, 1e-5, 0}};
  for (const char* family : {"qwen2-mini", "llama-mini"}) {
    auto model = Model::load(kData + "/models/" + family + "-f32.gguf");
    const ModelConfig& c = model->config();
    const int64_t V = c.n_vocab;
    const auto ref = read_f32(kData + "/refs/" + family + "-f32.logits.f32");
    const auto long_ref = read_f32(kData + "/refs/" + family + "-f32.long_last32.logits.f32");
    std::vector<float> logits(32 * size_t(V)), by_token(32 * size_t(V)), long_logits(32 * size_t(V));
    for (const auto& k : kinds) {
      KVCache cache(c.n_layer, c.n_head_kv, c.head_dim, 1024, k.type);
      DenseActivations act(c, 256, 1024, pool.size());
      dense_forward(c, model->weights(), cache, act, pool, ids.data(), 32, true, logits.data());
      cache.clear();
      for (int64_t i = 0; i < 32; i++)
        dense_forward(c, model->weights(), cache, act, pool, &ids[size_t(i)], 1, true, by_token.data() + i * V);
      cache.clear();
      dense_forward(c, model->weights(), cache, act, pool, long_ids.data(), 992, false, long_logits.data());
      dense_forward(c, model->weights(), cache, act, pool, long_ids.data() + 992, 32, true, long_logits.data());
      const double e = rel_err(logits.data(), ref), e_tok = rel_err(by_token.data(), ref);
      const double e_long = rel_err(long_logits.data(), long_ref);
      const std::string name(dtype_name(k.type));
      std::printf("[ measured ] %s %s cache vs llama.cpp's f32-cache references: prompt %.3g, token by token %.3g, "
                  "long run %.3g\n", family, name.c_str(), e, e_tok, e_long);
      EXPECT_LE(e, k.bound) << family << " " << name;
      EXPECT_LE(e_tok, k.bound) << family << " " << name;
      EXPECT_LE(e_long, k.bound) << family << " " << name;
      if (k.moved > 0) {
        EXPECT_GT(e, k.moved) << family << " " << name << ": keys and values were not rounded";
      }
    }
  }
}

// Attention in bf16 products (on by default where the CPU has AVX-512 BF16; the suite runs with them
// off): prompt passes on packed keys and values, decode steps on the cache rows. Queries, keys,
// values and probabilities rounded to bf16 move the prompt's, the token-by-token run's and the
// 1024-token run's logits within 1e-2 of llama.cpp's references (measured 1.3e-3 .. 2.4e-3), and the
// path is really taken (the float32 path's logits are not reproduced).
TEST(DenseBf16Attention, PromptAndDecodeLogitsStayWithinTheRoundingOfBf16) {
  set_bf16_dot_products(true);
  struct Restore {
    ~Restore() { set_bf16_dot_products(false); }
  } restore;
  if (!attend_bf16_available(64, 64)) GTEST_SKIP() << "no AVX-512 BF16 on this CPU";
  const auto ids = read_ids(kData + "/refs/tokens.txt");
  const auto long_ids = read_ids(kData + "/refs/long_tokens.txt");
  ThreadPool pool(2);
  for (const char* family : {"qwen2-mini", "llama-mini"})
    for (DType type : {DType::F32, DType::F16, DType::Q8_0}) {
      auto model = Model::load(kData + "/models/" + family + "-f32.gguf");
      const ModelConfig& c = model->config();
      const int64_t V = c.n_vocab;
      const auto ref = read_f32(kData + "/refs/" + family + "-f32.logits.f32");
      const auto long_ref = read_f32(kData + "/refs/" + family + "-f32.long_last32.logits.f32");
      std::vector<float> logits(32 * size_t(V)), long_logits(32 * size_t(V));
      KVCache cache(c.n_layer, c.n_head_kv, c.head_dim, 1024, type);
      DenseActivations act(c, 256, 1024, pool.size());
      dense_forward(c, model->weights(), cache, act, pool, ids.data(), 32, true, logits.data());
      cache.clear();
      dense_forward(c, model->weights(), cache, act, pool, long_ids.data(), 992, false, long_logits.data());
      dense_forward(c, model->weights(), cache, act, pool, long_ids.data() + 992, 32, true, long_logits.data());
      std::vector<float> tok_logits(32 * size_t(V));
      cache.clear();
      for (int64_t i = 0; i < 32; i++) {
        dense_forward(c, model->weights(), cache, act, pool, &ids[size_t(i)], 1, true, tok_logits.data() + i * V);
      }
      const double e = rel_err(logits.data(), ref), e_long = rel_err(long_logits.data(), long_ref);
      const double e_tok = rel_err(tok_logits.data(), ref);
      std::printf("[ measured ] %s, %s cache, bf16 attention vs llama.cpp: prompt %.3g, token by token %.3g, long run "
                  "%.3g\n", family, std::string(dtype_name(type)).c_str(), e, e_tok, e_long);
      EXPECT_LE(e, 1e-2) << family;
      EXPECT_LE(e_tok, 1e-2) << family;
      EXPECT_LE(e_long, 1e-2) << family;
      EXPECT_GT(e, 5e-4) << family << ": not the bf16 path (float32 attention is within 3e-4)";
      EXPECT_GT(e_tok, 5e-4) << family << ": decode did not take the bf16 path";
    }
}

TEST_P(DenseRefTest, PromptTokenByTokenMatchesReference) {
  const auto ids = read_ids(kData + "/refs/tokens.txt");
  const auto ref = read_f32(ref_prefix_ + ".logits.f32");
  const int64_t V = cfg().n_vocab;
  KVCache cache(cfg().n_layer, cfg().n_head_kv, cfg().head_dim, 64);
  DenseActivations act(cfg(), 1, 64, pool_.size());
  std::vector<float> logits(32 * size_t(V));
  for (int64_t i = 0; i < 32; i++) {
    dense_forward(cfg(), model_->weights(), cache, act, pool_, &ids[size_t(i)], 1, true, logits.data() + i * V);
  }
  const double e = rel_err(logits.data(), ref);
  EXPECT_LE(e, GetParam().tol);
  std::printf("[ measured ] %s vs %s token by token: %.3g\n", GetParam().model, GetParam().ref, e);
}

TEST_P(DenseRefTest, LongRunLastRows) {
  const std::string family = std::string(GetParam().model).substr(0, std::string(GetParam().model).find("-mini") + 5);
  const auto ids = read_ids(kData + "/refs/long_tokens.txt");
  const auto ref = read_f32(kData + "/refs/" + family + "-f32.long_last32.logits.f32");
  ASSERT_EQ(ids.size(), 1024u);
  const int64_t V = cfg().n_vocab;
  KVCache cache(cfg().n_layer, cfg().n_head_kv, cfg().head_dim, 1024);
  DenseActivations act(cfg(), 256, 1024, pool_.size());  // several chunks
  std::vector<float> logits(32 * size_t(V));
  dense_forward(cfg(), model_->weights(), cache, act, pool_, ids.data(), 992, false, logits.data());
  dense_forward(cfg(), model_->weights(), cache, act, pool_, ids.data() + 992, 32, true, logits.data());
  const double e = rel_err(logits.data(), ref);
  EXPECT_LE(e, GetParam().long_tol);
  std::printf("[ measured ] %s long_last32 vs %s-f32: %.3g\n", GetParam().model, family.c_str(), e);
  // The cache is now full: one more token must be refused, not written out of bounds.
  EXPECT_THROW(dense_forward(cfg(), model_->weights(), cache, act, pool_, ids.data(), 1, false, logits.data()), Error);
}

// Quantized bounds are measured (see the report): ops quantizes activations like llama.cpp, so
// Q8_0 / Q5_0 / IQ4_NL / Q5_K / Q6_K agree to ~3e-7. Q4_0 and the Q4_K gen rows differ by ~1.2e-2, most likely
// because llama.cpp repacks Q4_0 / Q4_K weights into interleaved layouts on AVX-512 machines. Q4_1 / Q5_1
// differ by ~1.3e-2 from the first row on: llama.cpp multiplies them with Q8_1 activations, whose block
// sum fp16(d·Σq) enters m·s, a term that mostly cancels against d·Σq·a. Rounding our sums that way
// (a patch not kept, with the unrounded d) brought the gap to 8.6e-3 / 3.1e-3; the rest is not pinned
// down. Their kernels match an exact product to 1e-5 (Matmul tests), their files' bytes llama-quantize's.
INSTANTIATE_TEST_SUITE_P(
    Refs, DenseRefTest,
    testing::Values(Case{"qwen2-mini-f32.gguf", "qwen2-mini-f32", 1e-5, 1e-5},
                    Case{"qwen2-mini-hf", "qwen2-mini-f32", 1e-5, 1e-5},
                    Case{"qwen2-mini-bf16.gguf", "qwen2-mini-f32", 1e-5, 1e-5},
                    Case{"qwen2-mini-f16.gguf", "qwen2-mini-f32", 1e-4, 1e-4},
                    Case{"qwen2-mini-f16.gguf", "qwen2-mini-f16", 1e-3, 1e-4},
                    Case{"qwen2-mini-bf16.gguf", "qwen2-mini-bf16", 5e-3, 1e-5},
                    Case{"qwen2-mini-q8_0.gguf", "qwen2-mini-q8_0", 1e-5, 0.035},
                    Case{"qwen2-mini-q4_0.gguf", "qwen2-mini-q4_0", 2e-2, 0.35},
                    Case{"qwen2-mini-q4_k_m.gguf", "qwen2-mini-q4_k_m", 2e-2, 0.27},
                    Case{"qwen2-mini-q5_k_m.gguf", "qwen2-mini-q5_k_m", 1e-5, 0.14},
                    Case{"qwen2-mini-q6_k.gguf", "qwen2-mini-q6_k", 1e-5, 0.09},
                    // Written by llama-quantize (c392e509), references by that llama.cpp (tests/data/README.md §11).
                    Case{"qwen2-mini-q4_1.gguf", "qwen2-mini-q4_1", 2e-2, 0.35},
                    Case{"qwen2-mini-q5_0.gguf", "qwen2-mini-q5_0", 1e-5, 0.2},
                    Case{"qwen2-mini-q5_1.gguf", "qwen2-mini-q5_1", 2e-2, 0.16},
                    Case{"qwen2-mini-iq4_nl.gguf", "qwen2-mini-iq4_nl", 1e-5, 0.33},
                    Case{"llama-mini-f32.gguf", "llama-mini-f32", 1e-5, 1e-5},
                    Case{"llama-mini-hf", "llama-mini-f32", 1e-5, 1e-5}));

// Logits of a 32-token prompt in one pass, then of 4 decode steps: what the layout tests compare.
std::vector<float> prompt_then_four_steps(const Model& m, const std::vector<int32_t>& ids, ThreadPool& pool) {
  const ModelConfig& c = m.config();
  KVCache cache(c.n_layer, c.n_head_kv, c.head_dim, 64);
  DenseActivations act(c, 32, 64, pool.size());
  std::vector<float> logits(36 * size_t(c.n_vocab));
  dense_forward(c, m.weights(), cache, act, pool, ids.data(), 32, true, logits.data());
  for (int s = 0; s < 4; s++)
    dense_forward(c, m.weights(), cache, act, pool, &ids[size_t(s)], 1, false, logits.data() + (32 + s) * c.n_vocab);
  return logits;
}

// On the AVX2 backend a Q4_0 / Q8_0 model's layer matrices are repacked at load (ops/repack.h): every
// one is marked interleaved, and the logits of a prompt and of decode steps stay within the Q4_0
// reference bound of those of the same file loaded as stored (scalar backend, no repacking). The
// repacked kernel sums a row block by block into one float, as llama.cpp's repacked kernels do: the
// Q4_0 prompt logits match llama.cpp's reference (which its repacked Q4_0 path wrote) to 1e-5
// (measured: equal; the stored layout's dot products, which sum 8 lanes and reduce them, differ from
// it by 7.3e-3 on this random model); Q8_0, which llama.cpp does not repack, within its 1e-5 bound.
TEST(DenseInterleaved, RepackedModelsMatchTheStoredLayout) {
  if (!force_matmul_backend("avx2")) GTEST_SKIP() << "no AVX2 on this CPU";
  struct Restore {
    ~Restore() { force_matmul_backend("auto"); }
  } restore;
  const auto ids = read_ids(kData + "/refs/tokens.txt");
  ThreadPool pool(2);
  for (const std::string name : {"qwen2-mini-q4_0", "qwen2-mini-q8_0"}) {
    const auto ref = read_f32(kData + "/refs/" + name + ".logits.f32");
    ASSERT_TRUE(force_matmul_backend("avx2"));
    const auto packed = Model::load(kData + "/models/" + name + ".gguf");
    int interleaved = 0;
    for (const LayerWeights& L : packed->weights().layers)
      for (const TensorView* t : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
        interleaved += t->layout == RowLayout::Interleaved8;
    EXPECT_EQ(interleaved, 7 * packed->config().n_layer) << name;
    EXPECT_EQ(packed->weights().token_embd.layout, RowLayout::Plain) << name;
    const std::vector<float> got = prompt_then_four_steps(*packed, ids, pool);

    ASSERT_TRUE(force_matmul_backend("scalar"));
    const auto stored = Model::load(kData + "/models/" + name + ".gguf");
    EXPECT_EQ(stored->weights().layers[0].w_up.layout, RowLayout::Plain) << name;
    const std::vector<float> want = prompt_then_four_steps(*stored, ids, pool);
    const double e_layouts = rel_err(got.data(), want), e_ref = rel_err(got.data(), ref);
    std::printf("[ measured ] %s: repacked vs stored layout %.3g; prompt vs llama.cpp: repacked %.3g, stored %.3g\n",
                name.c_str(), e_layouts, e_ref, rel_err(want.data(), ref));
    EXPECT_LE(e_layouts, 2e-2) << name;
    EXPECT_LE(e_ref, 1e-5) << name;
  }
}

// On the AVX-512 VNNI and the AVX2 backends a BF16 model's layer matrices and untied output are coded
// at load (ops/coded_bf16.h), from a GGUF file and from a HF directory alike, and an F16 file's too
// (its values are bf16 values); the embedding, whose rows are looked up one by one, stays as stored.
// The logits of a prompt (rows decoded for the plain kernels) and of decode steps (the coded kernel)
// stay within float rounding of the same file loaded as stored (scalar backend) and of llama.cpp's
// float32 reference, the BF16 file being the F32 model's values. With the bf16 products on
// (avx512vnni), both paths round the activations to bf16 (the bound of the bf16 tests).
TEST(DenseCoded, CodedBf16ModelsMatchTheStoredLayout) {
  struct Restore {
    ~Restore() { force_matmul_backend("auto"); }
  } restore;
  const auto ids = read_ids(kData + "/refs/tokens.txt");
  const auto ref = read_f32(kData + "/refs/qwen2-mini-f32.logits.f32");
  ThreadPool pool(2);
  int n_backends = 0;
  for (const std::string backend : {"avx512vnni", "avx2"}) {
    if (!force_matmul_backend(backend.c_str())) continue;
    ++n_backends;
    const double tol = backend == "avx512vnni" && bf16_dot_products() ? 1e-2 : 1e-5;
    for (const std::string name : {"qwen2-mini-bf16.gguf", "qwen2-mini-hf", "qwen2-mini-f16.gguf"}) {
      ASSERT_TRUE(force_matmul_backend(backend.c_str()));
      const auto coded = Model::load(kData + "/models/" + name);
      int n_coded = 0;
      for (const LayerWeights& L : coded->weights().layers)
        for (const TensorView* t : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down})
          n_coded += t->type == DType::BF16 && t->layout == RowLayout::CodedBf16;
      EXPECT_EQ(n_coded, 7 * coded->config().n_layer) << backend << " " << name;
      EXPECT_EQ(coded->weights().output.layout, RowLayout::CodedBf16) << backend << " " << name;
      EXPECT_EQ(coded->weights().token_embd.layout, RowLayout::Plain) << backend << " " << name;
      const std::vector<float> got = prompt_then_four_steps(*coded, ids, pool);

      ASSERT_TRUE(force_matmul_backend("scalar"));
      const auto stored = Model::load(kData + "/models/" + name);
      EXPECT_EQ(stored->weights().layers[0].w_up.layout, RowLayout::Plain) << name;
      const std::vector<float> want = prompt_then_four_steps(*stored, ids, pool);
      const double e_layouts = rel_err(got.data(), want), e_ref = rel_err(got.data(), ref);
      std::printf("[ measured ] %s, %s: coded vs stored layout %.3g; prompt vs llama.cpp's f32: %.3g\n",
                  backend.c_str(), name.c_str(), e_layouts, e_ref);
      EXPECT_LE(e_layouts, tol) << backend << " " << name;
      EXPECT_LE(e_ref, tol) << backend << " " << name;
    }
  }
  if (n_backends == 0) GTEST_SKIP() << "no AVX2 on this CPU";
}

// repack_matrices rewrites each distinct byte range once and marks every view of it, and leaves
// alone ranges that overlap another matrix (other than exactly) or a kept view.
TEST(DenseInterleaved, RepackOnlyRangesOnlyMatmulReads) {
  if (!force_matmul_backend("avx2")) GTEST_SKIP() << "no AVX2 on this CPU";
  struct Restore {
    ~Restore() { force_matmul_backend("auto"); }
  } restore;
  const int64_t k = 64, rows = 8;
  const size_t bytes = row_bytes(DType::Q8_0, k) * rows;
  std::vector<uint8_t> buf(7 * bytes);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<uint8_t>(i * 7 + 1);
  const std::vector<uint8_t> before = buf;
  auto view = [&](size_t offset) {
    TensorView t;
    t.type = DType::Q8_0;
    t.n_dims = 2;
    t.ne = {k, rows, 1, 1};
    t.data = buf.data() + offset;
    t.nbytes = bytes;
    return t;
  };
  TensorView alone = view(0), shared = view(bytes), alias = view(bytes);
  TensorView overlap_a = view(2 * bytes), overlap_b = view(2 * bytes + bytes / 2);  // overlap, not equal
  TensorView near_kept = view(4 * bytes), kept = view(4 * bytes + bytes / 2);
  TensorView last = view(6 * bytes);
  const int n = repack_matrices({&alone, &shared, &alias, &overlap_a, &overlap_b, &near_kept, &last}, {&kept},
                                [](const TensorView& t) { return const_cast<uint8_t*>(static_cast<const uint8_t*>(t.data)); });
  EXPECT_EQ(n, 4);  // alone, shared and its alias, last
  for (const TensorView* t : {&alone, &shared, &alias, &last}) EXPECT_EQ(t->layout, RowLayout::Interleaved8);
  for (const TensorView* t : {&overlap_a, &overlap_b, &near_kept}) EXPECT_EQ(t->layout, RowLayout::Plain);
  auto changed = [&](size_t offset, size_t n_bytes) {
    return !std::equal(buf.begin() + offset, buf.begin() + offset + n_bytes, before.begin() + offset);
  };
  EXPECT_TRUE(changed(0, bytes));
  EXPECT_TRUE(changed(bytes, bytes));
  EXPECT_FALSE(changed(2 * bytes, 4 * bytes));  // the overlapping and the kept ranges: as they were
  EXPECT_TRUE(changed(6 * bytes, bytes));
  // A type the kernels do not want interleaved stays as it is, writable or not.
  const std::vector<uint8_t> after = buf;
  TensorView q4k = view(2 * bytes);
  q4k.type = DType::Q4_K;
  q4k.ne = {256, 1, 1, 1};
  q4k.nbytes = row_bytes(DType::Q4_K, 256);
  EXPECT_EQ(repack_matrices({&q4k}, {}, [](const TensorView& t) { return const_cast<uint8_t*>(static_cast<const uint8_t*>(t.data)); }), 0);
  EXPECT_EQ(q4k.layout, RowLayout::Plain);
  EXPECT_EQ(buf, after);
}

TEST(DenseForward, RejectsOutOfVocabularyIdWithoutTouchingTheCache) {
  auto m = Model::load(kData + "/models/qwen2-mini-f32.gguf");
  const ModelConfig& c = m->config();
  ThreadPool pool(1);
  KVCache cache(c.n_layer, c.n_head_kv, c.head_dim, 16);
  DenseActivations act(c, 8, 16, pool.size());
  std::vector<float> logits(size_t(c.n_vocab));
  const int32_t ids[2] = {5, 512};
  EXPECT_THROW(dense_forward(c, m->weights(), cache, act, pool, ids, 2, false, logits.data()), Error);
  EXPECT_EQ(cache.size(), 0);
}

// One token's attention split over positions when the KV heads do not divide between the threads
// (decode_parts): how many parts, and the logits of the 1024-token run's last 32 tokens, fed one at a
// time on 3 threads (the minis' 2 KV heads in 3 parts each, ~1000 positions), against llama.cpp's
// reference: at float precision with an F32 cache and float32 products (measured 3.9e-7..5.7e-7),
// within the caches' rounding with F16 (1.5e-4..1.9e-4) and Q4_0 (keys and values, and Q8_0 keys
// with Q4_0 values: 5.9e-2..6.4e-2), and with bf16 products (where the CPU has them) within bf16's
// (1.2e-3..1.5e-3).
TEST(DenseDecodeSplit, TokenByTokenOnMoreThreadsThanKvHeadsMatchesLlamaCpp) {
  EXPECT_EQ(decode_parts(2, 2, 4096), 1);  // whole heads per thread
  EXPECT_EQ(decode_parts(8, 4, 4096), 1);
  EXPECT_EQ(decode_parts(2, 8, 4096), 4);
  EXPECT_EQ(decode_parts(4, 6, 4096), 3);
  EXPECT_EQ(decode_parts(1, 2, 4096), 2);
  EXPECT_EQ(decode_parts(2, 3, 3 * kMinKeysPerPart - 1), 1);  // too few positions per part
  EXPECT_EQ(decode_parts(2, 3, 3 * kMinKeysPerPart), 3);

  const auto long_ids = read_ids(kData + "/refs/long_tokens.txt");
  ThreadPool pool(3);
  const struct { CacheTypes types; bool bf16; double bound; } kinds[] = {
      {DType::F32, false, 1e-5},
      {DType::F16, false, 1e-3},
      {DType::Q4_0, false, 0.1},
      {CacheTypes{DType::Q8_0, DType::Q4_0}, false, 0.1},
      {DType::F16, true, 1e-2}};
  for (const char* family : {"qwen2-mini", "llama-mini"}) {
    auto model = Model::load(kData + "/models/" + family + "-f32.gguf");
    const ModelConfig& c = model->config();
    ASSERT_GT(decode_parts(c.n_head_kv, pool.size(), 993), 1) << family << ": the split is not taken";
    const int64_t V = c.n_vocab;
    const auto long_ref = read_f32(kData + "/refs/" + family + "-f32.long_last32.logits.f32");
    for (const auto& k : kinds) {
      set_bf16_dot_products(k.bf16);
      if (k.bf16 && !attend_bf16_available(c.head_dim, c.head_dim)) continue;  // no AVX-512 BF16 here
      KVCache cache(c.n_layer, c.n_head_kv, c.head_dim, 1024, k.types);
      DenseActivations act(c, 256, 1024, pool.size());
      std::vector<float> logits(32 * size_t(V));
      dense_forward(c, model->weights(), cache, act, pool, long_ids.data(), 992, false, logits.data());
      for (int64_t i = 0; i < 32; i++) {
        dense_forward(c, model->weights(), cache, act, pool, long_ids.data() + 992 + i, 1, true, logits.data() + i * V);
      }
      set_bf16_dot_products(false);  // as the suite runs
      const double e = rel_err(logits.data(), long_ref);
      std::printf("[ measured ] %s, keys %s, values %s%s, 3 threads token by token: %.3g of llama.cpp's long run\n",
                  family, std::string(dtype_name(k.types.k)).c_str(), std::string(dtype_name(k.types.v)).c_str(),
                  k.bf16 ? ", bf16 products" : "", e);
      EXPECT_LE(e, k.bound) << family << " " << dtype_name(k.types.k) << " / " << dtype_name(k.types.v);
    }
  }
}

}  // namespace
}  // namespace r1
