// A Hugging Face checkpoint directory (config.json, safetensors, tokenizer.json) as an
// ExportModel, for `r1 convert` to write as GGUF: dense Qwen2 / Llama, and DeepSeek-V2/V3 in BF16
// or DeepSeek's FP8 (dequantized with its 128×128 block scales). Tensors are read from the mapped
// files only when written, one at a time; the returned model keeps the files open.
#pragma once
#include <string>

#include "convert/export_model.h"
#include "model/deepseek_config.h"

namespace r1 {

// with_mtp: keep DeepSeek's MTP layer when the checkpoint has one (ignored otherwise).
ExportModel import_hf_model(const std::string& dir, bool with_mtp = true, KvbLayout layout = KvbLayout::Split);

}  // namespace r1
