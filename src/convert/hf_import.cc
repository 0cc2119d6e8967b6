#include "convert/hf_import.h"

#include <array>
#include <filesystem>
#include <memory>

#include "convert/deepseek_export.h"
#include "convert/random_model.h"
#include "core/error.h"
#include "io/hf_config.h"
#include "io/safetensors.h"
#include "model/deepseek_linear.h"
#include "ops/quant.h"

namespace r1 {
namespace fs = std::filesystem;
namespace {

// Reads tensors as floats, checking each one's shape; FP8 weights are multiplied by their block
// scales (`<name>_scale_inv`).
HfTensorSource safetensors_source(std::shared_ptr<const SafetensorsSet> st) {
  return [st](const std::string& name, const std::vector<int64_t>& shape, float* dst) {
    const TensorView& t = st->get(name);
    bool same_shape = t.n_dims == int(shape.size());
    for (size_t i = 0; same_shape && i < shape.size(); i++) same_shape = t.ne[i] == shape[shape.size() - 1 - i];
    if (!same_shape) {
      std::string want;
      for (int64_t d : shape) want += (want.empty() ? "" : ", ") + std::to_string(d);
      fail(st->path(), ": tensor ", name, " has shape ", t.shape_string(), ", expected [", want, "] (row-major)");
    }
    if (t.type == DType::F8_E4M3) {
      const TensorView* scale = st->find(name + "_scale_inv");
      if (!scale) fail(st->path(), ": FP8 tensor ", name, " has no block scales (missing tensor ", name, "_scale_inv)");
      const int64_t in = t.ne[0], out = t.n_dims > 1 ? t.ne[1] : 1;
      const std::array<int64_t, 4> want{(in + kFp8Block - 1) / kFp8Block, (out + kFp8Block - 1) / kFp8Block, 1, 1};
      if (scale->type != DType::F32 || scale->n_dims != 2 || scale->ne != want) {
        fail(st->path(), ": tensor ", scale->name, " must be F32 of shape [", want[1], ", ", want[0], "], not ",
             dtype_name(scale->type), " ", scale->shape_string());
      }
      const Linear l{t, *scale};
      for (int64_t r = 0; r < out; r++) linear_row(l, r, dst + r * in);
      return;
    }
    if (t.type != DType::F32 && t.type != DType::F16 && t.type != DType::BF16) {
      fail(st->path(), ": tensor ", name, " has type ", dtype_name(t.type), " (F32, F16, BF16 or F8_E4M3 expected)");
    }
    dequantize_row(t.type, t.data, dst, t.n_elements());
  };
}

// Qwen2 / Llama: the layout random_dense_model writes, with the checkpoint's values.
ExportModel import_dense(const std::string& dir, const nlohmann::json& cfg, std::shared_ptr<const SafetensorsSet> st,
                         const std::string& tokenizer) {
  const std::string where = dir + "/config.json";
  DenseSpec s;
  s.arch = json_string(cfg, "model_type", "", where);
  s.n_layer = int(json_int(cfg, "num_hidden_layers", std::nullopt, where));
  s.n_embd = int(json_int(cfg, "hidden_size", std::nullopt, where));
  s.n_head = int(json_int(cfg, "num_attention_heads", std::nullopt, where));
  s.n_head_kv = int(json_int(cfg, "num_key_value_heads", s.n_head, where));
  s.head_dim = int(json_int(cfg, "head_dim", s.n_head > 0 ? s.n_embd / s.n_head : 0, where));
  s.n_ff = int(json_int(cfg, "intermediate_size", std::nullopt, where));
  s.n_vocab = json_int(cfg, "vocab_size", std::nullopt, where);
  s.rope_theta = json_float(cfg, "rope_theta", 10000.0, where);
  s.rms_eps = json_float(cfg, "rms_norm_eps", 1e-6, where);
  s.n_ctx = json_int(cfg, "max_position_embeddings", 131072, where);
  if (cfg.contains("rope_scaling") && !cfg["rope_scaling"].is_null()) {
    const nlohmann::json& rs = cfg["rope_scaling"];
    // The layout knows llama3 scaling with R1-Distill-Llama's factors only.
    const bool llama3 = rs.value("rope_type", "") == "llama3" && rs.value("factor", 0.0) == 8.0 &&
                        rs.value("low_freq_factor", 0.0) == 1.0 && rs.value("high_freq_factor", 0.0) == 4.0 &&
                        rs.value("original_max_position_embeddings", 0) == 8192;
    if (!llama3) fail(where, ": rope_scaling ", rs.dump(), " is not supported for conversion");
    s.llama3_rope = true;
  }
  ExportModel m = random_dense_model(s, 0, tokenizer);
  const bool tied = json_bool(cfg, "tie_word_embeddings", false, where) && !st->find("lm_head.weight");
  HfTensorSource src = safetensors_source(st);
  for (ExportTensor& t : m.tensors) {
    if (t.hf_name.empty()) continue;
    const std::string name = tied && t.hf_name == "lm_head.weight" ? "model.embed_tokens.weight" : t.hf_name;
    t.fill = [src, name, shape = t.shape](float* dst) { src(name, shape, dst); };
  }
  m.hf_config = cfg;
  return m;
}

}  // namespace

ExportModel import_hf_model(const std::string& dir, bool with_mtp, KvbLayout layout) {
  const std::string config_path = (fs::path(dir) / "config.json").string();
  if (!fs::is_directory(dir) || !fs::exists(config_path)) fail(dir, ": not a Hugging Face model directory (no config.json)");
  const nlohmann::json cfg = read_json_file(config_path);
  const std::string tokenizer = (fs::path(dir) / "tokenizer.json").string();
  if (!fs::exists(tokenizer)) fail(dir, ": no tokenizer.json");
  std::shared_ptr<const SafetensorsSet> st = SafetensorsSet::open(dir);
  const std::string type = json_string(cfg, "model_type", "", config_path);

  ExportModel m;
  if (type == "deepseek_v2" || type == "deepseek_v3") {
    const DeepseekConfig c = deepseek_config_from_hf(dir);
    const bool mtp = with_mtp && c.n_mtp_layers > 0 && st->find(str("model.layers.", c.n_layer, ".eh_proj.weight"));
    m = deepseek_export_model(c, cfg, safetensors_source(st), mtp, layout);
    m.hf_config.erase("quantization_config");  // the values are dequantized
    m.tokenizer_path = tokenizer;
  } else if (type == "qwen2" || type == "llama") {
    m = import_dense(dir, cfg, st, tokenizer);
  } else {
    fail(config_path, ": model_type '", type, "' cannot be converted (qwen2, llama, deepseek_v2, deepseek_v3)");
  }
  const std::string gen = (fs::path(dir) / "generation_config.json").string();
  if (fs::exists(gen)) m.generation_config = read_json_file(gen);
  m.name = fs::path(dir).filename().string();
  if (m.name.empty()) m.name = fs::path(dir).parent_path().filename().string();
  return m;
}

}  // namespace r1
