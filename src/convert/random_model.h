// Random-weight models of every supported dense shape, deterministic from a seed: the way tests
// and benchmarks get models of real shapes without downloading weights. Weights are N(0, 0.02)
// rounded to bfloat16 (so F32, BF16 and quantized copies start from identical values), norm
// weights 1.0 — the same recipe as the project's reference test models.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "convert/export_model.h"
#include "model/deepseek_config.h"

namespace r1 {

struct DenseSpec {
  std::string arch = "qwen2";  // qwen2 | llama
  int n_layer = 2;
  int n_embd = 256;
  int n_head = 4;
  int n_head_kv = 2;
  int head_dim = 64;
  int n_ff = 512;
  int64_t n_vocab = 0;         // 0: the tokenizer's size
  double rope_theta = 10000.0;
  double rms_eps = 1e-6;
  int64_t n_ctx = 131072;
  bool llama3_rope = false;    // llama3 frequency scaling (factor 8, low 1, high 4, orig 8192)
};

// Named shapes: "tiny-qwen2", "tiny-llama", and the R1-Distill shapes "qwen2-1.5b", "qwen2-7b",
// "qwen2-14b", "qwen2-32b", "llama-8b", "llama-70b".
DenseSpec dense_preset(const std::string& name);
std::vector<std::string> dense_preset_names();

ExportModel random_dense_model(const DenseSpec& spec, uint64_t seed, const std::string& tokenizer_json);

// DeepSeek-V2/V3 shapes, as the contents of their HF config.json: "tiny-deepseek3" (the test data's
// deepseek2-mini: 256 dim, 3 layers, 8 experts, MTP), "deepseek-v3" (671B; R1's shape), "deepseek-v2-lite"
// (16B), "deepseek-v3-0.66b" (1024 dim, 8 layers, 32 experts; the performance issue's V3 structure).
// Vocabulary sizes are the real ones; BOS / EOS are 0 / 1 as in the tiny tokenizer.
nlohmann::json deepseek_preset(const std::string& name);
std::vector<std::string> deepseek_preset_names();

// A random-weight DeepSeek model of a config (the recipe above; norms 1). n_vocab 0 in the config
// ("vocab_size") means the tokenizer's size. with_mtp: add the MTP layer when the config has one.
// Values are made per tensor when written, so shapes far beyond RAM stream to disk.
ExportModel random_deepseek_model(nlohmann::json config, uint64_t seed, const std::string& tokenizer_json,
                                  bool with_mtp, KvbLayout layout = KvbLayout::Split);

// Deterministic N(0, std) values rounded to bfloat16, from (seed, tensor name).
void fill_normal_bf16(float* dst, int64_t n, uint64_t seed, const std::string& name, float stddev);

}  // namespace r1
