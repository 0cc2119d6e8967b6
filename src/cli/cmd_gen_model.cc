// r1 gen-model: random-weight models of any supported shape, as GGUF or a HF directory.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/terminal.h"
#include "convert/random_model.h"
#include "convert/deepseek_export.h"
#include "core/error.h"

namespace r1::cli {
namespace fs = std::filesystem;

namespace {
// Where the tiny 512-token tokenizers live in a source checkout, relative to the binary's tree.
std::string default_tokenizer(const std::string& arch) {
  const std::string flavour = arch == "llama" ? "llama-bpe" : arch == "deepseek2" ? "deepseek-v3" : "qwen2";
  for (fs::path base : {fs::path(R1_SOURCE_DIR), fs::current_path()}) {
    fs::path p = base / "assets" / "tokenizers" / ("tiny512-" + flavour) / "tokenizer.json";
    if (fs::exists(p)) return p.string();
  }
  fail("gen-model: no --tokenizer given and the default tiny tokenizer was not found under ", R1_SOURCE_DIR,
       "/assets/tokenizers");
}

ExportModel dense_model(const Args& a, const std::string& shape) {
  DenseSpec s = dense_preset(shape);
  auto override_int = [&](const char* flag, int& field) {
    if (a.has(flag)) field = static_cast<int>(a.i64(flag));
  };
  override_int("--n-layer", s.n_layer);
  override_int("--n-embd", s.n_embd);
  override_int("--n-head", s.n_head);
  override_int("--n-head-kv", s.n_head_kv);
  override_int("--head-dim", s.head_dim);
  override_int("--n-ff", s.n_ff);
  if (a.has("--n-vocab")) s.n_vocab = a.i64("--n-vocab");
  const std::string tok = a.has("--tokenizer") ? a.str("--tokenizer") : default_tokenizer(s.arch);
  return random_dense_model(s, static_cast<uint64_t>(a.i64("--seed")), tok);
}

ExportModel deepseek_model(const Args& a, const std::string& shape) {
  nlohmann::json config = deepseek_preset(shape);
  for (const char* flag : {"--n-embd", "--n-head", "--n-head-kv", "--head-dim", "--n-ff"})
    if (a.has(flag)) fail("gen-model: ", flag, " is for dense shapes; DeepSeek shapes take --n-layer and --n-vocab");
  if (a.has("--n-layer")) config["num_hidden_layers"] = a.i64("--n-layer");
  if (a.has("--n-vocab")) config["vocab_size"] = a.i64("--n-vocab");
  const std::string tok = a.has("--tokenizer") ? a.str("--tokenizer") : default_tokenizer("deepseek2");
  return random_deepseek_model(config, static_cast<uint64_t>(a.i64("--seed")), tok, !a.flag("--no-mtp"),
                               parse_mla_layout(a.str("--mla-layout"), "gen-model"));
}

}  // namespace

int cmd_gen_model(const Argv& argv) {
  std::string presets;
  for (const auto& n : dense_preset_names()) presets += (presets.empty() ? "" : ", ") + n;
  for (const auto& n : deepseek_preset_names()) presets += ", " + n;
  Args a("gen-model", "[flags] -o OUT",
         {
             {"--shape", "", FlagKind::String, "tiny-qwen2", "model shape: " + presets, "NAME"},
             {"--output", "-o", FlagKind::String, "", "output: a .gguf file, or a directory with --format hf", "PATH"},
             {"--format", "", FlagKind::String, "gguf", "gguf or hf", "FMT"},
             {"--type", "", FlagKind::String, "f32",
              "weight type: f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 iq4_nl q4_k_m q5_k_m q6_k (hf: f32 bf16 f16, DeepSeek also fp8)", "TYPE"},
             {"--seed", "", FlagKind::Int, "42", "random seed (same seed, same weights)", "N"},
             {"--tokenizer", "", FlagKind::String, "", "tokenizer.json to embed (default: the tiny 512-token one)", "PATH"},
             {"--n-layer", "", FlagKind::Int, "", "override the number of layers", "N"},
             {"--n-embd", "", FlagKind::Int, "", "override the hidden size", "N"},
             {"--n-head", "", FlagKind::Int, "", "override the attention heads", "N"},
             {"--n-head-kv", "", FlagKind::Int, "", "override the key/value heads", "N"},
             {"--head-dim", "", FlagKind::Int, "", "override the head size", "N"},
             {"--n-ff", "", FlagKind::Int, "", "override the MLP width", "N"},
             {"--n-vocab", "", FlagKind::Int, "", "override the embedding rows (>= tokenizer size)", "N"},
             {"--split-mb", "", FlagKind::Int, "0", "gguf: split into parts of at most this many MB (0: one file)", "MB"},
             {"--no-mtp", "", FlagKind::Bool, "", "DeepSeek shapes: leave out the MTP layer"},
             {"--mla-layout", "", FlagKind::String, "split", kMlaLayoutHelp, "FORM"},
         });
  if (a.parse_or_help(argv)) return 0;
  const std::string out = a.str("--output");
  if (out.empty()) fail("gen-model: -o/--output is required");
  const std::string shape = a.str("--shape");
  const auto ds = deepseek_preset_names();
  ExportModel m = std::find(ds.begin(), ds.end(), shape) != ds.end() ? deepseek_model(a, shape) : dense_model(a, shape);

  WriteProgress wp;
  std::unique_ptr<Progress> bar;
  wp.on_bytes = [&](uint64_t done, uint64_t total) {
    if (!bar) bar = std::make_unique<Progress>("writing " + out, total);
    bar->update(done);
  };
  const std::string format = a.str("--format"), type = a.str("--type");
  if (fs::path parent = fs::path(out).parent_path(); !parent.empty()) fs::create_directories(parent);
  if (format == "gguf") {
    auto files = write_gguf(m, out, type, static_cast<uint64_t>(a.i64("--split-mb")) << 20, wp);
    if (bar) bar->finish();
    for (const auto& f : files) std::printf("wrote %s (%.1f MB)\n", f.c_str(), fs::file_size(f) / 1e6);
  } else if (format == "hf") {
    DType dt = type == "f32" ? DType::F32 : type == "bf16" ? DType::BF16 : type == "f16" ? DType::F16
             : type == "fp8" ? DType::F8_E4M3 : DType::Q8_K;
    if (dt == DType::Q8_K) fail("gen-model: --format hf takes --type f32, bf16, f16 or fp8, not ", type);
    if (dt == DType::F8_E4M3 && m.arch != "deepseek2") fail("gen-model: --type fp8 is for DeepSeek shapes");
    write_hf_dir(m, out, dt, 0, wp);
    if (bar) bar->finish();
    std::printf("wrote %s/\n", out.c_str());
  } else {
    fail("gen-model: --format must be gguf or hf, not '", format, "'");
  }
  return 0;
}

}  // namespace r1::cli
