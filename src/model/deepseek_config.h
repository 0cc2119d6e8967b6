// Hyper-parameters of a DeepSeek-V2/V3/R1 model (MLA attention + DeepSeekMoE), read from GGUF
// metadata (arch `deepseek2`, both the MLA form with attn_k_b/attn_v_b and the legacy attn_kv_b
// form) or a Hugging Face config.json (DeepseekV3ForCausalLM / DeepseekV2ForCausalLM), then
// validated with errors that name the file and the key. SPEC §1.1, §5.3.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/dtype.h"
#include "ops/rope.h"

namespace r1 {

class GgufFile;

enum class ExpertGating { Softmax, Sigmoid };

// How the checkpoint stores the KV up-projection W_kvb = [W_UK; W_UV] per head.
enum class KvbLayout {
  Split,     // GGUF MLA form: attn_k_b (W_UK transposed per head) and attn_v_b (W_UV per head)
  Combined,  // GGUF legacy attn_kv_b, or HF kv_b_proj: [n_head · (nope + v)] rows of kv_lora_rank
};

struct DeepseekConfig {
  std::string source;  // the file or config.json it came from (for messages)
  int64_t n_layer = 0;
  int64_t n_embd = 0;
  int64_t n_head = 0;
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;
  float rms_eps = 1e-6f;

  // Multi-head latent attention (SPEC §1.4).
  int64_t q_lora_rank = 0;  // 0: a plain q projection (V2-Lite), no q LoRA
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_dim = 0;
  int64_t qk_rope_dim = 0;
  int64_t v_head_dim = 0;
  KvbLayout kvb_layout = KvbLayout::Combined;

  // RoPE on the rope part of q and k: adjacent pairs, YaRN-scaled (SPEC §1.5). rope.mscale (the
  // cos/sin magnitude) is yarn_mscale(f, mscale) / yarn_mscale(f, mscale_all_dim), 1 for V2/V3.
  RopeParams rope;
  double mscale_all_dim = 0;  // enters the softmax scale as yarn_mscale(factor, mscale_all_dim)²

  // Feed-forward: the first n_dense_lead layers are dense SwiGLU, the rest DeepSeekMoE (SPEC §1.7).
  int64_t n_ff = 0;  // dense FFN width
  int64_t n_dense_lead = 0;
  int64_t n_expert = 0;
  int64_t n_expert_used = 0;
  int64_t n_expert_shared = 0;  // the shared expert MLP is n_expert_shared · n_ff_expert wide
  int64_t n_ff_expert = 0;
  int64_t n_group = 1;       // expert groups; > 1 enables group-limited routing
  int64_t n_group_used = 1;  // groups kept per token
  ExpertGating gating = ExpertGating::Softmax;
  bool score_bias = false;   // selection uses scores + e_score_correction_bias (noaux_tc)
  bool norm_topk = false;    // renormalise the selected weights to sum 1
  float route_scale = 1.0f;  // routed_scaling_factor

  int64_t n_mtp_layers = 0;  // num_nextn_predict_layers (HF) / nextn_predict_layers (GGUF)
  bool fp8_weights = false;  // HF quantization_config says fp8 with 128×128 block scales

  int32_t bos_id = -1;
  std::vector<int32_t> eos_ids;

  int64_t qk_head_dim() const { return qk_nope_dim + qk_rope_dim; }
  // Values cached per token and layer in the absorbed form: the normed latent and the roped key.
  int64_t latent_dim() const { return kv_lora_rank + qk_rope_dim; }
  bool is_moe_layer(int64_t layer) const { return layer >= n_dense_lead; }
  int64_t n_ff_shared() const { return n_expert_shared * n_ff_expert; }
  // mscale² / sqrt(qk_head_dim): the dot product stands for a qk_head_dim one even when absorbed.
  float attn_scale() const;
};

bool is_deepseek_gguf(const GgufFile& f);          // general.architecture == "deepseek2"
bool is_deepseek_hf(const std::string& dir);       // config.json model_type deepseek_v2 / deepseek_v3

DeepseekConfig deepseek_config_from_gguf(const GgufFile& f);
DeepseekConfig deepseek_config_from_hf(const std::string& dir);
// The same from config.json's contents (path names it in messages); no generation_config.json.
DeepseekConfig deepseek_config_from_json(const nlohmann::json& config, const std::string& path);

// Bytes of the latent KV cache per token over all layers, for `r1 info`:
// n_layer · (kv_lora_rank + qk_rope_dim) · sizeof(cache_type). 70,272 for R1 in BF16.
int64_t mla_kv_bytes_per_token(const DeepseekConfig& c, DType cache_type);

// 0.1 · m · ln(factor) + 1 (1 when factor <= 1 or m = 0): YaRN's attention-temperature correction.
double yarn_mscale(double factor, double m);

}  // namespace r1
