#include "model/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "core/error.h"
#include "io/gguf.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace r1 {
namespace {

const std::string kModels = std::string(R1_TEST_DATA_DIR) + "/models";

// The error message of f(), or "" if it did not throw.
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ModelConfig, Qwen2FromGguf) {
  auto f = GgufFile::open(kModels + "/qwen2-mini-f32.gguf");
  ModelConfig c = config_from_gguf(*f);
  EXPECT_EQ(c.arch, Arch::Qwen2);
  EXPECT_EQ(c.n_layer, 2);
  EXPECT_EQ(c.n_embd, 256);
  EXPECT_EQ(c.n_head, 4);
  EXPECT_EQ(c.n_head_kv, 2);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.n_ff, 512);
  EXPECT_EQ(c.n_vocab, 512);
  EXPECT_EQ(c.n_ctx_train, 131072);
  EXPECT_FLOAT_EQ(c.rms_eps, 1e-6f);
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
  EXPECT_EQ(c.rope_pairing, RopePairing::kNeox);
  EXPECT_TRUE(c.rope_freq_factors.empty());
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.tied_output);
  EXPECT_EQ(c.bos_id, 0);
  EXPECT_EQ(c.eos_ids, std::vector<int32_t>{1});
}

TEST(ModelConfig, LlamaFromGgufUsesAdjacentPairsAndStoredFactors) {
  auto f = GgufFile::open(kModels + "/llama-mini-f32.gguf");
  ModelConfig c = config_from_gguf(*f);
  EXPECT_EQ(c.arch, Arch::Llama);
  EXPECT_EQ(c.rope_pairing, RopePairing::kNorm);
  EXPECT_FLOAT_EQ(c.rope_theta, 500000.0f);
  EXPECT_FLOAT_EQ(c.rms_eps, 1e-5f);
  EXPECT_FALSE(c.qkv_bias);
  ASSERT_EQ(c.rope_freq_factors.size(), 32u);
  EXPECT_FLOAT_EQ(c.rope_freq_factors[0], 1.0f);
  EXPECT_NEAR(c.rope_freq_factors[16], 2.69453001f, 1e-6);
  EXPECT_FLOAT_EQ(c.rope_freq_factors[31], 8.0f);
}

TEST(ModelConfig, HfMatchesGgufAndComputesLlama3Factors) {
  for (const char* m : {"qwen2-mini", "llama-mini"}) {
    auto f = GgufFile::open(kModels + "/" + m + "-f32.gguf");
    ModelConfig g = config_from_gguf(*f);
    ModelConfig h = config_from_hf(kModels + "/" + m + "-hf");
    EXPECT_EQ(h.arch, g.arch) << m;
    EXPECT_EQ(h.n_layer, g.n_layer);
    EXPECT_EQ(h.n_embd, g.n_embd);
    EXPECT_EQ(h.n_head_kv, g.n_head_kv);
    EXPECT_EQ(h.head_dim, g.head_dim);
    EXPECT_EQ(h.n_ff, g.n_ff);
    EXPECT_EQ(h.n_vocab, g.n_vocab);
    EXPECT_EQ(h.qkv_bias, g.qkv_bias);
    EXPECT_EQ(h.bos_id, g.bos_id);
    EXPECT_EQ(h.eos_ids, g.eos_ids);
    EXPECT_EQ(h.rope_pairing, RopePairing::kNeox) << "HF checkpoints are rotate-half";
    ASSERT_EQ(h.rope_freq_factors.size(), g.rope_freq_factors.size()) << m;
    for (size_t i = 0; i < g.rope_freq_factors.size(); i++) {
      EXPECT_NEAR(h.rope_freq_factors[i], g.rope_freq_factors[i], 1e-6 * g.rope_freq_factors[i]) << m << " pair " << i;
    }
  }
}

TEST(ModelConfig, UnsupportedArchitectureNamesItAndTheFile) {
  // The dense config reader refuses other architectures (Model::load sends deepseek2 to DeepseekModel).
  std::string e = error_of([] { config_from_gguf(*GgufFile::open(kModels + "/deepseek2-mini-f32.gguf")); });
  EXPECT_NE(e.find("unsupported architecture 'deepseek2'"), std::string::npos) << e;
  EXPECT_NE(e.find("deepseek2-mini-f32.gguf"), std::string::npos) << e;
  EXPECT_NE(e.find("supported: qwen2, llama"), std::string::npos) << e;
  e = error_of([] { config_from_hf(kModels + "/deepseek2-mini-hf"); });
  EXPECT_NE(e.find("unsupported architecture 'deepseek_v3'"), std::string::npos) << e;
}

// A copy of an HF directory (weights symlinked) whose config.json is edited by `edit`.
class EditedHfDir {
 public:
  EditedHfDir(const std::string& src, const std::function<void(nlohmann::json&)>& edit) {
    namespace fs = std::filesystem;
    dir_ = fs::temp_directory_path() / ("r1_model_cfg_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::create_directories(dir_);
    for (const auto& e : fs::directory_iterator(src)) fs::create_symlink(fs::absolute(e.path()), dir_ / e.path().filename());
    std::ifstream in(dir_ / "config.json");
    nlohmann::json j = nlohmann::json::parse(in);
    fs::remove(dir_ / "config.json");
    edit(j);
    std::ofstream(dir_ / "config.json") << j.dump();
  }
  ~EditedHfDir() { std::filesystem::remove_all(dir_); }
  std::string path() const { return dir_.string(); }

 private:
  std::filesystem::path dir_;
  static inline int counter_ = 0;
};

TEST(ModelConfig, InvalidValuesNameTheKey) {
  EditedHfDir a(kModels + "/qwen2-mini-hf", [](nlohmann::json& j) { j["num_key_value_heads"] = 3; });
  std::string e = error_of([&] { config_from_hf(a.path()); });
  EXPECT_NE(e.find("num_key_value_heads (3) must divide num_attention_heads (4)"), std::string::npos) << e;
  EXPECT_NE(e.find("config.json"), std::string::npos) << e;

  EditedHfDir b(kModels + "/qwen2-mini-hf", [](nlohmann::json& j) { j.erase("hidden_size"); });
  e = error_of([&] { config_from_hf(b.path()); });
  EXPECT_NE(e.find("hidden_size"), std::string::npos) << e;

  EditedHfDir c(kModels + "/qwen2-mini-hf", [](nlohmann::json& j) { j["num_hidden_layers"] = 0; });
  e = error_of([&] { config_from_hf(c.path()); });
  EXPECT_NE(e.find("num_hidden_layers must be in [1, 2^30] (got 0)"), std::string::npos) << e;

  EditedHfDir d(kModels + "/llama-mini-hf", [](nlohmann::json& j) { j["rope_scaling"]["rope_type"] = "yarn"; });
  e = error_of([&] { config_from_hf(d.path()); });
  EXPECT_NE(e.find("rope_scaling type 'yarn' is not supported"), std::string::npos) << e;
}

TEST(ModelLoad, MissingOrMisshapenTensorIsNamed) {
  EditedHfDir a(kModels + "/qwen2-mini-hf", [](nlohmann::json& j) { j["num_hidden_layers"] = 3; });
  std::string e = error_of([&] { Model::load(a.path()); });
  EXPECT_NE(e.find("missing tensor model.layers.2.input_layernorm.weight"), std::string::npos) << e;

  EditedHfDir b(kModels + "/qwen2-mini-hf", [](nlohmann::json& j) { j["intermediate_size"] = 256; });
  e = error_of([&] { Model::load(b.path()); });
  EXPECT_NE(e.find("tensor model.layers.0.mlp.gate_proj.weight has shape {256, 512}, expected {256, 256}"),
            std::string::npos)
      << e;
}

TEST(ModelLoad, GgufAndHfCarryTokenizerTemplateAndDefaults) {
  auto g = Model::load(kModels + "/llama-mini-f32.gguf");
  auto h = Model::load(kModels + "/llama-mini-hf");
  EXPECT_EQ(g->format(), WeightFormat::Gguf);
  EXPECT_EQ(h->format(), WeightFormat::HuggingFace);
  EXPECT_EQ(g->chat_template(), h->chat_template());
  EXPECT_NE(g->chat_template().find("<｜Assistant｜>"), std::string::npos);
  const std::string text = "Please think step by step: what is 12 + 30?";
  EXPECT_EQ(g->tokenizer().encode(text, true), h->tokenizer().encode(text, true));
  ASSERT_TRUE(h->generation_defaults().temperature.has_value());
  EXPECT_FLOAT_EQ(*h->generation_defaults().temperature, 0.6f);
  EXPECT_FLOAT_EQ(*h->generation_defaults().top_p, 0.95f);
  EXPECT_FALSE(g->generation_defaults().temperature.has_value());
  // HF stores BF16 matrices as they are; norms become F32 copies.
  EXPECT_EQ(h->weights().layers[0].wq.type, DType::BF16);
  EXPECT_EQ(h->weights().layers[0].attn_norm.type, DType::F32);
}

}  // namespace
}  // namespace r1
