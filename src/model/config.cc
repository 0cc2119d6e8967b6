#include "model/config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "io/gguf.h"
#include "io/hf_config.h"

namespace r1 {
namespace {

// The key each field came from, so a validation error can name it.
struct KeyNames {
  std::string n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_ctx, rms_eps, rope_theta;
};

void check_positive(const ModelConfig& c, const std::string& key, int64_t v) {
  // The upper bound keeps every product of two sizes far from int64 overflow.
  if (v <= 0 || v > (int64_t{1} << 30)) fail(c.source, ": ", key, " must be in [1, 2^30] (got ", v, ")");
}

void validate(const ModelConfig& c, const KeyNames& k) {
  check_positive(c, k.n_layer, c.n_layer);
  check_positive(c, k.n_embd, c.n_embd);
  check_positive(c, k.n_head, c.n_head);
  check_positive(c, k.n_head_kv, c.n_head_kv);
  check_positive(c, k.head_dim, c.head_dim);
  check_positive(c, k.n_ff, c.n_ff);
  check_positive(c, k.n_vocab, c.n_vocab);
  check_positive(c, k.n_ctx, c.n_ctx_train);
  if (c.n_head % c.n_head_kv != 0) {
    fail(c.source, ": ", k.n_head_kv, " (", c.n_head_kv, ") must divide ", k.n_head, " (", c.n_head, ")");
  }
  if (c.head_dim % 2 != 0) fail(c.source, ": ", k.head_dim, " (", c.head_dim, ") must be even for RoPE");
  if (!(c.rms_eps > 0.0f) || !std::isfinite(c.rms_eps)) fail(c.source, ": ", k.rms_eps, " must be > 0 (got ", c.rms_eps, ")");
  if (!(c.rope_theta > 0.0f) || !std::isfinite(c.rope_theta)) {
    fail(c.source, ": ", k.rope_theta, " must be > 0 (got ", c.rope_theta, ")");
  }
  if (!c.rope_freq_factors.empty()) {
    if (int64_t(c.rope_freq_factors.size()) != c.head_dim / 2) {
      fail(c.source, ": rope frequency factors have ", c.rope_freq_factors.size(), " values, expected head_dim/2 = ",
           c.head_dim / 2);
    }
    for (float f : c.rope_freq_factors) {
      if (!(f > 0.0f) || !std::isfinite(f)) fail(c.source, ": rope frequency factor ", f, " is not a positive number");
    }
  }
  for (int32_t id : c.eos_ids) {
    if (id < 0 || id >= c.n_vocab) fail(c.source, ": eos token id ", id, " is outside the vocabulary (", c.n_vocab, ")");
  }
  if (c.bos_id >= c.n_vocab) fail(c.source, ": bos token id ", c.bos_id, " is outside the vocabulary (", c.n_vocab, ")");
}

Arch arch_from_name(const std::string& name, const std::string& source) {
  if (name == "qwen2") return Arch::Qwen2;
  if (name == "llama") return Arch::Llama;
  fail("unsupported architecture '", name, "' in ", source, "; supported: qwen2, llama");
}

}  // namespace

const char* arch_name(Arch a) {
  switch (a) {
    case Arch::Qwen2: return "qwen2";
    case Arch::Llama: return "llama";
    case Arch::Deepseek2: return "deepseek2";
  }
  return "?";
}

ModelConfig config_from_gguf(const GgufFile& f) {
  ModelConfig c;
  c.source = f.path();
  const std::string a = f.get_string("general.architecture");
  c.arch = arch_from_name(a, f.path());
  const std::string p = a + ".";
  KeyNames k{p + "block_count",
             p + "embedding_length",
             p + "attention.head_count",
             p + "attention.head_count_kv",
             p + "attention.key_length",
             p + "feed_forward_length",
             "token_embd.weight rows",
             p + "context_length",
             p + "attention.layer_norm_rms_epsilon",
             p + "rope.freq_base"};
  c.n_layer = f.get_int(k.n_layer);
  c.n_embd = f.get_int(k.n_embd);
  c.n_head = f.get_int(k.n_head);
  c.n_head_kv = f.get_int(k.n_head_kv, c.n_head);
  c.n_ff = f.get_int(k.n_ff);
  c.n_ctx_train = f.get_int(k.n_ctx);
  c.rms_eps = static_cast<float>(f.get_float(k.rms_eps));
  c.rope_theta = static_cast<float>(f.get_float(k.rope_theta, 10000.0));
  check_positive(c, k.n_head, c.n_head);
  c.head_dim = f.get_int(k.head_dim, c.n_embd / c.n_head);
  if (f.has(p + "attention.value_length") && f.get_int(p + "attention.value_length") != c.head_dim) {
    fail(f.path(), ": ", p, "attention.value_length differs from the key length; not supported for ", a);
  }
  if (f.has(p + "rope.dimension_count") && f.get_int(p + "rope.dimension_count") != c.head_dim) {
    fail(f.path(), ": ", p, "rope.dimension_count (", f.get_int(p + "rope.dimension_count"),
         ") must equal the head size (", c.head_dim, "); partial RoPE is not supported for ", a);
  }
  if (f.has(p + "rope.scaling.type")) {
    const std::string t = f.get_string(p + "rope.scaling.type");
    if (t != "none") fail(f.path(), ": ", p, "rope.scaling.type '", t, "' is not supported for ", a);
  }

  const TensorView& embd = f.tensor("token_embd.weight");
  c.n_vocab = embd.ne[1];
  c.tied_output = f.find_tensor("output.weight") == nullptr;
  c.qkv_bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
  // llama.cpp keeps qwen2 in rotate-half order and permutes llama's q/k rows for adjacent pairs.
  c.rope_pairing = c.arch == Arch::Llama ? RopePairing::kNorm : RopePairing::kNeox;
  if (const TensorView* rf = f.find_tensor("rope_freqs.weight")) {
    if (rf->type != DType::F32 || rf->n_dims != 1) {
      fail(f.path(), ": rope_freqs.weight must be a 1-D F32 tensor (is ", dtype_name(rf->type), " ", rf->shape_string(), ")");
    }
    const float* v = static_cast<const float*>(rf->data);
    c.rope_freq_factors.assign(v, v + rf->ne[0]);
  }
  c.bos_id = static_cast<int32_t>(f.get_int("tokenizer.ggml.bos_token_id", -1));
  if (f.has("tokenizer.ggml.eos_token_id")) c.eos_ids.push_back(static_cast<int32_t>(f.get_int("tokenizer.ggml.eos_token_id")));
  if (f.has("tokenizer.ggml.eot_token_id")) {
    auto eot = static_cast<int32_t>(f.get_int("tokenizer.ggml.eot_token_id"));
    if (std::find(c.eos_ids.begin(), c.eos_ids.end(), eot) == c.eos_ids.end()) c.eos_ids.push_back(eot);
  }
  validate(c, k);
  if (f.has(p + "vocab_size") && f.get_int(p + "vocab_size") != c.n_vocab) {
    fail(f.path(), ": ", p, "vocab_size (", f.get_int(p + "vocab_size"), ") differs from token_embd.weight rows (",
         c.n_vocab, ")");
  }
  return c;
}

ModelConfig config_from_hf(const std::string& dir) {
  const std::string path = dir + "/config.json";
  const nlohmann::json j = read_json_file(path);
  ModelConfig c;
  c.source = path;
  std::string type = json_string(j, "model_type", "", path);
  if (type.empty()) fail(path, ": missing key model_type");
  c.arch = arch_from_name(type, path);
  KeyNames k{"num_hidden_layers", "hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim",
             "intermediate_size", "vocab_size", "max_position_embeddings", "rms_norm_eps", "rope_theta"};
  c.n_layer = json_int(j, k.n_layer.c_str(), std::nullopt, path);
  c.n_embd = json_int(j, k.n_embd.c_str(), std::nullopt, path);
  c.n_head = json_int(j, k.n_head.c_str(), std::nullopt, path);
  c.n_head_kv = json_int(j, k.n_head_kv.c_str(), c.n_head, path);
  check_positive(c, k.n_head, c.n_head);
  c.head_dim = json_int(j, k.head_dim.c_str(), c.n_embd / c.n_head, path);
  c.n_ff = json_int(j, k.n_ff.c_str(), std::nullopt, path);
  c.n_vocab = json_int(j, k.n_vocab.c_str(), std::nullopt, path);
  c.n_ctx_train = json_int(j, k.n_ctx.c_str(), std::nullopt, path);
  c.rms_eps = static_cast<float>(json_float(j, k.rms_eps.c_str(), std::nullopt, path));
  c.rope_theta = static_cast<float>(json_float(j, k.rope_theta.c_str(), 10000.0, path));
  c.tied_output = json_bool(j, "tie_word_embeddings", false, path);
  c.qkv_bias = c.arch == Arch::Qwen2 ? true : json_bool(j, "attention_bias", false, path);
  if (c.arch == Arch::Llama && json_bool(j, "mlp_bias", false, path)) fail(path, ": mlp_bias = true is not supported");
  c.rope_pairing = RopePairing::kNeox;  // HF checkpoints are all rotate-half

  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    const nlohmann::json& rs = j["rope_scaling"];
    std::string rt = json_string(rs, "rope_type", json_string(rs, "type", "", path + " rope_scaling"), path + " rope_scaling");
    if (rt != "llama3") fail(path, ": rope_scaling type '", rt, "' is not supported (supported: llama3)");
    check_positive(c, k.head_dim, c.head_dim);
    c.rope_freq_factors = llama3_freq_factors(
        int(c.head_dim), c.rope_theta, (json_float(rs, "factor", std::nullopt, path + " rope_scaling")),
        (json_float(rs, "low_freq_factor", std::nullopt, path + " rope_scaling")),
        (json_float(rs, "high_freq_factor", std::nullopt, path + " rope_scaling")),
        (json_float(rs, "original_max_position_embeddings", std::nullopt, path + " rope_scaling")));
  }

  // bos/eos: generation_config.json wins over config.json (R1-Distill-Qwen's config bos is stale).
  auto read_ids = [&](const nlohmann::json& src, const std::string& where) {
    if (src.contains("bos_token_id") && src["bos_token_id"].is_number_integer()) {
      c.bos_id = src["bos_token_id"].get<int32_t>();
    }
    if (src.contains("eos_token_id")) {
      const nlohmann::json& e = src["eos_token_id"];
      if (e.is_number_integer()) {
        c.eos_ids = {e.get<int32_t>()};
      } else if (e.is_array()) {
        c.eos_ids.clear();
        for (const auto& x : e) {
          if (!x.is_number_integer()) fail(where, ": eos_token_id must hold integers");
          c.eos_ids.push_back(x.get<int32_t>());
        }
      } else if (!e.is_null()) {
        fail(where, ": eos_token_id must be an integer or a list of integers");
      }
    }
  };
  read_ids(j, path);
  const std::string gen_path = dir + "/generation_config.json";
  if (std::filesystem::exists(gen_path)) read_ids(read_json_file(gen_path), gen_path);
  validate(c, k);
  return c;
}

}  // namespace r1
