// DeepSeek models from the export layout: the presets have their real sizes (counted from the
// tensor list, nothing materialized), and a random tiny model written as a HF directory and as a
// GGUF loads from both with the same logits and MTP drafts, and converts back to the same bytes.
#include "convert/deepseek_export.h"

#include <cmath>
#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>

#include "convert/hf_import.h"
#include "convert/random_model.h"
#include "io/gguf.h"
#include "model/deepseek_context.h"
#include "model/deepseek_model.h"
#include "ops/quant.h"
#include "util/threadpool.h"

namespace r1 {
namespace {
namespace fs = std::filesystem;

const std::string kTokenizer = std::string(R1_SOURCE_DIR) + "/assets/tokenizers/tiny512-deepseek-v3/tokenizer.json";

// Parameters of the GGUF tensors (HF-only tensors are the same values in another layout).
double gguf_params(const ExportModel& m) {
  double n = 0;
  for (const ExportTensor& t : m.tensors) {
    if (t.gguf_name.empty()) continue;
    double p = 1;
    for (int64_t d : t.shape) p *= double(d);
    n += p;
  }
  return n;
}

TEST(DeepseekExport, PresetsHaveTheirRealSizes) {
  const ExportModel v3 = random_deepseek_model(deepseek_preset("deepseek-v3"), 1, kTokenizer, false);
  const ExportModel v3_mtp = random_deepseek_model(deepseek_preset("deepseek-v3"), 1, kTokenizer, true);
  const ExportModel lite = random_deepseek_model(deepseek_preset("deepseek-v2-lite"), 1, kTokenizer, true);
  const ExportModel small = random_deepseek_model(deepseek_preset("deepseek-v3-0.66b"), 1, kTokenizer, false);
  std::printf("  parameters: V3 %.1fB (+MTP %.1fB), V2-Lite %.2fB, 0.66b %.3fB\n", gguf_params(v3) / 1e9,
              (gguf_params(v3_mtp) - gguf_params(v3)) / 1e9, gguf_params(lite) / 1e9, gguf_params(small) / 1e9);
  EXPECT_NEAR(gguf_params(v3) / 1e9, 671.0, 0.5);       // DeepSeek-V3 / R1: 671B
  EXPECT_NEAR(gguf_params(v3_mtp) / 1e9, 685.0, 1.0);  // + the 14B MTP module (as released)
  EXPECT_NEAR(gguf_params(lite) / 1e9, 15.7, 0.1);     // V2-Lite: 15.7B, no MTP layer
  EXPECT_NEAR(gguf_params(small) / 1e9, 0.66, 0.01);
  EXPECT_EQ(mla_kv_bytes_per_token(deepseek_config_from_json(deepseek_preset("deepseek-v3"), "v3"), DType::BF16), 70272);
  EXPECT_THROW(deepseek_preset("deepseek-v4"), Error);
}

class TinyDeepseekTest : public testing::Test {
 protected:
  void SetUp() override {
    // One folder per test: ctest runs the tests of this file in parallel.
    dir_ = fs::path(R1_BINARY_DIR) / "deepseek_export_test" /
           testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(TinyDeepseekTest, HfDirAndGgufAgreeAndRoundTrip) {
  const ExportModel m = random_deepseek_model(deepseek_preset("tiny-deepseek3"), 7, kTokenizer, true);
  const std::string hf = (dir_ / "hf").string(), gguf = (dir_ / "tiny.gguf").string();
  write_hf_dir(m, hf, DType::BF16);
  write_gguf(m, gguf, "f32");
  auto a = DeepseekModel::load(hf), b = DeepseekModel::load(gguf);
  ASSERT_TRUE(a->weights().mtp && b->weights().mtp);
  ThreadPool pool(2);
  const std::vector<int32_t> ids = {0, 44, 300, 12, 511, 7, 7, 90};
  std::vector<float> la(ids.size() * 512), lb(ids.size() * 512), da(512), db(512);
  DeepseekContext ca(a->config(), a->weights(), 32, pool, 32), cb(b->config(), b->weights(), 32, pool, 32);
  ASSERT_TRUE(ca.enable_drafts() && cb.enable_drafts());
  ca.forward(ids.data(), int64_t(ids.size()), true, la.data());
  cb.forward(ids.data(), int64_t(ids.size()), true, lb.data());
  ca.draft(3, da.data());
  cb.draft(3, db.data());
  double max_diff = 0, max_abs = 0;
  for (size_t i = 0; i < la.size(); i++) {
    max_diff = std::max(max_diff, double(std::fabs(la[i] - lb[i])));
    max_abs = std::max(max_abs, double(std::fabs(la[i])));
  }
  EXPECT_LT(max_diff / max_abs, 1e-5);  // BF16-rounded values in both: only the summation order differs
  for (size_t i = 0; i < da.size(); i++) ASSERT_NEAR(da[i], db[i], 1e-5f * (1 + std::fabs(da[i])));

  // HF directory → GGUF gives the bytes of the GGUF written directly.
  const std::string back = (dir_ / "back.gguf").string();
  write_gguf(import_hf_model(hf), back, "f32");
  auto f = GgufFile::open(gguf), g = GgufFile::open(back);
  ASSERT_EQ(f->tensors().size(), g->tensors().size());
  for (const TensorView& t : f->tensors()) {
    const TensorView* u = g->find_tensor(t.name);
    ASSERT_TRUE(u) << t.name;
    EXPECT_TRUE(u->nbytes == t.nbytes && std::memcmp(u->data, t.data, t.nbytes) == 0) << t.name;
  }
}

// --mla-layout combined (one attn_kv_b, the form older llama.cpp and ik_llama.cpp load): the
// keys of that form, and the same logits as the split form from the same weights.
TEST_F(TinyDeepseekTest, CombinedMlaLayoutGivesTheSameModel) {
  const nlohmann::json preset = deepseek_preset("tiny-deepseek3");
  const std::string split = (dir_ / "split.gguf").string(), combined = (dir_ / "combined.gguf").string();
  write_gguf(random_deepseek_model(preset, 7, kTokenizer, false), split, "f32");
  write_gguf(random_deepseek_model(preset, 7, kTokenizer, false, KvbLayout::Combined), combined, "f32");
  auto g = GgufFile::open(combined);
  EXPECT_TRUE(g->find_tensor("blk.0.attn_kv_b.weight"));
  EXPECT_FALSE(g->find_tensor("blk.0.attn_k_b.weight"));
  EXPECT_FALSE(g->has("deepseek2.attention.key_length_mla"));
  auto a = DeepseekModel::load(split), b = DeepseekModel::load(combined);
  EXPECT_EQ(a->config().kvb_layout, KvbLayout::Split);
  EXPECT_EQ(b->config().kvb_layout, KvbLayout::Combined);
  EXPECT_EQ(b->config().n_head, a->config().n_head);
  ThreadPool pool(2);
  const std::vector<int32_t> ids = {0, 44, 300, 12, 511, 7};
  std::vector<float> la(ids.size() * 512), lb(ids.size() * 512);
  DeepseekContext ca(a->config(), a->weights(), 32, pool, 32), cb(b->config(), b->weights(), 32, pool, 32);
  ca.forward(ids.data(), int64_t(ids.size()), true, la.data());
  cb.forward(ids.data(), int64_t(ids.size()), true, lb.data());
  double max_diff = 0, max_abs = 0;
  for (size_t i = 0; i < la.size(); i++) {
    max_diff = std::max(max_diff, double(std::fabs(la[i] - lb[i])));
    max_abs = std::max(max_abs, double(std::fabs(la[i])));
  }
  EXPECT_LT(max_diff / max_abs, 1e-5);
  EXPECT_THROW(parse_mla_layout("legacy", "gen-model"), Error);
}

// A quantized combined attn_kv_b: W_UV is its v rows as stored, byte for byte, the heads one after
// another; W_UK's transposed copy is F16 and holds the dequantized k rows rounded once (relative 2^-11).
TEST_F(TinyDeepseekTest, QuantizedCombinedUpProjectionKeepsItsBytes) {
  const std::string path = (dir_ / "combined-q8_0.gguf").string();
  write_gguf(random_deepseek_model(deepseek_preset("tiny-deepseek3"), 7, kTokenizer, false, KvbLayout::Combined), path,
             "q8_0");
  auto m = DeepseekModel::load(path);
  auto g = GgufFile::open(path);
  const DeepseekConfig& c = m->config();
  const int64_t H = c.n_head, r = c.kv_lora_rank, nope = c.qk_nope_dim, per = nope + c.v_head_dim;
  for (size_t l = 0; l < m->weights().layers.size(); l++) {
    const MlaWeights& w = m->weights().layers[l].attn;
    const TensorView* kv_b = g->find_tensor(str("blk.", l, ".attn_kv_b.weight"));
    ASSERT_TRUE(kv_b);
    ASSERT_EQ(kv_b->type, DType::Q8_0);
    ASSERT_EQ(w.wv_b.type, DType::Q8_0);  // the file's rows as stored
    const int64_t v = c.v_head_dim;
    ASSERT_EQ(w.wv_b.rows(), H * v);
    const size_t rb = row_bytes(DType::Q8_0, r);
    ASSERT_EQ(w.wv_b.nbytes, size_t(H * v) * rb);
    for (int64_t h = 0; h < H; h++) {
      EXPECT_EQ(std::memcmp(w.wv_b.row(h * v), kv_b->row(h * per + nope), size_t(v) * rb), 0) << "layer " << l << " head " << h;
    }
    ASSERT_EQ(w.wk_b.type, DType::F16);
    std::vector<float> row(static_cast<size_t>(r)), k_row(static_cast<size_t>(nope));
    for (int64_t h = 0; h < H; h++) {
      for (int64_t j = 0; j < r; j++) {
        dequantize_row(DType::F16, static_cast<const uint8_t*>(w.wk_b.data) + size_t(h * r + j) * row_bytes(DType::F16, nope),
                       k_row.data(), nope);
        for (int64_t d = 0; d < nope; d++) {
          dequantize_row(DType::Q8_0, static_cast<const uint8_t*>(kv_b->data) + size_t(h * per + d) * row_bytes(DType::Q8_0, r),
                         row.data(), r);
          ASSERT_NEAR(k_row[size_t(d)], row[size_t(j)], std::fabs(row[size_t(j)]) * 0x1p-11 + 1e-7)
              << "layer " << l << " head " << h << " j " << j << " d " << d;
        }
      }
    }
  }
}

TEST_F(TinyDeepseekTest, Fp8DirectoryUsedAsStoredEqualsItsDequantizedGguf) {
  const ExportModel m = random_deepseek_model(deepseek_preset("tiny-deepseek3"), 9, kTokenizer, true);
  const std::string fp8 = (dir_ / "fp8").string(), bf16 = (dir_ / "bf16").string(), gguf = (dir_ / "fp8.gguf").string();
  write_hf_dir(m, fp8, DType::F8_E4M3);
  write_hf_dir(m, bf16, DType::BF16);
  write_gguf(import_hf_model(fp8), gguf, "f32");
  auto stored = DeepseekModel::load(fp8), dequantized = DeepseekModel::load(gguf), exact = DeepseekModel::load(bf16);
  EXPECT_TRUE(stored->config().fp8_weights);
  ThreadPool pool(2);
  const std::vector<int32_t> ids = {0, 5, 77, 300, 12, 480};
  auto run = [&](const DeepseekModel& model) {
    std::vector<float> logits(ids.size() * 512);
    DeepseekContext ctx(model.config(), model.weights(), 16, pool, 16);
    ctx.forward(ids.data(), int64_t(ids.size()), true, logits.data());
    return logits;
  };
  auto rel = [](const std::vector<float>& a, const std::vector<float>& b) {
    double d = 0, m = 0;
    for (size_t i = 0; i < a.size(); i++) {
      d = std::max(d, double(std::fabs(a[i] - b[i])));
      m = std::max(m, double(std::fabs(b[i])));
    }
    return d / m;
  };
  const std::vector<float> a = run(*stored), b = run(*dequantized), c = run(*exact);
  std::printf("  FP8 as stored vs its dequantized GGUF %.3g; vs the BF16 original %.3g\n", rel(a, b), rel(a, c));
  EXPECT_LT(rel(a, b), 1e-5);
  EXPECT_GT(rel(a, c), 0.0);  // FP8 codes are not the BF16 values...
  EXPECT_LT(rel(a, c), 0.2);  // ...but close to them
}

}  // namespace
}  // namespace r1
