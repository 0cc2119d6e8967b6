// The tensors of a dense decoder, bound by name from a GGUF file (llama.cpp names) or a Hugging
// Face checkpoint, each checked for presence, shape and type. Matrices are zero-copy views of the
// mapped file in their stored type; the small 1-D tensors (norm weights, biases) are converted to
// F32 once, because the element-wise ops read them as floats.
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/config.h"

namespace r1 {

struct LayerWeights {
  TensorView attn_norm;   // {n_embd} F32
  TensorView wq, wk, wv;  // {n_embd, q_dim}, {n_embd, kv_dim}, {n_embd, kv_dim}
  TensorView bq, bk, bv;  // {q_dim}, {kv_dim}, {kv_dim} F32 (qwen2 only; empty otherwise)
  TensorView wo;          // {q_dim, n_embd}
  TensorView ffn_norm;    // {n_embd} F32
  TensorView w_gate, w_up;  // {n_embd, n_ff}
  TensorView w_down;        // {n_ff, n_embd}
};

// Calls fn(view) for each of the layer's matrices (LayerWeights, const or not): the one list that
// load-time repacking and r1 bench's count of the bytes a token reads share.
template <typename Layer, typename Fn>
void for_each_dense_matrix(Layer& L, Fn&& fn) {
  for (auto* t : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) fn(*t);
}

struct DenseWeights {
  TensorView token_embd;   // {n_embd, n_vocab}, any type (rows are dequantized on lookup)
  TensorView output_norm;  // {n_embd} F32
  TensorView output;       // {n_embd, n_vocab}; the embedding itself when tied
  std::vector<LayerWeights> layers;
};

enum class WeightFormat { Gguf, HuggingFace };

// Finds a tensor by name in the checkpoint; nullptr when absent.
using TensorLookup = std::function<const TensorView*(const std::string& name)>;

// Binds and checks every tensor. F32 copies of 1-D tensors are kept in `f32_store` (which must
// outlive the weights; a deque so earlier copies never move). `source` names the checkpoint in errors.
DenseWeights bind_dense_weights(const ModelConfig& c, WeightFormat format, const TensorLookup& lookup,
                                const std::string& source, std::deque<std::vector<float>>& f32_store);

// Load-time repacking (ops/repack.h, ops/coded_bf16.h): rewrites, in place, the matrices that this
// CPU's kernels read faster in another layout (matmul_preferred_layout) and marks their views. `matrices` are views
// that only matmul reads; views with the same bytes (a head shared by two modules) are repacked once
// and all marked. Any matrix whose bytes overlap a `keep` view (rows looked up one at a time, per-head
// slices), or another matrix's bytes other than exactly, stays as stored. `writable` gives a view's
// bytes for writing, or null to leave it (a mapped file). Returns the number of views marked.
using WritableBytes = std::function<uint8_t*(const TensorView&)>;
int repack_matrices(const std::vector<TensorView*>& matrices, const std::vector<const TensorView*>& keep,
                    const WritableBytes& writable);

// The same for a dense model: its layers' matrices and the output (unless it is the embedding).
int repack_dense_weights(DenseWeights& w, const WritableBytes& writable);

}  // namespace r1
