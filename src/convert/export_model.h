// A model as a list of named tensors plus its configuration, ready to be written as a GGUF file
// or a Hugging Face directory. The random-model generator, the HF→GGUF converter and the trainer's
// export all build one of these, so there is one writer for each format.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/dtype.h"
#include "io/gguf.h"

namespace r1 {

struct ExportTensor {
  std::string hf_name;        // "model.layers.0.self_attn.q_proj.weight" ("" = GGUF only)
  std::string gguf_name;      // "blk.0.attn_q.weight" ("" = HF only)
  std::vector<int64_t> shape; // row-major (HF) shape: a Linear weight is {out, in}
  // Writes the tensor's values (HF convention) into dst (product(shape) floats).
  std::function<void(float* dst)> fill;
  // Optional reordering for GGUF (e.g. llama q/k rows permuted for adjacent-pair rope): maps the
  // HF values to the GGUF values in place. Empty = same values.
  std::function<void(float* values)> to_gguf;
  bool is_matrix = false;     // a weight matrix that may be quantized (norms and biases never are)
};

struct ExportModel {
  std::string arch;                   // GGUF architecture name: "qwen2", "llama", "deepseek2"
  nlohmann::json hf_config;           // config.json
  nlohmann::json generation_config;   // generation_config.json (may be empty)
  std::vector<std::pair<std::string, GgufValue>> gguf_kv;  // architecture keys (not tokenizer)
  std::vector<ExportTensor> tensors;
  std::string tokenizer_path;         // tokenizer.json (its tokenizer_config.json may sit beside it)
  int64_t n_vocab = 0;                // embedding rows (token list padded to this in GGUF)
  std::string name;                   // general.name
};

// Weight-type choices for a GGUF, by the names llama-quantize uses: f32, f16, bf16, q8_0, q4_0,
// q4_1, q5_0, q5_1, iq4_nl, q4_k_m, q5_k_m, q6_k. The output head is Q6_K in the mixes below 6 bits;
// the *_k_m mixes give attn_v / ffn_down of some layers more bits (Q6_K) too, as llama.cpp does.
DType gguf_tensor_type(const std::string& ftype, const ExportTensor& t, int n_layer);
int64_t gguf_file_type_id(const std::string& ftype);  // general.file_type value
bool valid_ftype(const std::string& ftype);

struct WriteProgress {
  std::function<void(uint64_t done, uint64_t total)> on_bytes;  // optional
};

// Writes path (or split parts when max_split_bytes > 0). Returns the files written.
std::vector<std::string> write_gguf(const ExportModel& m, const std::string& path, const std::string& ftype,
                                    uint64_t max_split_bytes = 0, const WriteProgress& progress = {});
// Writes config.json, generation_config.json, tokenizer files and safetensors (dtype F32, BF16 or
// F16; or F8_E4M3: DeepSeek's FP8 form, projections as e4m3 codes with 128×128 block scales
// `<name>_scale_inv` and the rest BF16; sharded when max_shard_bytes > 0) into dir.
void write_hf_dir(const ExportModel& m, const std::string& dir, DType dtype, uint64_t max_shard_bytes = 0,
                  const WriteProgress& progress = {});

}  // namespace r1
