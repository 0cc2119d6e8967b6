#include "train/export.h"

#include <algorithm>

#include "convert/tokenizer_export.h"
#include "core/error.h"

namespace r1::train {
namespace {

// A tensor whose values are n = prod(shape) floats at src, copied as they are.
ExportTensor copied(const float* src, const std::vector<int64_t>& shape, const std::string& hf,
                    const std::string& gguf) {
  ExportTensor e;
  e.hf_name = hf;
  e.gguf_name = gguf;
  e.shape = shape;
  e.is_matrix = shape.size() == 2;
  size_t n = 1;
  for (int64_t d : shape) n *= size_t(d);
  e.fill = [src, n](float* dst) { std::copy_n(src, n, dst); };
  return e;
}

// What both architectures' exports start with: the tokenizer (checked against the vocabulary).
ExportModel start_export(const char* arch, const std::string& tokenizer_json, int64_t n_vocab,
                         const std::string& name) {
  const int64_t n_tok = tokenizer_json_size(tokenizer_json);
  if (n_tok > n_vocab) fail("export: ", tokenizer_json, " has ", n_tok, " tokens but the model only ", n_vocab);
  ExportModel out;
  out.arch = arch;
  out.tokenizer_path = tokenizer_json;
  out.n_vocab = n_vocab;
  out.name = name;
  return out;
}

// The HF config keys and generation config both architectures write alike (h holds the rest).
void finish_hf_config(ExportModel& out, nlohmann::json h, int64_t n_ctx, double rms_eps, double rope_theta) {
  h["max_position_embeddings"] = n_ctx;
  h["rms_norm_eps"] = rms_eps;
  h["rope_theta"] = rope_theta;
  h["rope_scaling"] = nullptr;
  h["hidden_act"] = "silu";
  h["tie_word_embeddings"] = false;
  h["bos_token_id"] = 0;
  h["eos_token_id"] = 1;
  out.hf_config = std::move(h);
  out.generation_config = {{"do_sample", true}, {"temperature", 0.6}, {"top_p", 0.95}, {"bos_token_id", 0},
                           {"eos_token_id", 1}};
}

struct Exporter {
  const Transformer<float>& m;
  ExportModel& out;

  // A parameter tensor copied as is, under its HF name and (optionally) a GGUF name.
  void copy(const std::string& hf, const std::string& gguf) { copy_as(param(hf), hf, gguf); }
  void copy_as(const ParamTensor& t, const std::string& hf, const std::string& gguf) {
    out.tensors.push_back(copied(m.params.data() + t.offset, t.shape, hf, gguf));
  }
  void vector(const std::string& hf, const std::string& gguf, const std::vector<float>& v) {
    out.tensors.push_back(copied(v.data(), {int64_t(v.size())}, hf, gguf));
  }
  const ParamTensor& param(const std::string& hf) {
    const ParamTensor* t = m.layout().find(hf);
    if (!t) fail("export: no parameter ", hf);
    return *t;
  }

  // One block. gguf_prefix empty: HF only (the MTP layer).
  void block(const std::string& hf, const std::string& gg, size_t bias_index, bool moe) {
    const ModelConfig& c = m.config();
    auto g = [&](const std::string& name) { return gg.empty() ? std::string() : gg + name; };
    const std::string sa = hf + "self_attn.";
    copy(hf + "input_layernorm.weight", g("attn_norm.weight"));
    copy(sa + "q_a_proj.weight", g("attn_q_a.weight"));
    copy(sa + "q_a_layernorm.weight", g("attn_q_a_norm.weight"));
    copy(sa + "q_b_proj.weight", g("attn_q_b.weight"));
    copy(sa + "kv_a_proj_with_mqa.weight", g("attn_kv_a_mqa.weight"));
    copy(sa + "kv_a_layernorm.weight", g("attn_kv_a_norm.weight"));
    copy(sa + "kv_b_proj.weight", "");
    if (!gg.empty()) {
      // MLA form: per head h, attn_k_b holds W_UK_hᵀ ([kv_lora][nope]) and attn_v_b W_UV_h
      // ([v][kv_lora]), both cut from kv_b_proj's [H·(nope + v)][kv_lora] rows.
      const ParamTensor& kvb = param(sa + "kv_b_proj.weight");
      const float* w = m.params.data() + kvb.offset;
      const int64_t H = c.n_head, r = c.kv_lora_rank, dn = c.qk_nope_dim, dv = c.v_head_dim;
      ExportTensor k;
      k.gguf_name = gg + "attn_k_b.weight";
      k.shape = {H, r, dn};
      k.is_matrix = true;
      k.fill = [=](float* dst) {
        for (int64_t h = 0; h < H; h++)
          for (int64_t j = 0; j < r; j++)
            for (int64_t d = 0; d < dn; d++) dst[(h * r + j) * dn + d] = w[(h * (dn + dv) + d) * r + j];
      };
      out.tensors.push_back(std::move(k));
      ExportTensor v;
      v.gguf_name = gg + "attn_v_b.weight";
      v.shape = {H, dv, r};
      v.is_matrix = true;
      v.fill = [=](float* dst) {
        for (int64_t h = 0; h < H; h++)
          for (int64_t d = 0; d < dv; d++) std::copy_n(w + (h * (dn + dv) + dn + d) * r, r, dst + (h * dv + d) * r);
      };
      out.tensors.push_back(std::move(v));
    }
    copy(sa + "o_proj.weight", g("attn_output.weight"));
    copy(hf + "post_attention_layernorm.weight", g("ffn_norm.weight"));
    const std::string mp = hf + "mlp.";
    if (!moe) {
      copy(mp + "gate_proj.weight", g("ffn_gate.weight"));
      copy(mp + "up_proj.weight", g("ffn_up.weight"));
      copy(mp + "down_proj.weight", g("ffn_down.weight"));
      return;
    }
    copy(mp + "gate.weight", g("ffn_gate_inp.weight"));
    vector(mp + "gate.e_score_correction_bias", g("exp_probs_b.bias"), m.bias.per_block[bias_index]);
    for (int64_t e = 0; e < c.n_expert; e++) {
      for (const char* p : {"gate_proj", "up_proj", "down_proj"}) copy(str(mp, "experts.", e, ".", p, ".weight"), "");
    }
    if (!gg.empty()) {
      // GGUF stacks the experts: ffn_{gate,up,down}_exps with the expert index outermost.
      for (auto [proj, gname] : {std::pair{"gate_proj", "ffn_gate_exps"}, {"up_proj", "ffn_up_exps"},
                                 {"down_proj", "ffn_down_exps"}}) {
        std::vector<const float*> parts;
        for (int64_t e = 0; e < c.n_expert; e++) parts.push_back(m.params.data() + param(str(mp, "experts.", e, ".", proj, ".weight")).offset);
        const ParamTensor& first = param(str(mp, "experts.0.", proj, ".weight"));
        ExportTensor t;
        t.gguf_name = gg + gname + ".weight";
        t.shape = {c.n_expert, first.shape[0], first.shape[1]};
        t.is_matrix = true;
        const size_t n = first.size;
        t.fill = [parts, n](float* dst) {
          for (size_t e = 0; e < parts.size(); e++) std::copy_n(parts[e], n, dst + e * n);
        };
        out.tensors.push_back(std::move(t));
      }
    }
    if (c.n_expert_shared > 0) {
      copy(mp + "shared_experts.gate_proj.weight", g("ffn_gate_shexp.weight"));
      copy(mp + "shared_experts.up_proj.weight", g("ffn_up_shexp.weight"));
      copy(mp + "shared_experts.down_proj.weight", g("ffn_down_shexp.weight"));
    }
  }
};

}  // namespace

ExportModel to_export_model(const Transformer<float>& m, const std::string& tokenizer_json, const std::string& name) {
  const ModelConfig& c = m.config();
  ExportModel out = start_export("deepseek2", tokenizer_json, c.n_vocab, name);
  Exporter x{m, out};
  x.copy("model.embed_tokens.weight", "token_embd.weight");
  for (int64_t l = 0; l < c.n_layer; l++) {
    x.block(str("model.layers.", l, "."), str("blk.", l, "."), size_t(l), c.is_moe_layer(l));
  }
  x.copy("model.norm.weight", "output_norm.weight");
  x.copy("lm_head.weight", "output.weight");
  if (m.layout().has_mtp) {
    const std::string p = str("model.layers.", c.n_layer, ".");
    // The MTP layer's own copies of the shared embedding and head (as DeepSeek's checkpoints).
    x.copy_as(x.param("model.embed_tokens.weight"), p + "embed_tokens.weight", "");
    x.copy(p + "enorm.weight", "");
    x.copy(p + "hnorm.weight", "");
    x.copy(p + "eh_proj.weight", "");
    x.block(p, "", size_t(c.n_layer), true);
    x.copy(p + "shared_head.norm.weight", "");
    x.copy_as(x.param("lm_head.weight"), p + "shared_head.head.weight", "");
  }

  const std::string a = "deepseek2.";
  auto u32 = [](int64_t v) { return GgufValue::u32(uint32_t(v)); };
  out.gguf_kv = {
      {a + "block_count", u32(c.n_layer)},
      {a + "context_length", u32(c.n_ctx)},
      {a + "embedding_length", u32(c.n_embd)},
      {a + "feed_forward_length", u32(c.n_ff)},
      {a + "attention.head_count", u32(c.n_head)},
      {a + "attention.head_count_kv", u32(1)},
      {a + "attention.q_lora_rank", u32(c.q_lora_rank)},
      {a + "attention.kv_lora_rank", u32(c.kv_lora_rank)},
      {a + "attention.key_length", u32(c.kv_lora_rank + c.qk_rope_dim)},
      {a + "attention.value_length", u32(c.kv_lora_rank)},
      {a + "attention.key_length_mla", u32(c.qk_head_dim())},
      {a + "attention.value_length_mla", u32(c.v_head_dim)},
      {a + "attention.layer_norm_rms_epsilon", GgufValue::f32(float(c.rms_eps))},
      {a + "rope.dimension_count", u32(c.qk_rope_dim)},
      {a + "rope.freq_base", GgufValue::f32(float(c.rope_theta))},
      {a + "leading_dense_block_count", u32(c.n_dense_lead)},
      {a + "vocab_size", u32(c.n_vocab)},
  };
  if (c.n_dense_lead < c.n_layer) {
    for (auto& kv : std::vector<std::pair<std::string, GgufValue>>{
             {a + "expert_count", u32(c.n_expert)},
             {a + "expert_used_count", u32(c.n_expert_used)},
             {a + "expert_shared_count", u32(c.n_expert_shared)},
             {a + "expert_feed_forward_length", u32(c.n_ff_expert)},
             {a + "expert_weights_scale", GgufValue::f32(float(c.route_scale))},
             {a + "expert_weights_norm", GgufValue::boolean(true)},
             {a + "expert_gating_func", u32(2)},  // sigmoid
         }) {
      out.gguf_kv.push_back(std::move(kv));
    }
  }

  nlohmann::json h;
  h["architectures"] = {"DeepseekV3ForCausalLM"};
  h["model_type"] = "deepseek_v3";
  h["vocab_size"] = c.n_vocab;
  h["hidden_size"] = c.n_embd;
  h["intermediate_size"] = c.n_ff;
  h["moe_intermediate_size"] = c.n_ff_expert;
  h["num_hidden_layers"] = c.n_layer;
  h["num_attention_heads"] = c.n_head;
  h["num_key_value_heads"] = c.n_head;
  h["n_shared_experts"] = c.n_expert_shared;
  h["n_routed_experts"] = c.n_expert;
  h["num_experts_per_tok"] = c.n_expert_used;
  h["routed_scaling_factor"] = c.route_scale;
  h["topk_method"] = "noaux_tc";
  h["n_group"] = 1;
  h["topk_group"] = 1;
  h["norm_topk_prob"] = true;
  h["scoring_func"] = "sigmoid";
  h["moe_layer_freq"] = 1;
  h["first_k_dense_replace"] = c.n_dense_lead;
  h["q_lora_rank"] = c.q_lora_rank;
  h["kv_lora_rank"] = c.kv_lora_rank;
  h["qk_nope_head_dim"] = c.qk_nope_dim;
  h["qk_rope_head_dim"] = c.qk_rope_dim;
  h["v_head_dim"] = c.v_head_dim;
  h["num_nextn_predict_layers"] = c.mtp ? 1 : 0;
  finish_hf_config(out, std::move(h), c.n_ctx, c.rms_eps, c.rope_theta);
  return out;
}

ExportModel to_export_model(const DenseTransformer<float>& m, const std::string& tokenizer_json, const std::string& name) {
  const DenseConfig& c = m.config();
  ExportModel out = start_export("qwen2", tokenizer_json, c.n_vocab, name);
  // The parameters already carry Qwen2's HF names; GGUF renames them (llama.cpp's qwen2 names).
  auto gguf_name = [](const std::string& hf) -> std::string {
    static const std::pair<const char*, const char*> kTop[] = {{"model.embed_tokens.weight", "token_embd.weight"},
                                                              {"model.norm.weight", "output_norm.weight"},
                                                              {"lm_head.weight", "output.weight"}};
    for (auto [h, g] : kTop) {
      if (hf == h) return g;
    }
    static const std::pair<const char*, const char*> kBlock[] = {
        {"input_layernorm.weight", "attn_norm.weight"},     {"self_attn.q_proj.weight", "attn_q.weight"},
        {"self_attn.q_proj.bias", "attn_q.bias"},           {"self_attn.k_proj.weight", "attn_k.weight"},
        {"self_attn.k_proj.bias", "attn_k.bias"},           {"self_attn.v_proj.weight", "attn_v.weight"},
        {"self_attn.v_proj.bias", "attn_v.bias"},           {"self_attn.o_proj.weight", "attn_output.weight"},
        {"post_attention_layernorm.weight", "ffn_norm.weight"}, {"mlp.gate_proj.weight", "ffn_gate.weight"},
        {"mlp.up_proj.weight", "ffn_up.weight"},            {"mlp.down_proj.weight", "ffn_down.weight"}};
    const std::string pre = "model.layers.";
    const size_t dot = hf.find('.', pre.size());
    if (hf.rfind(pre, 0) == 0 && dot != std::string::npos) {
      const std::string rest = hf.substr(dot + 1), layer = hf.substr(pre.size(), dot - pre.size());
      for (auto [h, g] : kBlock) {
        if (rest == h) return "blk." + layer + "." + g;
      }
    }
    fail("export: no GGUF name for ", hf);
  };
  for (const ParamTensor& t : m.layout().tensors) {
    out.tensors.push_back(copied(m.params.data() + t.offset, t.shape, t.name, gguf_name(t.name)));
  }
  const std::string a = "qwen2.";
  auto u32 = [](int64_t v) { return GgufValue::u32(uint32_t(v)); };
  out.gguf_kv = {
      {a + "block_count", u32(c.n_layer)},
      {a + "context_length", u32(c.n_ctx)},
      {a + "embedding_length", u32(c.n_embd)},
      {a + "feed_forward_length", u32(c.n_ff)},
      {a + "attention.head_count", u32(c.n_head)},
      {a + "attention.head_count_kv", u32(c.n_kv_head)},
      {a + "rope.freq_base", GgufValue::f32(float(c.rope_theta))},
      {a + "attention.layer_norm_rms_epsilon", GgufValue::f32(float(c.rms_eps))},
  };
  nlohmann::json h;
  h["architectures"] = {"Qwen2ForCausalLM"};
  h["model_type"] = "qwen2";
  h["vocab_size"] = c.n_vocab;
  h["hidden_size"] = c.n_embd;
  h["intermediate_size"] = c.n_ff;
  h["num_hidden_layers"] = c.n_layer;
  h["num_attention_heads"] = c.n_head;
  h["num_key_value_heads"] = c.n_kv_head;
  h["head_dim"] = c.head_dim();
  h["use_sliding_window"] = false;
  finish_hf_config(out, std::move(h), c.n_ctx, c.rms_eps, c.rope_theta);
  return out;
}

ExportModel to_export_model(const Policy& m, const std::string& tokenizer_json, const std::string& name) {
  if (m.arch() == Arch::Dense) return to_export_model(static_cast<const DenseTransformer<float>&>(m), tokenizer_json, name);
  return to_export_model(static_cast<const Transformer<float>&>(m), tokenizer_json, name);
}

}  // namespace r1::train
