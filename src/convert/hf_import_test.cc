// `r1 convert`'s core: HF directories → GGUF. The test data's HF copies hold the same weights as its
// F32 GGUFs made by llama.cpp's converter (tests/data README §5), so every converted F32 tensor must
// equal the reference file's bytes, and the converted files must give the reference logits.
#include "convert/hf_import.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "core/error.h"
#include "io/gguf.h"
#include "model/deepseek_context.h"
#include "model/deepseek_model.h"
#include "model/model.h"
#include "util/threadpool.h"
#include "testing/reference_data.h"

namespace r1 {
namespace {
using r1::test_data::read_f32;
using r1::test_data::read_ids;
namespace fs = std::filesystem;

const std::string kData = std::string(R1_TEST_DATA_DIR) + "/";

// max |got - want| / max |want|.
double rel_max(const std::vector<float>& got, const std::vector<float>& want) {
  double d = 0, m = 0;
  for (size_t i = 0; i < want.size(); i++) {
    d = std::max(d, double(std::fabs(got[i] - want[i])));
    m = std::max(m, double(std::fabs(want[i])));
  }
  return d / m;
}

class ConvertTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(R1_BINARY_DIR) / "convert_hf_test" / testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string convert(const std::string& hf, const std::string& type, bool mtp = true) {
    const std::string out = (dir_ / (hf + "-" + type + ".gguf")).string();
    write_gguf(import_hf_model(kData + "models/" + hf, mtp), out, type);
    return out;
  }
  // Logits of the prompt rows vs a llama.cpp reference.
  double logits_vs_ref(const std::string& gguf, const std::string& ref) {
    auto model = Model::load(gguf);
    ThreadPool pool(2);
    const std::vector<int32_t> ids = read_ids(kData + "refs/tokens.txt");
    std::vector<float> got(ids.size() * size_t(model->n_vocab()));
    model->new_context(64, pool)->forward(ids.data(), int64_t(ids.size()), true, got.data());
    const std::vector<float> want = read_f32(kData + "refs/" + ref + ".logits.f32");
    EXPECT_EQ(got.size(), want.size());
    return got.size() == want.size() ? rel_max(got, want) : 1.0;
  }
  // Every tensor of the reference file is in ours with the same type, shape and bytes; returns
  // how many tensors ours has beyond them.
  size_t expect_reference_bytes(const std::string& ours, const std::string& ref) {
    auto a = GgufFile::open(ours), b = GgufFile::open(kData + "models/" + ref);
    for (const TensorView& want : b->tensors()) {
      const TensorView* got = a->find_tensor(want.name);
      if (!got) {
        ADD_FAILURE() << ours << ": no tensor " << want.name;
        continue;
      }
      EXPECT_EQ(got->type, want.type) << want.name;
      EXPECT_EQ(got->ne, want.ne) << want.name;
      if (want.name == "rope_freqs.weight") {  // computed, not converted: equal up to float rounding
        const auto* g = static_cast<const float*>(got->data);
        const auto* w = static_cast<const float*>(want.data);
        for (int64_t i = 0; i < want.ne[0]; i++) EXPECT_NEAR(g[i], w[i], 1e-6f * std::fabs(w[i])) << i;
        continue;
      }
      EXPECT_TRUE(got->nbytes == want.nbytes && std::memcmp(got->data, want.data, want.nbytes) == 0)
          << want.name << " differs from " << ref;
    }
    return a->tensors().size() - b->tensors().size();
  }
  fs::path dir_;
};

TEST_F(ConvertTest, DenseF32EqualsLlamaCppFiles) {
  for (const char* name : {"qwen2-mini", "llama-mini"}) {
    const std::string out = convert(std::string(name) + "-hf", "f32");
    EXPECT_EQ(expect_reference_bytes(out, std::string(name) + "-f32.gguf"), 0u) << name;
    const double d = logits_vs_ref(out, std::string(name) + "-f32");
    std::printf("  %s converted f32: logits vs llama.cpp %.3g\n", name, d);
    EXPECT_LT(d, 1e-5) << name;
  }
}

TEST_F(ConvertTest, DeepseekFp8AndBf16EqualLlamaCppFile) {
  // The FP8 copy dequantized with its block scales, and the BF16 copy: the F32 GGUF's bytes, plus
  // the MTP layer (nextn tensors and a fourth block) that llama.cpp's converter drops.
  for (const char* hf : {"deepseek2-mini-hf-fp8", "deepseek2-mini-hf"}) {
    const std::string out = convert(hf, "f32");
    const size_t extra = expect_reference_bytes(out, "deepseek2-mini-f32.gguf");
    EXPECT_EQ(extra, 6u + 18u) << hf << ": 6 nextn tensors and the MoE block's 18";
    const double d = logits_vs_ref(out, "deepseek2-mini-f32");
    std::printf("  %s converted f32: logits vs llama.cpp %.3g\n", hf, d);
    EXPECT_LT(d, 1e-5) << hf;
  }
  const std::string plain = convert("deepseek2-mini-hf", "f32", /*mtp=*/false);
  EXPECT_EQ(expect_reference_bytes(plain, "deepseek2-mini-f32.gguf"), 0u);
}

TEST_F(ConvertTest, MtpLayerSurvivesTheRoundTrip) {
  const std::string out = convert("deepseek2-mini-hf", "f32");
  auto hf = DeepseekModel::load(kData + "models/deepseek2-mini-hf");
  auto gguf = DeepseekModel::load(out);
  ASSERT_TRUE(gguf->weights().mtp.has_value());
  EXPECT_EQ(gguf->config().n_mtp_layers, 1);
  ThreadPool pool(2);
  const std::vector<int32_t> ids = read_ids(kData + "refs/tokens.txt");
  std::vector<float> logits(512), a(512), b(512);
  DeepseekContext ca(hf->config(), hf->weights(), 64, pool, 64), cb(gguf->config(), gguf->weights(), 64, pool, 64);
  ASSERT_TRUE(ca.enable_drafts());
  ASSERT_TRUE(cb.enable_drafts());
  ca.forward(ids.data(), int64_t(ids.size()), false, logits.data());
  cb.forward(ids.data(), int64_t(ids.size()), false, logits.data());
  ca.draft(ids[3], a.data());
  cb.draft(ids[3], b.data());
  EXPECT_LT(rel_max(b, a), 1e-6);
}

TEST_F(ConvertTest, BrokenMtpLayersAreErrors) {
  auto expect_error = [&](ExportModel m, const std::string& needle) {
    const std::string out = (dir_ / "broken.gguf").string();
    write_gguf(m, out, "f32");
    try {
      DeepseekModel::load(out);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  // A nextn tensor missing.
  ExportModel m = import_hf_model(kData + "models/deepseek2-mini-hf");
  std::erase_if(m.tensors, [](const ExportTensor& t) { return t.gguf_name == "blk.3.nextn.hnorm.weight"; });
  expect_error(std::move(m), "blk.3.nextn.hnorm.weight");
  // The block's tensors without the key that announces them.
  m = import_hf_model(kData + "models/deepseek2-mini-hf");
  std::erase_if(m.gguf_kv, [](const auto& kv) { return kv.first == "deepseek2.nextn_predict_layers"; });
  expect_error(std::move(m), "no MTP layer");
}

TEST_F(ConvertTest, QuantizedTypesStayNearTheReferences) {
  // Q8_0 against llama.cpp's own Q8_0 logits (tests/data README §5 bound 3e-2).
  const double q = logits_vs_ref(convert("qwen2-mini-hf", "q8_0"), "qwen2-mini-q8_0");
  const double d = logits_vs_ref(convert("deepseek2-mini-hf-fp8", "q8_0"), "deepseek2-mini-q8_0");
  const double k = logits_vs_ref(convert("qwen2-mini-hf", "q4_k_m"), "qwen2-mini-q4_k_m");
  const double s = logits_vs_ref(convert("qwen2-mini-hf", "q6_k"), "qwen2-mini-q6_k");
  std::printf("  vs llama.cpp's own files: q8_0 qwen2 %.3g, q8_0 deepseek2 %.3g, q4_k_m qwen2 %.3g, q6_k qwen2 %.3g\n", q,
              d, k, s);
  EXPECT_LT(q, 3e-2);
  EXPECT_LT(d, 3e-2);
  EXPECT_LT(k, 3e-2);
  EXPECT_LT(s, 3e-2);
  // Every weight type writes a DeepSeek file that loads and runs (4-bit noise moves a random MoE
  // model's routing, so its logits are only checked to be finite).
  for (const char* type : {"f16", "bf16", "q4_0", "q4_k_m", "q5_k_m", "q6_k"}) {
    auto model = Model::load(convert("deepseek2-mini-hf", type));
    ThreadPool pool(1);
    std::vector<float> logits(size_t(model->n_vocab()));
    const int32_t ids[3] = {0, 5, 9};
    model->new_context(8, pool)->forward(ids, 3, false, logits.data());
    for (float x : logits) ASSERT_TRUE(std::isfinite(x)) << type;
  }
}

TEST_F(ConvertTest, BadDirectoriesAreErrors) {
  EXPECT_THROW(import_hf_model((dir_ / "nope").string()), Error);
  // A config that disagrees with the tensors names the tensor.
  const fs::path bad = dir_ / "bad";
  fs::create_directories(bad);
  for (const char* f : {"tokenizer.json", "model.safetensors"}) fs::copy(kData + "models/qwen2-mini-hf/" + f, bad / f);
  nlohmann::json cfg = nlohmann::json::parse(std::ifstream(kData + "models/qwen2-mini-hf/config.json"));
  cfg["intermediate_size"] = 640;
  std::ofstream(bad / "config.json") << cfg.dump();
  try {
    write_gguf(import_hf_model(bad.string()), (dir_ / "bad.gguf").string(), "f32");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mlp.gate_proj.weight"), std::string::npos) << e.what();
  }
  cfg["model_type"] = "gpt2";
  std::ofstream(bad / "config.json") << cfg.dump();
  EXPECT_THROW(import_hf_model(bad.string()), Error);
}

}  // namespace
}  // namespace r1
