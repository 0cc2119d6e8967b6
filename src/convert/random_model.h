// Random-weight models of every supported dense shape, deterministic from a seed: the way tests
// and benchmarks get models of real shapes without downloading weights. Weights are N(0, 0.02)
// rounded to bfloat16 (so F32, BF16 and quantized copies start from identical values), norm
// weights 1.0 — the same recipe as the project's reference test models.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "convert/export_model.h"

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

// Deterministic N(0, std) values rounded to bfloat16, from (seed, tensor name).
void fill_normal_bf16(float* dst, int64_t n, uint64_t seed, const std::string& name, float stddev);

}  // namespace r1
