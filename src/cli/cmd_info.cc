// r1 info: what a model file holds — architecture, shapes, tensor types, parameters, bytes.
#include <cstdio>
#include <filesystem>
#include <map>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "io/gguf.h"
#include "io/hf_config.h"
#include "io/safetensors.h"
#include "model/deepseek_config.h"

namespace r1::cli {
namespace fs = std::filesystem;

namespace {

struct TensorStats {
  std::map<std::string, std::pair<int64_t, uint64_t>> by_type;  // type -> (count, bytes)
  int64_t params = 0;
  uint64_t bytes = 0;
};

TensorStats stats_of(const std::vector<TensorView>& tensors) {
  TensorStats s;
  for (const TensorView& t : tensors) {
    auto& e = s.by_type[std::string(dtype_name(t.type))];
    e.first += 1;
    e.second += t.nbytes;
    s.params += t.n_elements();
    s.bytes += t.nbytes;
  }
  return s;
}

void print_stats(const TensorStats& s, size_t n_tensors) {
  std::printf("tensors:      %zu\n", n_tensors);
  std::printf("parameters:   %lld (%.3f B)\n", static_cast<long long>(s.params), s.params / 1e9);
  std::printf("weight bytes: %llu (%.2f GB, %.2f bits/param)\n", static_cast<unsigned long long>(s.bytes),
              s.bytes / 1e9, s.params ? 8.0 * s.bytes / s.params : 0.0);
  std::printf("types:       ");
  for (const auto& [name, e] : s.by_type)
    std::printf(" %s×%lld (%.1f MB)", name.c_str(), static_cast<long long>(e.first), e.second / 1e6);
  std::printf("\n");
}

std::string value_text(const GgufValue& v) {
  switch (v.type) {
    case GgufType::STRING: {
      const std::string& s = v.as_string();
      return s.size() > 60 ? "\"" + s.substr(0, 57) + "...\" (" + std::to_string(s.size()) + " bytes)" : "\"" + s + "\"";
    }
    case GgufType::ARRAY: return "array[" + std::to_string(v.as_array().items.size()) + "]";
    case GgufType::F32:
    case GgufType::F64: return str(v.as_float());
    case GgufType::BOOL: return v.as_bool() ? "true" : "false";
    default: return std::to_string(v.as_int());
  }
}

}  // namespace

int cmd_info(const Argv& argv) {
  Args a("info", "-m PATH",
         {{"--model", "-m", FlagKind::String, "", "a .gguf file or a Hugging Face model directory", "PATH"},
          {"--tensors", "", FlagKind::Bool, "", "also list every tensor with its type and shape"}});
  if (a.parse_or_help(argv)) return 0;
  std::string path = a.str("--model");
  if (path.empty() && !a.positional().empty()) path = a.positional()[0];
  if (path.empty()) fail("info: -m PATH is required");
  if (!fs::exists(path)) fail("info: ", path, ": no such file or directory");

  const std::vector<TensorView>* tensors = nullptr;
  std::unique_ptr<GgufFile> g;
  std::unique_ptr<SafetensorsSet> h;
  if (fs::is_directory(path)) {
    nlohmann::json cfg = read_json_file((fs::path(path) / "config.json").string());
    h = SafetensorsSet::open(path);
    std::printf("format:       Hugging Face directory\n");
    std::string archs = cfg.contains("architectures") ? cfg["architectures"].dump() : "?";
    std::printf("architecture: %s (model_type %s)\n", archs.c_str(),
                json_string(cfg, "model_type", "?", "config.json").c_str());
    for (const char* k : {"hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                          "head_dim", "intermediate_size", "vocab_size", "max_position_embeddings", "rope_theta",
                          "rms_norm_eps", "q_lora_rank", "kv_lora_rank", "n_routed_experts",
                          "num_experts_per_tok", "moe_intermediate_size"})
      if (cfg.contains(k) && !cfg[k].is_null()) std::printf("  %-26s %s\n", k, cfg[k].dump().c_str());
    tensors = &h->tensors();
  } else {
    g = GgufFile::open(path);
    std::printf("format:       GGUF v%u\n", g->version());
    const std::string arch = g->get_string("general.architecture", std::string("?"));
    std::printf("architecture: %s\n", arch.c_str());
    for (const std::string& key : g->keys_in_order())
      if (key.rfind(arch + ".", 0) == 0 || key == "general.name" || key == "general.file_type" ||
          key == "tokenizer.ggml.pre" || key == "tokenizer.ggml.tokens")
        std::printf("  %-44s %s\n", key.c_str(), value_text(g->get(key)).c_str());
    tensors = &g->tensors();
  }
  print_stats(stats_of(*tensors), tensors->size());
  // DeepSeek's MLA caches one latent per token and layer, not per-head keys and values.
  if (g ? is_deepseek_gguf(*g) : is_deepseek_hf(path)) {
    const DeepseekConfig c = g ? deepseek_config_from_gguf(*g) : deepseek_config_from_hf(path);
    std::printf("KV cache:     %lld bytes/token in BF16 (MLA latent; r1 keeps it in F32: %lld)\n",
                static_cast<long long>(mla_kv_bytes_per_token(c, DType::BF16)),
                static_cast<long long>(mla_kv_bytes_per_token(c, DType::F32)));
  }
  if (a.flag("--tensors"))
    for (const TensorView& t : *tensors)
      std::printf("  %-48s %-8s %s\n", t.name.c_str(), std::string(dtype_name(t.type)).c_str(),
                  t.shape_string().c_str());
  return 0;
}

}  // namespace r1::cli
