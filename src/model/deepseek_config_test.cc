#include "model/deepseek_config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "core/error.h"
#include "io/gguf.h"

namespace r1 {
namespace {

const std::string kModels = std::string(R1_TEST_DATA_DIR) + "/models/";

// DeepSeek-R1's config.json (the fields SPEC §1.1 lists), written to a temporary directory.
std::string write_r1_config(const std::string& extra = "") {
  const std::string dir = std::string(R1_BINARY_DIR) + "/deepseek_config_test_r1" + std::to_string(extra.size());
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/config.json") << R"({
    "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3", "vocab_size": 129280,
    "hidden_size": 7168, "intermediate_size": 18432, "moe_intermediate_size": 2048, "num_hidden_layers": 61,
    "num_attention_heads": 128, "num_key_value_heads": 128, "n_shared_experts": 1, "n_routed_experts": 256,
    "routed_scaling_factor": 2.5, "kv_lora_rank": 512, "q_lora_rank": 1536, "qk_rope_head_dim": 64,
    "v_head_dim": 128, "qk_nope_head_dim": 128, "topk_method": "noaux_tc", "n_group": 8, "topk_group": 4,
    "num_experts_per_tok": 8, "moe_layer_freq": 1, "first_k_dense_replace": 3, "norm_topk_prob": true,
    "scoring_func": "sigmoid", "max_position_embeddings": 163840, "rms_norm_eps": 1e-06,
    "rope_theta": 10000, "num_nextn_predict_layers": 1, "bos_token_id": 0, "eos_token_id": 1,
    "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 1.0, "mscale_all_dim": 1.0,
                     "original_max_position_embeddings": 4096, "type": "yarn"},
    "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                            "weight_block_size": [128, 128]})" << extra << "}";
  return dir;
}

TEST(DeepseekConfig, R1ConfigJson) {
  const DeepseekConfig c = deepseek_config_from_hf(write_r1_config());
  EXPECT_EQ(c.n_layer, 61);
  EXPECT_EQ(c.qk_head_dim(), 192);
  EXPECT_EQ(c.latent_dim(), 576);
  EXPECT_EQ(c.n_dense_lead, 3);
  EXPECT_TRUE(c.is_moe_layer(3));
  EXPECT_FALSE(c.is_moe_layer(2));
  EXPECT_EQ(c.gating, ExpertGating::Sigmoid);
  EXPECT_TRUE(c.score_bias);
  EXPECT_TRUE(c.norm_topk);
  EXPECT_EQ(c.n_group, 8);
  EXPECT_EQ(c.n_group_used, 4);
  EXPECT_TRUE(c.fp8_weights);
  EXPECT_EQ(c.n_mtp_layers, 1);
  EXPECT_EQ(c.rope.pairing, RopePairing::kNorm);
  // SPEC §1.4: softmax scale 0.1352338 = 1.3688879² / sqrt(192); cos/sin unscaled.
  EXPECT_NEAR(c.attn_scale(), 0.1352338, 1e-7);
  EXPECT_FLOAT_EQ(c.rope.mscale, 1.0f);
  // 61 layers · 576 values · 2 bytes.
  EXPECT_EQ(mla_kv_bytes_per_token(c, DType::BF16), 70272);
  EXPECT_EQ(mla_kv_bytes_per_token(c, DType::F32), 140544);
}

TEST(DeepseekConfig, V2LiteScale) {
  // SPEC §1.4: V2-Lite (mscale_all_dim 0.707) has softmax_scale 0.1147214.
  const DeepseekConfig c = deepseek_config_from_hf(kModels + "deepseek2-lite-mini-hf");
  EXPECT_NEAR(c.attn_scale(), 1.2608038 * 1.2608038 / std::sqrt(48.0), 1e-7);
  EXPECT_EQ(c.q_lora_rank, 0);
  EXPECT_EQ(c.gating, ExpertGating::Softmax);
  EXPECT_FALSE(c.score_bias);
  EXPECT_EQ(c.n_group, 1);
  EXPECT_EQ(c.n_ff_shared(), 128);
}

TEST(DeepseekConfig, GgufMlaForm) {
  auto f = GgufFile::open(kModels + "deepseek2-mini-f32.gguf");
  ASSERT_TRUE(is_deepseek_gguf(*f));
  const DeepseekConfig c = deepseek_config_from_gguf(*f);
  EXPECT_EQ(c.kvb_layout, KvbLayout::Split);
  EXPECT_EQ(c.qk_nope_dim, 32);
  EXPECT_EQ(c.qk_rope_dim, 16);
  EXPECT_EQ(c.v_head_dim, 32);
  EXPECT_EQ(c.kv_lora_rank, 64);
  EXPECT_EQ(c.q_lora_rank, 128);
  EXPECT_EQ(c.n_vocab, 512);
  EXPECT_EQ(c.n_expert, 8);
  EXPECT_EQ(c.n_group, 4);
  EXPECT_EQ(c.n_group_used, 2);
  EXPECT_EQ(c.gating, ExpertGating::Sigmoid);
  EXPECT_TRUE(c.score_bias);
  EXPECT_TRUE(c.norm_topk);
  EXPECT_FLOAT_EQ(c.route_scale, 2.5f);
  // yarn_log_multiplier 0.1 is 0.1 · mscale_all_dim: mscale = 1 + 0.1 ln 40 = 1.368888.
  EXPECT_NEAR(c.mscale_all_dim, 1.0, 1e-6);
  EXPECT_NEAR(c.attn_scale(), 1.3688879 * 1.3688879 / std::sqrt(48.0), 1e-6);
  // The same numbers as the HF copy.
  const DeepseekConfig h = deepseek_config_from_hf(kModels + "deepseek2-mini-hf");
  EXPECT_NEAR(h.attn_scale(), c.attn_scale(), 1e-6);
  EXPECT_EQ(h.kvb_layout, KvbLayout::Combined);
  EXPECT_EQ(h.n_mtp_layers, 1);
  EXPECT_FALSE(h.fp8_weights);
}

TEST(DeepseekConfig, GgufLegacyForm) {
  auto f = GgufFile::open(kModels + "deepseek2-lite-mini-f32.gguf");
  const DeepseekConfig c = deepseek_config_from_gguf(*f);
  EXPECT_EQ(c.kvb_layout, KvbLayout::Combined);
  EXPECT_EQ(c.q_lora_rank, 0);
  EXPECT_EQ(c.qk_nope_dim, 32);
  EXPECT_EQ(c.v_head_dim, 32);
  EXPECT_EQ(c.gating, ExpertGating::Softmax);
  EXPECT_FALSE(c.score_bias);
  EXPECT_FALSE(c.norm_topk);
  EXPECT_EQ(c.n_group, 1);
  EXPECT_EQ(c.n_expert_shared, 2);
  EXPECT_NEAR(c.attn_scale(), 1.2608038 * 1.2608038 / std::sqrt(48.0), 1e-6);
}

TEST(DeepseekConfig, YarnFrequenciesOfMiniModel) {
  // tests/data README §3.3: low = 2, high = 6; pairs <= 2 keep θ_e, pairs >= 6 use θ_e / 40.
  auto f = GgufFile::open(kModels + "deepseek2-mini-f32.gguf");
  const DeepseekConfig c = deepseek_config_from_gguf(*f);
  const std::vector<double> freq = rope_frequencies(c.rope);
  ASSERT_EQ(freq.size(), 8u);
  for (int i = 0; i < 8; i++) {
    const double theta_e = std::pow(10000.0, -2.0 * i / 16), ramp = std::clamp((i - 2) / 4.0, 0.0, 1.0);
    EXPECT_NEAR(freq[size_t(i)], theta_e / 40 * ramp + theta_e * (1 - ramp), 1e-12) << "pair " << i;
  }
}

TEST(DeepseekConfig, BadConfigsAreRejected) {
  auto expect_error = [](const std::string& extra, const std::string& what) {
    try {
      deepseek_config_from_hf(write_r1_config(extra));
      ADD_FAILURE() << "no error for " << extra;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  // JSON keys given twice: the later one wins in nlohmann's parser.
  expect_error(R"(, "n_group": 7)", "n_group (7) must divide n_routed_experts (256)");
  expect_error(R"(, "topk_group": 9)", "topk_group (9) exceeds n_group (8)");
  expect_error(R"(, "num_experts_per_tok": 300)", "num_experts_per_tok");
  expect_error(R"(, "qk_rope_head_dim": 63)", "must be even");
  expect_error(R"(, "scoring_func": "relu")", "scoring_func 'relu'");
  expect_error(R"(, "first_k_dense_replace": 62)", "first_k_dense_replace (62) exceeds the layer count (61)");
  expect_error(R"(, "kv_lora_rank": -1)", "kv_lora_rank must be in");
}

}  // namespace
}  // namespace r1
