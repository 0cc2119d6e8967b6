// A loaded model: config, weights (views of the mapped checkpoint), tokenizer, chat template
// and the sampling defaults of generation_config.json. Model::load takes a .gguf file (or the
// first part of a split GGUF) or a Hugging Face directory (config.json + safetensors). Dense
// models (Qwen2 / Llama) keep their weights here; DeepSeek-V2/V3 (GGUF deepseek2,
// DeepseekV2/V3ForCausalLM) live in a DeepseekModel, and config() then holds only the
// architecture-neutral fields.
#pragma once
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/context.h"
#include "model/deepseek_model.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace r1 {

class GgufFile;
class SafetensorsSet;
class ThreadPool;
class Tokenizer;

// Sampling settings the checkpoint recommends (generation_config.json); unset when not given.
struct GenerationDefaults {
  std::optional<float> temperature;
  std::optional<float> top_p;
  std::optional<int> top_k;
};

class Model {
 public:
  // fp8: how DeepSeek FP8 checkpoints are used (as stored, or dequantized to BF16 / F32 at load).
  static std::unique_ptr<Model> load(const std::string& path, Fp8Mode fp8 = Fp8Mode::AsStored);
  ~Model();

  const std::string& path() const { return path_; }
  WeightFormat format() const { return format_; }
  const ModelConfig& config() const { return config_; }
  const DenseWeights& weights() const { return weights_; }  // dense models only
  const DeepseekModel* deepseek() const { return deepseek_.get(); }  // null unless Arch::Deepseek2
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const std::string& chat_template() const;  // the tokenizer's (GGUF metadata / tokenizer_config.json)
  const GenerationDefaults& generation_defaults() const { return generation_defaults_; }
  int64_t n_vocab() const { return config_.n_vocab; }

  // A fresh sequence (empty cache) of up to n_ctx tokens, run on `pool`, which must outlive it
  // (and so must the model). Prompts are processed in chunks of at most max_batch tokens.
  std::unique_ptr<InferenceContext> new_context(int64_t n_ctx, ThreadPool& pool, int64_t max_batch = 512) const;

  // The types of the attention caches of the contexts (and batch engines) made from now on: F32
  // (the default), F16, Q8_0 or Q4_0 -- a dense model's KV cache (model/kv_cache.h; keys and values
  // may differ), a DeepSeek model's latent cache (model/mla.h; keys and values are one row there, so
  // one type); anything else throws r1::Error.
  void set_kv_cache_types(CacheTypes types);
  CacheTypes kv_cache_types() const { return kv_cache_types_; }

 private:
  Model() = default;
  void load_gguf(const std::string& path);
  void load_hf(const std::string& dir, Fp8Mode fp8);
  void set_deepseek(std::unique_ptr<DeepseekModel> m);

  std::string path_;
  WeightFormat format_ = WeightFormat::Gguf;
  std::unique_ptr<GgufFile> gguf_;
  std::unique_ptr<SafetensorsSet> safetensors_;
  std::deque<std::vector<float>> f32_store_;  // F32 copies of 1-D tensors stored as F16/BF16
  ModelConfig config_;
  DenseWeights weights_;
  std::unique_ptr<DeepseekModel> deepseek_;
  std::unique_ptr<Tokenizer> tokenizer_;
  GenerationDefaults generation_defaults_;
  CacheTypes kv_cache_types_;
};

}  // namespace r1
