#include "model/deepseek_config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "io/gguf.h"
#include "io/hf_config.h"

namespace r1 {
namespace {

void check_range(const DeepseekConfig& c, const std::string& what, int64_t v, int64_t lo) {
  // The upper bound keeps every product of two sizes far from int64 overflow.
  if (v < lo || v > (int64_t{1} << 30)) fail(c.source, ": ", what, " must be in [", lo, ", 2^30] (got ", v, ")");
}

// Checks that do not depend on where the numbers came from. Names are the HF keys with the GGUF
// key in parentheses, so one message serves both.
void validate(const DeepseekConfig& c) {
  check_range(c, "num_hidden_layers (block_count)", c.n_layer, 1);
  check_range(c, "hidden_size (embedding_length)", c.n_embd, 1);
  check_range(c, "num_attention_heads (attention.head_count)", c.n_head, 1);
  check_range(c, "vocab_size", c.n_vocab, 1);
  check_range(c, "max_position_embeddings (context_length)", c.n_ctx_train, 1);
  check_range(c, "q_lora_rank", c.q_lora_rank, 0);
  check_range(c, "kv_lora_rank", c.kv_lora_rank, 1);
  check_range(c, "qk_nope_head_dim", c.qk_nope_dim, 1);
  check_range(c, "qk_rope_head_dim (rope.dimension_count)", c.qk_rope_dim, 2);
  check_range(c, "v_head_dim", c.v_head_dim, 1);
  if (c.qk_rope_dim % 2 != 0) fail(c.source, ": qk_rope_head_dim (", c.qk_rope_dim, ") must be even for RoPE");
  check_range(c, "first_k_dense_replace (leading_dense_block_count)", c.n_dense_lead, 0);
  if (c.n_dense_lead > c.n_layer) {
    fail(c.source, ": first_k_dense_replace (", c.n_dense_lead, ") exceeds the layer count (", c.n_layer, ")");
  }
  if (c.n_dense_lead > 0) check_range(c, "intermediate_size (feed_forward_length)", c.n_ff, 1);
  if (c.n_dense_lead < c.n_layer) {
    check_range(c, "n_routed_experts (expert_count)", c.n_expert, 1);
    check_range(c, "num_experts_per_tok (expert_used_count)", c.n_expert_used, 1);
    check_range(c, "n_shared_experts (expert_shared_count)", c.n_expert_shared, 0);
    check_range(c, "moe_intermediate_size (expert_feed_forward_length)", c.n_ff_expert, 1);
    check_range(c, "n_group (expert_group_count)", c.n_group, 1);
    check_range(c, "topk_group (expert_group_used_count)", c.n_group_used, 1);
    if (c.n_expert % c.n_group != 0) {
      fail(c.source, ": n_group (", c.n_group, ") must divide n_routed_experts (", c.n_expert, ")");
    }
    if (c.n_group_used > c.n_group) {
      fail(c.source, ": topk_group (", c.n_group_used, ") exceeds n_group (", c.n_group, ")");
    }
    if (c.n_expert_used > c.n_group_used * (c.n_expert / c.n_group)) {
      fail(c.source, ": num_experts_per_tok (", c.n_expert_used, ") exceeds the experts of the ", c.n_group_used,
           " kept groups (", c.n_group_used * (c.n_expert / c.n_group), ")");
    }
    if (!(c.route_scale > 0.0f) || !std::isfinite(c.route_scale)) {
      fail(c.source, ": routed_scaling_factor (expert_weights_scale) must be > 0 (got ", c.route_scale, ")");
    }
  }
  if (!(c.rms_eps > 0.0f) || !std::isfinite(c.rms_eps)) fail(c.source, ": rms_norm_eps must be > 0 (got ", c.rms_eps, ")");
  const RopeParams& r = c.rope;
  if (!(r.theta > 0) || !std::isfinite(r.theta)) fail(c.source, ": rope_theta must be > 0 (got ", r.theta, ")");
  if (r.yarn_factor > 1.0) {
    if (!std::isfinite(r.yarn_factor)) fail(c.source, ": rope scaling factor must be finite");
    if (!(r.yarn_orig_ctx > 0) || !std::isfinite(r.yarn_orig_ctx)) {
      fail(c.source, ": YaRN original context length must be > 0 (got ", r.yarn_orig_ctx, ")");
    }
    if (!(r.yarn_beta_fast > 0) || !(r.yarn_beta_slow > 0) || !std::isfinite(r.yarn_beta_fast) ||
        !std::isfinite(r.yarn_beta_slow)) {
      fail(c.source, ": YaRN beta_fast / beta_slow must be > 0");
    }
  }
  if (!std::isfinite(c.mscale_all_dim) || !std::isfinite(r.mscale) || !(r.mscale > 0)) {
    fail(c.source, ": YaRN mscale values must be finite and the cos/sin magnitude positive");
  }
  for (int32_t id : c.eos_ids) {
    if (id < 0 || id >= c.n_vocab) fail(c.source, ": eos token id ", id, " is outside the vocabulary (", c.n_vocab, ")");
  }
  if (c.bos_id >= c.n_vocab) fail(c.source, ": bos token id ", c.bos_id, " is outside the vocabulary (", c.n_vocab, ")");
}

// bos/eos ids of a HF config.json or generation_config.json (the latter read second, so it wins).
void read_special_ids(const nlohmann::json& j, const std::string& file, DeepseekConfig& c) {
  if (j.contains("bos_token_id") && !j["bos_token_id"].is_null()) c.bos_id = int32_t(json_int(j, "bos_token_id", -1, file));
  if (!j.contains("eos_token_id") || j["eos_token_id"].is_null()) return;
  const nlohmann::json& e = j["eos_token_id"];
  c.eos_ids.clear();
  if (e.is_array()) {
    for (const auto& x : e) {
      if (!x.is_number_integer()) fail(file, ": eos_token_id must hold integers");
      c.eos_ids.push_back(x.get<int32_t>());
    }
  } else {
    c.eos_ids.push_back(int32_t(json_int(j, "eos_token_id", std::nullopt, file)));
  }
}

}  // namespace

double yarn_mscale(double factor, double m) { return factor <= 1.0 ? 1.0 : 0.1 * m * std::log(factor) + 1.0; }

float DeepseekConfig::attn_scale() const {
  const double m = yarn_mscale(rope.yarn_factor, mscale_all_dim);
  return static_cast<float>(m * m / std::sqrt(double(qk_head_dim())));
}

bool is_deepseek_gguf(const GgufFile& f) { return f.get_string("general.architecture", "") == "deepseek2"; }

bool is_deepseek_hf(const std::string& dir) {
  const std::string path = dir + "/config.json";
  if (!std::filesystem::exists(path)) return false;
  const std::string type = json_string(read_json_file(path), "model_type", "", path);
  return type == "deepseek_v3" || type == "deepseek_v2";
}

DeepseekConfig deepseek_config_from_gguf(const GgufFile& f) {
  DeepseekConfig c;
  c.source = f.path();
  const std::string arch = f.get_string("general.architecture");
  if (arch != "deepseek2") fail(f.path(), ": architecture '", arch, "' is not deepseek2");
  const std::string p = "deepseek2.";
  c.n_layer = f.get_int(p + "block_count");
  c.n_embd = f.get_int(p + "embedding_length");
  c.n_head = f.get_int(p + "attention.head_count");
  c.n_ctx_train = f.get_int(p + "context_length");
  c.rms_eps = float(f.get_float(p + "attention.layer_norm_rms_epsilon"));
  c.q_lora_rank = f.get_int(p + "attention.q_lora_rank", 0);
  c.n_mtp_layers = f.get_int(p + "nextn_predict_layers", 0);  // our GGUFs with the MTP layer
  c.kv_lora_rank = f.get_int(p + "attention.kv_lora_rank");
  c.qk_rope_dim = f.get_int(p + "rope.dimension_count");
  const int64_t n_head_kv = f.get_int(p + "attention.head_count_kv", c.n_head);
  const int64_t key_length = f.get_int(p + "attention.key_length");
  const int64_t value_length = f.get_int(p + "attention.value_length");
  // llama.cpp tells the two layouts apart by the *_mla keys; so do we.
  if (f.has(p + "attention.key_length_mla") || f.has(p + "attention.value_length_mla")) {
    c.kvb_layout = KvbLayout::Split;
    const int64_t k_mla = f.get_int(p + "attention.key_length_mla");
    c.v_head_dim = f.get_int(p + "attention.value_length_mla");
    c.qk_nope_dim = k_mla - c.qk_rope_dim;
    if (n_head_kv != 1) fail(f.path(), ": ", p, "attention.head_count_kv must be 1 in the MLA form (got ", n_head_kv, ")");
    if (key_length != c.kv_lora_rank + c.qk_rope_dim || value_length != c.kv_lora_rank) {
      fail(f.path(), ": ", p, "attention.key_length / value_length (", key_length, " / ", value_length,
           ") must be kv_lora_rank + rope dims / kv_lora_rank (", c.kv_lora_rank + c.qk_rope_dim, " / ", c.kv_lora_rank,
           ") in the MLA form");
    }
  } else {
    c.kvb_layout = KvbLayout::Combined;
    c.qk_nope_dim = key_length - c.qk_rope_dim;
    c.v_head_dim = value_length;
    if (n_head_kv != c.n_head) {
      fail(f.path(), ": ", p, "attention.head_count_kv (", n_head_kv, ") must equal head_count (", c.n_head,
           ") in the legacy attn_kv_b form");
    }
  }
  c.rope.pairing = RopePairing::kNorm;
  c.rope.n_dims = int(std::clamp<int64_t>(c.qk_rope_dim, 0, 1 << 20));  // validate() checks the range
  c.rope.theta = f.get_float(p + "rope.freq_base", 10000.0);
  const std::string scaling = f.get_string(p + "rope.scaling.type", "none");
  if (scaling == "yarn") {
    c.rope.yarn_factor = f.get_float(p + "rope.scaling.factor");
    c.rope.yarn_orig_ctx = f.get_float(p + "rope.scaling.original_context_length");
    c.rope.yarn_beta_fast = f.get_float(p + "rope.scaling.yarn_beta_fast", 32.0);
    c.rope.yarn_beta_slow = f.get_float(p + "rope.scaling.yarn_beta_slow", 1.0);
    // The converter writes 0.1 · mscale_all_dim; llama.cpp leaves cos/sin unscaled.
    c.mscale_all_dim = f.get_float(p + "rope.scaling.yarn_log_multiplier", 0.0) / 0.1;
  } else if (scaling != "none") {
    fail(f.path(), ": ", p, "rope.scaling.type '", scaling, "' is not supported for deepseek2 (yarn or none)");
  }

  c.n_ff = f.get_int(p + "feed_forward_length");
  c.n_dense_lead = f.get_int(p + "leading_dense_block_count", 0);
  if (c.n_dense_lead < c.n_layer) {
    c.n_expert = f.get_int(p + "expert_count");
    c.n_expert_used = f.get_int(p + "expert_used_count");
    c.n_expert_shared = f.get_int(p + "expert_shared_count", 0);
    c.n_ff_expert = f.get_int(p + "expert_feed_forward_length");
    c.n_group = f.get_int(p + "expert_group_count", 1);
    c.n_group_used = f.get_int(p + "expert_group_used_count", 1);
    c.route_scale = float(f.get_float(p + "expert_weights_scale", 1.0));
    c.norm_topk = f.get_bool(p + "expert_weights_norm", false);
    // Absent in old V2 files, which llama.cpp then treats as softmax.
    const int64_t gating = f.get_int(p + "expert_gating_func", 1);
    if (gating != 1 && gating != 2) {
      fail(f.path(), ": ", p, "expert_gating_func ", gating, " is not supported (1 softmax, 2 sigmoid)");
    }
    c.gating = gating == 2 ? ExpertGating::Sigmoid : ExpertGating::Softmax;
    c.score_bias = f.find_tensor(str("blk.", c.n_dense_lead, ".exp_probs_b.bias")) != nullptr;
  }
  c.n_vocab = f.tensor("token_embd.weight").ne[1];
  c.bos_id = int32_t(f.get_int("tokenizer.ggml.bos_token_id", -1));
  if (f.has("tokenizer.ggml.eos_token_id")) c.eos_ids.push_back(int32_t(f.get_int("tokenizer.ggml.eos_token_id")));
  validate(c);
  if (f.has(p + "vocab_size") && f.get_int(p + "vocab_size") != c.n_vocab) {
    fail(f.path(), ": ", p, "vocab_size (", f.get_int(p + "vocab_size"), ") differs from token_embd.weight rows (",
         c.n_vocab, ")");
  }
  return c;
}

DeepseekConfig deepseek_config_from_hf(const std::string& dir) {
  DeepseekConfig c = deepseek_config_from_json(read_json_file(dir + "/config.json"), dir + "/config.json");
  const std::string gen_path = dir + "/generation_config.json";
  if (std::filesystem::exists(gen_path)) read_special_ids(read_json_file(gen_path), gen_path, c);
  return c;
}

DeepseekConfig deepseek_config_from_json(const nlohmann::json& j, const std::string& path) {
  DeepseekConfig c;
  c.source = path;
  const std::string type = json_string(j, "model_type", "", path);
  if (type != "deepseek_v3" && type != "deepseek_v2") fail(path, ": model_type '", type, "' is not deepseek_v2 / deepseek_v3");
  c.kvb_layout = KvbLayout::Combined;
  c.n_layer = json_int(j, "num_hidden_layers", std::nullopt, path);
  c.n_embd = json_int(j, "hidden_size", std::nullopt, path);
  c.n_head = json_int(j, "num_attention_heads", std::nullopt, path);
  c.n_vocab = json_int(j, "vocab_size", std::nullopt, path);
  c.n_ctx_train = json_int(j, "max_position_embeddings", std::nullopt, path);
  c.rms_eps = float(json_float(j, "rms_norm_eps", 1e-6, path));
  c.q_lora_rank = json_int(j, "q_lora_rank", 0, path);  // null in V2-Lite
  c.kv_lora_rank = json_int(j, "kv_lora_rank", std::nullopt, path);
  c.qk_nope_dim = json_int(j, "qk_nope_head_dim", std::nullopt, path);
  c.qk_rope_dim = json_int(j, "qk_rope_head_dim", std::nullopt, path);
  c.v_head_dim = json_int(j, "v_head_dim", std::nullopt, path);
  c.rope.n_dims = int(std::clamp<int64_t>(c.qk_rope_dim, 0, 1 << 20));
  c.rope.pairing = RopePairing::kNorm;  // DeepSeek rotates adjacent pairs in HF form too (SPEC §1.5)
  c.rope.theta = json_float(j, "rope_theta", 10000.0, path);
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    const nlohmann::json& rs = j["rope_scaling"];
    const std::string where = path + " rope_scaling";
    const std::string t = json_string(rs, "type", json_string(rs, "rope_type", "", where), where);
    if (t != "yarn") fail(path, ": rope_scaling type '", t, "' is not supported for DeepSeek (yarn)");
    c.rope.yarn_factor = json_float(rs, "factor", std::nullopt, where);
    c.rope.yarn_orig_ctx = json_float(rs, "original_max_position_embeddings", 4096, where);
    c.rope.yarn_beta_fast = json_float(rs, "beta_fast", 32, where);
    c.rope.yarn_beta_slow = json_float(rs, "beta_slow", 1, where);
    const double mscale = json_float(rs, "mscale", 1, where);
    c.mscale_all_dim = json_float(rs, "mscale_all_dim", 0, where);
    c.rope.mscale = float(yarn_mscale(c.rope.yarn_factor, mscale) / yarn_mscale(c.rope.yarn_factor, c.mscale_all_dim));
  }

  c.n_ff = json_int(j, "intermediate_size", std::nullopt, path);
  c.n_dense_lead = json_int(j, "first_k_dense_replace", 0, path);
  if (json_int(j, "moe_layer_freq", 1, path) != 1) fail(path, ": moe_layer_freq other than 1 is not supported");
  if (j.contains("n_routed_experts") && !j["n_routed_experts"].is_null()) {
    c.n_expert = json_int(j, "n_routed_experts", std::nullopt, path);
    c.n_expert_used = json_int(j, "num_experts_per_tok", std::nullopt, path);
    c.n_expert_shared = json_int(j, "n_shared_experts", 0, path);
    c.n_ff_expert = json_int(j, "moe_intermediate_size", std::nullopt, path);
    c.n_group = json_int(j, "n_group", 1, path);
    c.n_group_used = json_int(j, "topk_group", 1, path);
    c.route_scale = float(json_float(j, "routed_scaling_factor", 1.0, path));
    c.norm_topk = json_bool(j, "norm_topk_prob", false, path);
    const std::string scoring = json_string(j, "scoring_func", "softmax", path);
    if (scoring != "softmax" && scoring != "sigmoid") fail(path, ": scoring_func '", scoring, "' is not supported");
    c.gating = scoring == "sigmoid" ? ExpertGating::Sigmoid : ExpertGating::Softmax;
    const std::string method = json_string(j, "topk_method", "greedy", path);
    if (method != "greedy" && method != "group_limited_greedy" && method != "noaux_tc") {
      fail(path, ": topk_method '", method, "' is not supported (greedy, group_limited_greedy, noaux_tc)");
    }
    c.score_bias = method == "noaux_tc";
    // Plain greedy top-k ignores any group settings.
    if (method == "greedy") c.n_group = c.n_group_used = 1;
  }
  c.n_mtp_layers = json_int(j, "num_nextn_predict_layers", 0, path);
  if (j.contains("quantization_config") && !j["quantization_config"].is_null()) {
    const nlohmann::json& q = j["quantization_config"];
    const std::string where = path + " quantization_config";
    const std::string method = json_string(q, "quant_method", "", where);
    if (method != "fp8") fail(path, ": quantization_config.quant_method '", method, "' is not supported (fp8)");
    if (q.contains("weight_block_size") &&
        q["weight_block_size"] != nlohmann::json::array({128, 128})) {
      fail(path, ": quantization_config.weight_block_size must be [128, 128]");
    }
    c.fp8_weights = true;
  }
  read_special_ids(j, path, c);
  validate(c);
  return c;
}

int64_t mla_kv_bytes_per_token(const DeepseekConfig& c, DType cache_type) {
  return c.n_layer * c.latent_dim() * int64_t(row_bytes(cache_type, 1));
}

}  // namespace r1
