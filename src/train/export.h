// A trained model as an ExportModel (src/convert), so the project's one GGUF writer and one HF
// writer produce files every other r1 command loads: GGUF arch deepseek2 in llama.cpp's MLA form
// (attn_k_b / attn_v_b, stacked experts; no MTP, GGUF carries none) and a DeepseekV3ForCausalLM
// directory (kv_b_proj, per-expert tensors, the MTP layer at index n_layer when the model has one).
// The dense student exports as GGUF arch qwen2 (rotate-half rope, q/k/v biases) and a
// Qwen2ForCausalLM directory.
#pragma once
#include <string>

#include "convert/export_model.h"
#include "train/dense_model.h"
#include "train/model.h"

namespace r1::train {

// The model must outlive the returned ExportModel (its fill functions read m.params).
// tokenizer_json: the tokenizer.json to embed (its size must not exceed n_vocab).
ExportModel to_export_model(const Transformer<float>& m, const std::string& tokenizer_json, const std::string& name);
ExportModel to_export_model(const DenseTransformer<float>& m, const std::string& tokenizer_json, const std::string& name);
// Either of the above, by m.arch().
ExportModel to_export_model(const Policy& m, const std::string& tokenizer_json, const std::string& name);

}  // namespace r1::train
