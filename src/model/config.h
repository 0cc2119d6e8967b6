// Hyper-parameters of a dense decoder (Qwen2 / Llama, the R1-Distill models), read from GGUF
// metadata (`<arch>.*` keys) or a Hugging Face config.json, then validated with errors that name
// the file and the key. DeepSeek-V3 (deepseek2) will get its own config next to this one; the
// architecture switch in config.cc is where it plugs in.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ops/rope.h"

namespace r1 {

class GgufFile;

// Deepseek2 (MLA + MoE) has its own config (model/deepseek_config.h); a ModelConfig of that arch
// carries only the architecture-neutral fields (sizes, vocabulary, bos/eos), see Model::load.
enum class Arch { Qwen2, Llama, Deepseek2 };


struct ModelConfig {
  std::string source;  // the file or directory it came from (for messages)
  Arch arch = Arch::Qwen2;
  int64_t n_layer = 0;
  int64_t n_embd = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;
  int64_t n_ff = 0;
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;  // the model's context length (context_length / max_position_embeddings)
  float rms_eps = 1e-6f;
  float rope_theta = 10000.0f;
  // HF checkpoints (Qwen2 and Llama) and GGUF qwen2 rotate halves (i, i + head_dim/2); GGUF llama
  // rotates adjacent pairs because llama.cpp's converter permutes the q/k rows. So the pairing
  // follows (arch, format), and no weights are ever permuted here.
  RopePairing rope_pairing = RopePairing::kNeox;
  // Per-pair divisors of the rotation frequency (llama3 scaling), head_dim/2 values; empty: none.
  std::vector<float> rope_freq_factors;
  bool qkv_bias = false;
  bool tied_output = false;
  int32_t bos_id = -1;           // -1: none given
  std::vector<int32_t> eos_ids;  // every id that ends a generation

  int64_t q_dim() const { return n_head * head_dim; }
  int64_t kv_dim() const { return n_head_kv * head_dim; }
};

const char* arch_name(Arch a);

// From GGUF metadata (and the rope_freqs.weight tensor when present). Vocabulary size is the row
// count of token_embd.weight; output tying and q/k/v biases follow from which tensors exist.
ModelConfig config_from_gguf(const GgufFile& f);

// From <dir>/config.json (and generation_config.json for bos/eos when present).
ModelConfig config_from_hf(const std::string& dir);

}  // namespace r1
