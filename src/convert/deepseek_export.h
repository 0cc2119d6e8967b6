// DeepSeek-V2/V3/R1 models as an ExportModel: the HF tensors (kv_b_proj, one tensor per expert,
// the MTP layer at index n_layer) and llama.cpp's deepseek2 GGUF layout made from them (SPEC §5.3:
// MLA form with attn_k_b / attn_v_b split from kv_b_proj, experts stacked on an outer axis, the
// MTP layer as blk.{n_layer}.nextn.* plus an ordinary block blk.{n_layer}.*). Used by `r1 convert`
// (values from a checkpoint) and `r1 gen-model` (random values).
#pragma once
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "convert/export_model.h"
#include "model/deepseek_config.h"

namespace r1 {

// Writes the values of the HF tensor `hf_name`, which must have this row-major shape, into dst
// (product(shape) floats).
using HfTensorSource =
    std::function<void(const std::string& hf_name, const std::vector<int64_t>& shape, float* dst)>;

// config: the parsed hf_config. with_mtp: include the MTP layer (config.n_mtp_layers must be > 0).
// Every GGUF tensor reads its HF tensors through `source` when it is written, one at a time.
// layout: Split writes llama.cpp's MLA form (attn_k_b / attn_v_b, one key/value head of the latent
// size); Combined the older form (one attn_kv_b, head_count_kv = head_count) that llama.cpp before
// 2025-04 and ik_llama.cpp load.
ExportModel deepseek_export_model(const DeepseekConfig& config, const nlohmann::json& hf_config, HfTensorSource source,
                                  bool with_mtp, KvbLayout layout = KvbLayout::Split);

// "split" / "combined" (the --mla-layout flag of gen-model and convert); `who` names the command in
// the error for anything else.
KvbLayout parse_mla_layout(const std::string& name, const char* who);
inline constexpr const char* kMlaLayoutHelp =
    "DeepSeek GGUF: split (attn_k_b/attn_v_b, llama.cpp since 2025-04) or combined (attn_kv_b: older llama.cpp, "
    "ik_llama.cpp)";

// The deepseek2.* GGUF keys of a config, as llama.cpp's converter writes them.
std::vector<std::pair<std::string, GgufValue>> deepseek_gguf_kv(const DeepseekConfig& c, bool with_mtp,
                                                                 KvbLayout layout = KvbLayout::Split);

}  // namespace r1
