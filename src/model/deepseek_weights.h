// The tensors of a DeepSeek-V2/V3 model, bound by name from a GGUF file (llama.cpp's deepseek2
// names, MLA or legacy form) or a Hugging Face checkpoint (BF16, or DeepSeek's FP8 with block
// scales), each checked for presence, shape and type. Matrices are zero-copy views of the mapped
// files; owned copies are made only where the layout must change (see DeepseekWeightStore).
#pragma once
#include <cstdint>
#include <functional>
#include <deque>
#include <optional>
#include <vector>

#include "core/tensor.h"
#include "model/deepseek_config.h"
#include "model/deepseek_linear.h"

namespace r1 {

class GgufFile;
class SafetensorsSet;

// What to do with FP8 weights of a HF checkpoint: use them as stored, or dequantize them at load.
enum class Fp8Mode { AsStored, ToBF16, ToF32 };

struct MlaWeights {
  Linear wq;                  // {n_embd, n_head·qk_head_dim}, only when q_lora_rank == 0
  Linear wq_a;                // {n_embd, q_lora_rank}
  TensorView q_a_norm;        // {q_lora_rank} F32
  Linear wq_b;                // {q_lora_rank, n_head·qk_head_dim}
  Linear wkv_a;               // {n_embd, kv_lora_rank + qk_rope_dim}
  TensorView kv_a_norm;       // {kv_lora_rank} F32
  // The up-projection in absorbed orientation. W_UK_hᵀ = rows h·kv_lora .. of wk_b (kv_lora rows of
  // qk_nope): attn_k_b as stored, or made at load from attn_kv_b / kv_b_proj (deepseek_weights.cc).
  // W_UV_h = rows h·v_head .. + v_head of wv_b (rows of kv_lora): attn_v_b as stored, or copied at
  // load from attn_kv_b / kv_b_proj.
  TensorView wk_b;            // {qk_nope, kv_lora_rank, n_head}
  TensorView wv_b;            // {kv_lora_rank, v_head, n_head}
  Linear wo;                  // {n_head·v_head, n_embd}
};

struct FfnWeights {  // SwiGLU: down(silu(gate x) ⊙ up x)
  Linear gate, up;   // {n_embd, width}
  Linear down;       // {width, n_embd}
};

struct MoeWeights {
  TensorView router;               // {n_embd, n_expert}
  TensorView score_bias;           // {n_expert} F32; no data unless config.score_bias
  std::vector<FfnWeights> experts; // from GGUF: views of slices of the stacked 3-D tensors
  FfnWeights shared;               // no data when n_expert_shared == 0
};

struct DeepseekLayer {
  TensorView attn_norm;  // {n_embd} F32
  MlaWeights attn;
  TensorView ffn_norm;   // {n_embd} F32
  FfnWeights dense;      // layers < n_dense_lead
  MoeWeights moe;        // the other layers
};

// The multi-token-prediction module (SPEC §1.10), HF layer index n_layer.
struct MtpWeights {
  TensorView embed;       // {n_embd, n_vocab}
  TensorView enorm, hnorm;  // {n_embd} F32
  Linear eh_proj;         // {2·n_embd, n_embd}: columns 0..n_embd-1 take enorm(embedding)
  DeepseekLayer layer;
  TensorView head_norm;   // {n_embd} F32
  TensorView head;        // {n_embd, n_vocab}
};

struct DeepseekWeights {
  TensorView token_embd;   // {n_embd, n_vocab}
  TensorView output_norm;  // {n_embd} F32
  TensorView output;       // {n_embd, n_vocab}
  std::vector<DeepseekLayer> layers;
  std::optional<MtpWeights> mtp;  // HF checkpoints that carry it
};

// Memory for tensors made at load (F32 norms, re-laid-out up-projections, dequantized FP8). A
// deque, so earlier buffers never move while later ones are added.
using DeepseekWeightStore = std::deque<std::vector<uint8_t>>;

DeepseekWeights bind_deepseek_gguf(const DeepseekConfig& c, const GgufFile& f, DeepseekWeightStore& store);
DeepseekWeights bind_deepseek_hf(const DeepseekConfig& c, const SafetensorsSet& st, Fp8Mode fp8,
                                 DeepseekWeightStore& store);

// Calls fn(view, routed) for every matrix of one layer that only matmul reads (the projections,
// the router, the experts; not the per-head up-projections wk_b / wv_b, read per head); routed: a
// routed expert's, of which a token reads n_expert_used of n_expert. The one list that load-time
// repacking and r1 bench's count of the bytes a token reads share. Layer: DeepseekLayer, const or not.
template <typename Layer, typename Fn>
void for_each_deepseek_matrix(Layer& L, Fn&& fn) {
  for (auto* l : {&L.attn.wq, &L.attn.wq_a, &L.attn.wq_b, &L.attn.wkv_a, &L.attn.wo}) fn(l->w, false);
  for (auto* f : {&L.dense, &L.moe.shared})
    for (auto* l : {&f->gate, &f->up, &f->down}) fn(l->w, false);
  for (auto& f : L.moe.experts)
    for (auto* l : {&f.gate, &f.up, &f.down}) fn(l->w, true);
  fn(L.moe.router, false);
}

// Load-time repacking of the matrices only matmul reads (repack_matrices, model/weights.h): the
// projections, experts and heads; the embeddings and the per-head up-projections stay as stored.
int repack_deepseek_weights(DeepseekWeights& w, const std::function<uint8_t*(const TensorView&)>& writable);

}  // namespace r1
