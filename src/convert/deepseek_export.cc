#include "convert/deepseek_export.h"

#include <algorithm>

#include "core/error.h"

namespace r1 {
namespace {

// Builds the tensor list; `src` reads HF tensors by name.
class Layout {
 public:
  Layout(const DeepseekConfig& c, HfTensorSource src, ExportModel& m, KvbLayout kvb)
      : c_(c), src_(std::move(src)), m_(m), kvb_(kvb) {}

  // A tensor stored under both names with the same values.
  void same(const std::string& hf, const std::string& gguf, std::vector<int64_t> shape, bool matrix) {
    ExportTensor t;
    t.hf_name = hf;
    t.gguf_name = gguf;
    t.shape = std::move(shape);
    t.is_matrix = matrix;
    t.fill = [src = src_, hf, shape = t.shape](float* dst) { src(hf, shape, dst); };
    m_.tensors.push_back(std::move(t));
  }
  void hf_only(const std::string& hf, std::vector<int64_t> shape) { same(hf, "", std::move(shape), true); }
  void gguf_only(const std::string& gguf, std::vector<int64_t> shape, std::function<void(float*)> fill) {
    ExportTensor t;
    t.gguf_name = gguf;
    t.shape = std::move(shape);
    t.is_matrix = true;
    t.fill = std::move(fill);
    m_.tensors.push_back(std::move(t));
  }

  // One block: HF prefix "model.layers.{l}.", GGUF prefix "blk.{l}.".
  void block(int64_t l) {
    const std::string hf = str("model.layers.", l, "."), sa = hf + "self_attn.", g = str("blk.", l, ".");
    const int64_t D = c_.n_embd, H = c_.n_head, qk = c_.qk_head_dim(), r = c_.kv_lora_rank;
    const int64_t v = c_.v_head_dim, per = c_.qk_nope_dim + v;
    same(hf + "input_layernorm.weight", g + "attn_norm.weight", {D}, false);
    if (c_.q_lora_rank == 0) {
      same(sa + "q_proj.weight", g + "attn_q.weight", {H * qk, D}, true);
    } else {
      same(sa + "q_a_proj.weight", g + "attn_q_a.weight", {c_.q_lora_rank, D}, true);
      same(sa + "q_a_layernorm.weight", g + "attn_q_a_norm.weight", {c_.q_lora_rank}, false);
      same(sa + "q_b_proj.weight", g + "attn_q_b.weight", {H * qk, c_.q_lora_rank}, true);
    }
    same(sa + "kv_a_proj_with_mqa.weight", g + "attn_kv_a_mqa.weight", {r + c_.qk_rope_dim, D}, true);
    same(sa + "kv_a_layernorm.weight", g + "attn_kv_a_norm.weight", {r}, false);
    const std::string kv_b = sa + "kv_b_proj.weight";
    if (kvb_ == KvbLayout::Combined) {
      same(kv_b, g + "attn_kv_b.weight", {H * per, r}, true);
    } else {
      split_kv_b(kv_b, g);
    }
    same(sa + "o_proj.weight", g + "attn_output.weight", {D, H * v}, true);
    same(hf + "post_attention_layernorm.weight", g + "ffn_norm.weight", {D}, false);
    if (!c_.is_moe_layer(l)) {
      ffn(hf + "mlp.", g, "", c_.n_ff);
      return;
    }
    const int64_t E = c_.n_expert, F = c_.n_ff_expert;
    same(hf + "mlp.gate.weight", g + "ffn_gate_inp.weight", {E, D}, false);  // llama.cpp keeps the router F32
    if (c_.score_bias) same(hf + "mlp.gate.e_score_correction_bias", g + "exp_probs_b.bias", {E}, false);
    for (const char* part : {"gate", "up", "down"}) {
      const bool down = std::string(part) == "down";
      const std::vector<int64_t> one = down ? std::vector<int64_t>{D, F} : std::vector<int64_t>{F, D};
      for (int64_t e = 0; e < E; e++) hf_only(str(hf, "mlp.experts.", e, ".", part, "_proj.weight"), one);
      gguf_only(str(g, "ffn_", part, "_exps.weight"), {E, one[0], one[1]}, [=, src = src_](float* dst) {
        for (int64_t e = 0; e < E; e++) src(str(hf, "mlp.experts.", e, ".", part, "_proj.weight"), one, dst + e * F * D);
      });
    }
    if (c_.n_expert_shared > 0) ffn(hf + "mlp.shared_experts.", g, "_shexp", c_.n_ff_shared());
  }

 private:
  // kv_b_proj [H·(nope+v)][r] splits per head into W_UK_h (nope rows, stored transposed: attn_k_b
  // [H][r][nope]) and W_UV_h (v rows: attn_v_b [H][v][r]).
  void split_kv_b(const std::string& kv_b, const std::string& g) {
    const int64_t H = c_.n_head, r = c_.kv_lora_rank, nope = c_.qk_nope_dim, v = c_.v_head_dim, per = nope + v;
    hf_only(kv_b, {H * per, r});
    auto split = [=, src = src_](bool k_part, float* dst) {
      std::vector<float> w(size_t(H * per * r));
      src(kv_b, {H * per, r}, w.data());
      for (int64_t h = 0; h < H; h++)
        for (int64_t d = 0; d < (k_part ? nope : v); d++)
          for (int64_t j = 0; j < r; j++) {
            const float x = w[size_t((h * per + (k_part ? d : nope + d)) * r + j)];
            if (k_part) dst[(h * r + j) * nope + d] = x;
            else dst[(h * v + d) * r + j] = x;
          }
    };
    gguf_only(g + "attn_k_b.weight", {H, r, nope}, [split](float* d) { split(true, d); });
    gguf_only(g + "attn_v_b.weight", {H, v, r}, [split](float* d) { split(false, d); });
  }

  void ffn(const std::string& hf, const std::string& g, const std::string& suffix, int64_t width) {
    const int64_t D = c_.n_embd;
    same(hf + "gate_proj.weight", g + "ffn_gate" + suffix + ".weight", {width, D}, true);
    same(hf + "up_proj.weight", g + "ffn_up" + suffix + ".weight", {width, D}, true);
    same(hf + "down_proj.weight", g + "ffn_down" + suffix + ".weight", {D, width}, true);
  }

  const DeepseekConfig& c_;
  HfTensorSource src_;
  ExportModel& m_;
  KvbLayout kvb_;
};

}  // namespace

KvbLayout parse_mla_layout(const std::string& name, const char* who) {
  if (name == "split") return KvbLayout::Split;
  if (name == "combined") return KvbLayout::Combined;
  fail(who, ": unknown --mla-layout '", name, "' (split or combined)");
}

std::vector<std::pair<std::string, GgufValue>> deepseek_gguf_kv(const DeepseekConfig& c, bool with_mtp, KvbLayout layout) {
  const std::string a = "deepseek2.";
  auto u32 = [](int64_t v) { return GgufValue::u32(static_cast<uint32_t>(v)); };
  auto f32 = [](double v) { return GgufValue::f32(static_cast<float>(v)); };
  std::vector<std::pair<std::string, GgufValue>> kv = {
      {a + "block_count", u32(c.n_layer)},
      {a + "context_length", u32(c.n_ctx_train)},
      {a + "embedding_length", u32(c.n_embd)},
      {a + "feed_forward_length", u32(c.n_ff)},
      {a + "attention.head_count", u32(c.n_head)},
      {a + "attention.head_count_kv", u32(layout == KvbLayout::Split ? 1 : c.n_head)},  // MLA form: one latent "head"
      {a + "rope.freq_base", f32(c.rope.theta)},
      {a + "attention.layer_norm_rms_epsilon", f32(c.rms_eps)},
      {a + "leading_dense_block_count", u32(c.n_dense_lead)},
      {a + "vocab_size", u32(c.n_vocab)},
      {a + "attention.kv_lora_rank", u32(c.kv_lora_rank)},
      {a + "rope.dimension_count", u32(c.qk_rope_dim)},
  };
  if (layout == KvbLayout::Split) {
    kv.emplace_back(a + "attention.key_length", u32(c.kv_lora_rank + c.qk_rope_dim));
    kv.emplace_back(a + "attention.value_length", u32(c.kv_lora_rank));
    kv.emplace_back(a + "attention.key_length_mla", u32(c.qk_nope_dim + c.qk_rope_dim));
    kv.emplace_back(a + "attention.value_length_mla", u32(c.v_head_dim));
  } else {
    kv.emplace_back(a + "attention.key_length", u32(c.qk_nope_dim + c.qk_rope_dim));
    kv.emplace_back(a + "attention.value_length", u32(c.v_head_dim));
  }
  if (c.q_lora_rank > 0) kv.emplace_back(a + "attention.q_lora_rank", u32(c.q_lora_rank));
  if (c.n_dense_lead < c.n_layer) {
    kv.emplace_back(a + "expert_count", u32(c.n_expert));
    kv.emplace_back(a + "expert_used_count", u32(c.n_expert_used));
    kv.emplace_back(a + "expert_shared_count", u32(c.n_expert_shared));
    kv.emplace_back(a + "expert_feed_forward_length", u32(c.n_ff_expert));
    kv.emplace_back(a + "expert_group_count", u32(c.n_group));
    kv.emplace_back(a + "expert_group_used_count", u32(c.n_group_used));
    kv.emplace_back(a + "expert_weights_scale", f32(c.route_scale));
    kv.emplace_back(a + "expert_weights_norm", GgufValue::boolean(c.norm_topk));
    kv.emplace_back(a + "expert_gating_func", u32(c.gating == ExpertGating::Sigmoid ? 2 : 1));
  }
  if (c.rope.yarn_factor > 1) {
    kv.emplace_back(a + "rope.scaling.type", GgufValue::string("yarn"));
    kv.emplace_back(a + "rope.scaling.factor", f32(c.rope.yarn_factor));
    kv.emplace_back(a + "rope.scaling.original_context_length", u32(int64_t(c.rope.yarn_orig_ctx)));
    kv.emplace_back(a + "rope.scaling.yarn_beta_fast", f32(c.rope.yarn_beta_fast));
    kv.emplace_back(a + "rope.scaling.yarn_beta_slow", f32(c.rope.yarn_beta_slow));
    kv.emplace_back(a + "rope.scaling.yarn_log_multiplier", f32(0.1 * c.mscale_all_dim));
  }
  if (with_mtp) kv.emplace_back(a + "nextn_predict_layers", u32(c.n_mtp_layers));
  return kv;
}

ExportModel deepseek_export_model(const DeepseekConfig& c, const nlohmann::json& hf_config, HfTensorSource source,
                                  bool with_mtp, KvbLayout kvb) {
  if (with_mtp && c.n_mtp_layers <= 0) fail(c.source, ": the config has no MTP layer (num_nextn_predict_layers)");
  if (with_mtp && c.n_mtp_layers > 1) fail(c.source, ": only one MTP layer is supported, not ", c.n_mtp_layers);
  ExportModel m;
  m.arch = "deepseek2";
  m.hf_config = hf_config;
  if (!with_mtp) m.hf_config["num_nextn_predict_layers"] = 0;
  m.n_vocab = c.n_vocab;
  m.gguf_kv = deepseek_gguf_kv(c, with_mtp, kvb);
  Layout layout(c, source, m, kvb);
  const int64_t D = c.n_embd, V = c.n_vocab;
  layout.same("model.embed_tokens.weight", "token_embd.weight", {V, D}, true);
  for (int64_t l = 0; l < c.n_layer; l++) layout.block(l);
  if (with_mtp) {
    const int64_t L = c.n_layer;
    const std::string hf = str("model.layers.", L, "."), g = str("blk.", L, ".nextn.");
    layout.same(hf + "embed_tokens.weight", g + "embed_tokens.weight", {V, D}, true);
    layout.same(hf + "enorm.weight", g + "enorm.weight", {D}, false);
    layout.same(hf + "hnorm.weight", g + "hnorm.weight", {D}, false);
    layout.same(hf + "eh_proj.weight", g + "eh_proj.weight", {D, 2 * D}, true);
    layout.block(L);
    layout.same(hf + "shared_head.norm.weight", g + "shared_head_norm.weight", {D}, false);
    layout.same(hf + "shared_head.head.weight", g + "shared_head_head.weight", {V, D}, true);
  }
  layout.same("model.norm.weight", "output_norm.weight", {D}, false);
  layout.same("lm_head.weight", "output.weight", {V, D}, true);
  return m;
}

}  // namespace r1
