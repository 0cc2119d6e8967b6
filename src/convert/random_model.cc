#include "convert/random_model.h"

#include <cmath>
#include <numbers>

#include "convert/deepseek_export.h"
#include "convert/tokenizer_export.h"
#include "core/error.h"
#include "ops/convert.h"
#include "ops/rope.h"

namespace r1 {
namespace {

uint64_t splitmix64(uint64_t& s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

struct Preset {
  const char* name;
  DenseSpec spec;
};

// R1-Distill shapes from SPEC §3 (vocab = embedding rows of the real checkpoints).
const Preset kPresets[] = {
    {"tiny-qwen2", {"qwen2", 2, 256, 4, 2, 64, 512, 0, 10000.0, 1e-6, 131072, false}},
    {"tiny-llama", {"llama", 2, 256, 4, 2, 64, 512, 0, 500000.0, 1e-5, 131072, true}},
    {"qwen2-1.5b", {"qwen2", 28, 1536, 12, 2, 128, 8960, 151936, 10000.0, 1e-6, 131072, false}},
    {"qwen2-7b", {"qwen2", 28, 3584, 28, 4, 128, 18944, 152064, 10000.0, 1e-6, 131072, false}},
    {"qwen2-14b", {"qwen2", 48, 5120, 40, 8, 128, 13824, 152064, 1000000.0, 1e-5, 131072, false}},
    {"qwen2-32b", {"qwen2", 64, 5120, 40, 8, 128, 27648, 152064, 1000000.0, 1e-5, 131072, false}},
    {"llama-8b", {"llama", 32, 4096, 32, 8, 128, 14336, 128256, 500000.0, 1e-5, 131072, true}},
    {"llama-70b", {"llama", 80, 8192, 64, 8, 128, 28672, 128256, 500000.0, 1e-5, 131072, true}},
};

// HF Llama q/k rows are laid out for rotate-half rope; llama.cpp's GGUF permutes them per head so
// that adjacent pairs rotate together: GGUF row 2i = HF row i, GGUF row 2i+1 = HF row i + d/2.
std::function<void(float*)> permute_for_adjacent_rope(int n_heads, int head_dim, int n_cols) {
  return [=](float* w) {
    std::vector<float> head(static_cast<size_t>(head_dim) * n_cols);
    for (int h = 0; h < n_heads; ++h) {
      float* base = w + static_cast<size_t>(h) * head_dim * n_cols;
      std::copy(base, base + head.size(), head.begin());
      for (int i = 0; i < head_dim / 2; ++i) {
        std::copy_n(&head[static_cast<size_t>(i) * n_cols], n_cols, base + static_cast<size_t>(2 * i) * n_cols);
        std::copy_n(&head[static_cast<size_t>(i + head_dim / 2) * n_cols], n_cols,
                    base + static_cast<size_t>(2 * i + 1) * n_cols);
      }
    }
  };
}

}  // namespace

void fill_normal_bf16(float* dst, int64_t n, uint64_t seed, const std::string& name, float stddev) {
  uint64_t s = seed ^ fnv1a(name);
  for (int64_t i = 0; i < n; i += 2) {
    // Box-Muller on two uniforms in (0, 1].
    double u1 = (static_cast<double>(splitmix64(s) >> 11) + 1.0) * 0x1.0p-53;
    double u2 = static_cast<double>(splitmix64(s) >> 11) * 0x1.0p-53;
    double r = std::sqrt(-2.0 * std::log(u1)) * stddev;
    dst[i] = bf16_to_f32(f32_to_bf16(static_cast<float>(r * std::cos(2 * std::numbers::pi * u2))));
    if (i + 1 < n) dst[i + 1] = bf16_to_f32(f32_to_bf16(static_cast<float>(r * std::sin(2 * std::numbers::pi * u2))));
  }
}

std::vector<std::string> dense_preset_names() {
  std::vector<std::string> v;
  for (const auto& p : kPresets) v.push_back(p.name);
  return v;
}

DenseSpec dense_preset(const std::string& name) {
  for (const auto& p : kPresets)
    if (name == p.name) return p.spec;
  std::string known;
  for (const auto& p : kPresets) known += std::string(known.empty() ? "" : ", ") + p.name;
  fail("unknown model shape '", name, "' (known: ", known, ")");
}

ExportModel random_dense_model(const DenseSpec& in, uint64_t seed, const std::string& tokenizer_json) {
  DenseSpec s = in;
  if (s.arch != "qwen2" && s.arch != "llama") fail("gen-model: unsupported dense architecture '", s.arch, "'");
  if (s.n_layer <= 0 || s.n_embd <= 0 || s.n_head <= 0 || s.n_head_kv <= 0 || s.head_dim <= 0 || s.n_ff <= 0)
    fail("gen-model: every size must be positive");
  if (s.n_head % s.n_head_kv != 0) fail("gen-model: n_head (", s.n_head, ") must be a multiple of n_head_kv (", s.n_head_kv, ")");
  if (s.head_dim % 2 != 0) fail("gen-model: head_dim must be even for rope");
  const int64_t n_tok = tokenizer_json_size(tokenizer_json);
  if (s.n_vocab == 0) s.n_vocab = n_tok;
  if (s.n_vocab < n_tok) fail("gen-model: n_vocab ", s.n_vocab, " is smaller than the tokenizer (", n_tok, " tokens)");

  ExportModel m;
  m.arch = s.arch;
  m.tokenizer_path = tokenizer_json;
  m.n_vocab = s.n_vocab;
  m.name = s.arch + " random weights (seed " + std::to_string(seed) + ")";
  const bool qwen = s.arch == "qwen2";
  const int64_t D = s.n_embd, V = s.n_vocab, F = s.n_ff, Q = int64_t(s.n_head) * s.head_dim,
                KV = int64_t(s.n_head_kv) * s.head_dim;

  auto add = [&](std::string hf, std::string gguf, std::vector<int64_t> shape, bool matrix, bool ones = false) {
    ExportTensor t;
    t.hf_name = hf;
    t.gguf_name = gguf;
    t.shape = shape;
    t.is_matrix = matrix;
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    t.fill = ones ? std::function<void(float*)>([n](float* d) { std::fill(d, d + n, 1.0f); })
                  : std::function<void(float*)>([n, seed, hf](float* d) { fill_normal_bf16(d, n, seed, hf, 0.02f); });
    m.tensors.push_back(std::move(t));
  };

  add("model.embed_tokens.weight", "token_embd.weight", {V, D}, true);
  for (int i = 0; i < s.n_layer; ++i) {
    const std::string hf = "model.layers." + std::to_string(i) + ".";
    const std::string gg = "blk." + std::to_string(i) + ".";
    add(hf + "input_layernorm.weight", gg + "attn_norm.weight", {D}, false, true);
    add(hf + "self_attn.q_proj.weight", gg + "attn_q.weight", {Q, D}, true);
    add(hf + "self_attn.k_proj.weight", gg + "attn_k.weight", {KV, D}, true);
    add(hf + "self_attn.v_proj.weight", gg + "attn_v.weight", {KV, D}, true);
    if (qwen) {
      add(hf + "self_attn.q_proj.bias", gg + "attn_q.bias", {Q}, false);
      add(hf + "self_attn.k_proj.bias", gg + "attn_k.bias", {KV}, false);
      add(hf + "self_attn.v_proj.bias", gg + "attn_v.bias", {KV}, false);
    }
    add(hf + "self_attn.o_proj.weight", gg + "attn_output.weight", {D, Q}, true);
    add(hf + "post_attention_layernorm.weight", gg + "ffn_norm.weight", {D}, false, true);
    add(hf + "mlp.gate_proj.weight", gg + "ffn_gate.weight", {F, D}, true);
    add(hf + "mlp.up_proj.weight", gg + "ffn_up.weight", {F, D}, true);
    add(hf + "mlp.down_proj.weight", gg + "ffn_down.weight", {D, F}, true);
  }
  add("model.norm.weight", "output_norm.weight", {D}, false, true);
  add("lm_head.weight", "output.weight", {V, D}, true);

  if (!qwen) {
    for (auto& t : m.tensors) {
      if (t.gguf_name.ends_with("attn_q.weight")) t.to_gguf = permute_for_adjacent_rope(s.n_head, s.head_dim, D);
      if (t.gguf_name.ends_with("attn_k.weight")) t.to_gguf = permute_for_adjacent_rope(s.n_head_kv, s.head_dim, D);
    }
    if (s.llama3_rope) {
      std::vector<float> f = llama3_freq_factors(s.head_dim, s.rope_theta, 8.0, 1.0, 4.0, 8192.0);
      ExportTensor t;
      t.gguf_name = "rope_freqs.weight";
      t.shape = {static_cast<int64_t>(f.size())};
      t.fill = [f](float* d) { std::copy(f.begin(), f.end(), d); };
      m.tensors.push_back(std::move(t));
    }
  }

  const std::string a = s.arch + ".";
  auto u32 = [](int64_t v) { return GgufValue::u32(static_cast<uint32_t>(v)); };
  m.gguf_kv = {
      {a + "block_count", u32(s.n_layer)},
      {a + "context_length", u32(s.n_ctx)},
      {a + "embedding_length", u32(D)},
      {a + "feed_forward_length", u32(F)},
      {a + "attention.head_count", u32(s.n_head)},
      {a + "attention.head_count_kv", u32(s.n_head_kv)},
      {a + "rope.freq_base", GgufValue::f32(static_cast<float>(s.rope_theta))},
      {a + "attention.layer_norm_rms_epsilon", GgufValue::f32(static_cast<float>(s.rms_eps))},
  };
  if (!qwen) {
    m.gguf_kv.emplace_back(a + "vocab_size", u32(V));
    m.gguf_kv.emplace_back(a + "rope.dimension_count", u32(s.head_dim));
  }
  if (int64_t(s.head_dim) * s.n_head != D) {
    m.gguf_kv.emplace_back(a + "attention.key_length", u32(s.head_dim));
    m.gguf_kv.emplace_back(a + "attention.value_length", u32(s.head_dim));
  }

  nlohmann::json c;
  c["architectures"] = {qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM"};
  c["model_type"] = s.arch;
  c["hidden_size"] = D;
  c["intermediate_size"] = F;
  c["num_hidden_layers"] = s.n_layer;
  c["num_attention_heads"] = s.n_head;
  c["num_key_value_heads"] = s.n_head_kv;
  c["head_dim"] = s.head_dim;
  c["vocab_size"] = V;
  c["max_position_embeddings"] = s.n_ctx;
  c["rms_norm_eps"] = s.rms_eps;
  c["rope_theta"] = s.rope_theta;
  c["hidden_act"] = "silu";
  c["tie_word_embeddings"] = false;
  if (qwen) {
    c["use_sliding_window"] = false;
  } else {
    c["attention_bias"] = false;
    c["mlp_bias"] = false;
    if (s.llama3_rope)
      c["rope_scaling"] = {{"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                           {"original_max_position_embeddings", 8192}, {"rope_type", "llama3"}};
  }
  m.hf_config = c;
  m.generation_config = {{"do_sample", true}, {"temperature", 0.6}, {"top_p", 0.95}};
  return m;
}

namespace {

// Settings every DeepSeek preset shares (V3's); each preset then sets its sizes.
nlohmann::json deepseek_v3_base() {
  return {
      {"architectures", {"DeepseekV3ForCausalLM"}}, {"model_type", "deepseek_v3"},
      {"bos_token_id", 0}, {"eos_token_id", 1}, {"hidden_act", "silu"}, {"tie_word_embeddings", false},
      {"max_position_embeddings", 163840}, {"rms_norm_eps", 1e-6}, {"rope_theta", 10000.0},
      {"rope_scaling", {{"type", "yarn"}, {"factor", 40.0}, {"original_max_position_embeddings", 4096},
                        {"beta_fast", 32}, {"beta_slow", 1}, {"mscale", 1.0}, {"mscale_all_dim", 1.0}}},
      {"moe_layer_freq", 1}, {"scoring_func", "sigmoid"}, {"topk_method", "noaux_tc"}, {"norm_topk_prob", true},
      {"routed_scaling_factor", 2.5}, {"num_nextn_predict_layers", 1}, {"attention_bias", false},
  };
}

nlohmann::json with(nlohmann::json base, const nlohmann::json& sizes) {
  base.update(sizes);
  return base;
}

}  // namespace

std::vector<std::string> deepseek_preset_names() {
  return {"tiny-deepseek3", "deepseek-v3", "deepseek-v2-lite", "deepseek-v3-0.66b"};
}

nlohmann::json deepseek_preset(const std::string& name) {
  const nlohmann::json v3 = deepseek_v3_base();
  if (name == "tiny-deepseek3")
    return with(v3, {{"hidden_size", 256}, {"num_hidden_layers", 3}, {"num_attention_heads", 4},
                     {"num_key_value_heads", 4}, {"q_lora_rank", 128}, {"kv_lora_rank", 64},
                     {"qk_nope_head_dim", 32}, {"qk_rope_head_dim", 16}, {"v_head_dim", 32},
                     {"intermediate_size", 128}, {"moe_intermediate_size", 128}, {"n_routed_experts", 8},
                     {"n_shared_experts", 1}, {"num_experts_per_tok", 2}, {"n_group", 4}, {"topk_group", 2},
                     {"first_k_dense_replace", 1}, {"vocab_size", 0}});
  if (name == "deepseek-v3")  // DeepSeek-V3 / R1 (SPEC §1.1)
    return with(v3, {{"hidden_size", 7168}, {"num_hidden_layers", 61}, {"num_attention_heads", 128},
                     {"num_key_value_heads", 128}, {"q_lora_rank", 1536}, {"kv_lora_rank", 512},
                     {"qk_nope_head_dim", 128}, {"qk_rope_head_dim", 64}, {"v_head_dim", 128},
                     {"intermediate_size", 18432}, {"moe_intermediate_size", 2048}, {"n_routed_experts", 256},
                     {"n_shared_experts", 1}, {"num_experts_per_tok", 8}, {"n_group", 8}, {"topk_group", 4},
                     {"first_k_dense_replace", 3}, {"vocab_size", 129280}});
  if (name == "deepseek-v3-0.66b")  // V3's structure at 1024 dim: 0.66B parameters
    return with(v3, {{"hidden_size", 1024}, {"num_hidden_layers", 8}, {"num_attention_heads", 16},
                     {"num_key_value_heads", 16}, {"q_lora_rank", 384}, {"kv_lora_rank", 256},
                     {"qk_nope_head_dim", 64}, {"qk_rope_head_dim", 32}, {"v_head_dim", 64},
                     {"intermediate_size", 2816}, {"moe_intermediate_size", 512}, {"n_routed_experts", 32},
                     {"n_shared_experts", 1}, {"num_experts_per_tok", 4}, {"n_group", 8}, {"topk_group", 4},
                     {"first_k_dense_replace", 1}, {"vocab_size", 129280}});
  if (name == "deepseek-v2-lite")  // DeepSeek-V2-Lite: no q LoRA, softmax routing, no groups
    return with(v3, {{"architectures", {"DeepseekV2ForCausalLM"}}, {"model_type", "deepseek_v2"},
                     {"hidden_size", 2048}, {"num_hidden_layers", 27}, {"num_attention_heads", 16},
                     {"num_key_value_heads", 16}, {"q_lora_rank", nullptr}, {"kv_lora_rank", 512},
                     {"qk_nope_head_dim", 128}, {"qk_rope_head_dim", 64}, {"v_head_dim", 128},
                     {"intermediate_size", 10944}, {"moe_intermediate_size", 1408}, {"n_routed_experts", 64},
                     {"n_shared_experts", 2}, {"num_experts_per_tok", 6}, {"n_group", 1}, {"topk_group", 1},
                     {"first_k_dense_replace", 1}, {"vocab_size", 102400}, {"scoring_func", "softmax"},
                     {"topk_method", "greedy"}, {"norm_topk_prob", false}, {"routed_scaling_factor", 1.0},
                     {"num_nextn_predict_layers", 0},
                     {"rope_scaling", {{"type", "yarn"}, {"factor", 40.0}, {"original_max_position_embeddings", 4096},
                                       {"beta_fast", 32}, {"beta_slow", 1}, {"mscale", 0.707},
                                       {"mscale_all_dim", 0.707}}}});
  std::string known;
  for (const auto& n : deepseek_preset_names()) known += (known.empty() ? "" : ", ") + n;
  fail("unknown DeepSeek shape '", name, "' (known: ", known, ")");
}

ExportModel random_deepseek_model(nlohmann::json config, uint64_t seed, const std::string& tokenizer_json,
                                  bool with_mtp, KvbLayout layout) {
  const int64_t n_tok = tokenizer_json_size(tokenizer_json);
  if (config.value("vocab_size", int64_t(0)) == 0) config["vocab_size"] = n_tok;
  if (config["vocab_size"].get<int64_t>() < n_tok)
    fail("gen-model: vocab_size ", config["vocab_size"].get<int64_t>(), " is smaller than the tokenizer (", n_tok, " tokens)");
  const DeepseekConfig c = deepseek_config_from_json(config, "gen-model config");
  // Norm weights 1, everything else N(0, 0.02) in bfloat16 (the router's correction bias included).
  HfTensorSource random = [seed](const std::string& name, const std::vector<int64_t>& shape, float* dst) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    if (name.ends_with("norm.weight")) std::fill(dst, dst + n, 1.0f);
    else fill_normal_bf16(dst, n, seed, name, 0.02f);
  };
  ExportModel m = deepseek_export_model(c, config, random, with_mtp && c.n_mtp_layers > 0, layout);
  m.tokenizer_path = tokenizer_json;
  m.name = config.value("model_type", std::string("deepseek")) + " random weights (seed " + std::to_string(seed) + ")";
  m.generation_config = {{"do_sample", true}, {"temperature", 0.6}, {"top_p", 0.95}};
  return m;
}

}  // namespace r1
