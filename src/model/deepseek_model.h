// A loaded DeepSeek-V2/V3/R1 checkpoint: config and weights, from a .gguf file (arch deepseek2)
// or a Hugging Face directory (DeepseekV3ForCausalLM / DeepseekV2ForCausalLM, BF16 or FP8). The
// object owns the file mappings and every buffer the weights point into.
#pragma once
#include <memory>
#include <string>

#include "model/deepseek_config.h"
#include "model/deepseek_weights.h"

namespace r1 {

class GgufFile;
class SafetensorsSet;

class DeepseekModel {
 public:
  // fp8: how FP8 weights of a HF checkpoint are used (GGUF files have none).
  static std::unique_ptr<DeepseekModel> load(const std::string& path, Fp8Mode fp8 = Fp8Mode::AsStored);
  // The same, for a GGUF file that is already open (Model::load dispatching on the architecture).
  static std::unique_ptr<DeepseekModel> from_gguf(std::unique_ptr<GgufFile> f);
  ~DeepseekModel();

  const DeepseekConfig& config() const { return config_; }
  const DeepseekWeights& weights() const { return weights_; }

 private:
  DeepseekModel() = default;
  std::unique_ptr<GgufFile> gguf_;
  std::unique_ptr<SafetensorsSet> safetensors_;
  DeepseekWeightStore store_;
  DeepseekConfig config_;
  DeepseekWeights weights_;
};

}  // namespace r1
