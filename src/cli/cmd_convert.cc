// r1 convert: a Hugging Face checkpoint directory → one GGUF file in llama.cpp's layout, at any
// supported weight type (FP8 DeepSeek checkpoints are dequantized with their block scales first).
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/terminal.h"
#include "convert/export_model.h"
#include "convert/hf_import.h"
#include "convert/deepseek_export.h"
#include "core/error.h"

namespace r1::cli {
namespace fs = std::filesystem;

int cmd_convert(const Argv& argv) {
  Args a("convert", "-i HF_DIR -o OUT.gguf [--type TYPE]",
         {
             {"--input", "-i", FlagKind::String, "", "a Hugging Face model directory (Qwen2, Llama, DeepseekV2/V3)", "DIR"},
             {"--output", "-o", FlagKind::String, "", "the .gguf file to write", "PATH"},
             {"--type", "", FlagKind::String, "f16", "weight type: f32 f16 bf16 q8_0 q4_0 q4_k_m q5_k_m q6_k", "TYPE"},
             {"--no-mtp", "", FlagKind::Bool, "", "leave out DeepSeek's MTP layer (as llama.cpp's converter does)"},
             {"--mla-layout", "", FlagKind::String, "split", kMlaLayoutHelp, "FORM"},
             {"--split-mb", "", FlagKind::Int, "0", "split into parts of at most this many MB (0: one file)", "MB"},
         });
  if (a.parse_or_help(argv)) return 0;
  const std::string in = a.str("--input"), out = a.str("--output"), type = a.str("--type");
  if (in.empty() || out.empty()) fail("convert: -i HF_DIR and -o OUT.gguf are required");
  if (!valid_ftype(type)) fail("convert: unknown --type '", type, "' (f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 iq4_nl q4_k_m q5_k_m q6_k)");
  if (a.i64("--split-mb") < 0) fail("convert: --split-mb must be >= 0");
  const ExportModel m = import_hf_model(in, !a.flag("--no-mtp"), parse_mla_layout(a.str("--mla-layout"), "convert"));

  WriteProgress wp;
  std::unique_ptr<Progress> bar;
  wp.on_bytes = [&](uint64_t done, uint64_t total) {
    if (!bar) bar = std::make_unique<Progress>("writing " + out, total);
    bar->update(done);
  };
  if (fs::path parent = fs::path(out).parent_path(); !parent.empty()) fs::create_directories(parent);
  const auto files = write_gguf(m, out, type, static_cast<uint64_t>(a.i64("--split-mb")) << 20, wp);
  if (bar) bar->finish();
  for (const auto& f : files) std::printf("wrote %s (%.1f MB)\n", f.c_str(), fs::file_size(f) / 1e6);
  return 0;
}

}  // namespace r1::cli
