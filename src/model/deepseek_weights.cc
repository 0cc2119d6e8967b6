#include "model/deepseek_weights.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>

#include "core/error.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "model/weights.h"
#include "ops/convert.h"
#include "ops/quant.h"

namespace r1 {
namespace {

bool is_matmul_type(DType t) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16: case DType::Q4_0: case DType::Q8_0:
    case DType::Q4_K: case DType::Q5_K: case DType::Q6_K: case DType::Q4_1: case DType::Q5_0: case DType::Q5_1:
    case DType::IQ4_NL:
      return true;
    default:
      return false;
  }
}

std::string shape_of(std::array<int64_t, 4> ne, int n_dims) {
  TensorView t;
  t.ne = ne;
  t.n_dims = n_dims;
  return t.shape_string();
}

// Looks tensors up, checks them and makes the owned copies; `source` names the checkpoint.
class Binder {
 public:
  using Lookup = std::function<const TensorView*(const std::string&)>;
  Binder(Lookup lookup, std::string source, DeepseekWeightStore& store, Fp8Mode fp8)
      : lookup_(std::move(lookup)), source_(std::move(source)), store_(store), fp8_(fp8) {}

  const std::string& source() const { return source_; }
  const TensorView* find(const std::string& name) const { return lookup_(name); }

  // The tensor `name` with exactly this shape (ggml order; trailing dims 1).
  const TensorView& need(const std::string& name, std::array<int64_t, 4> ne, int n_dims) const {
    const TensorView* t = lookup_(name);
    if (!t) fail(source_, ": missing tensor ", name);
    if (t->n_dims != n_dims || t->ne != ne) {
      fail(source_, ": tensor ", name, " has shape ", t->shape_string(), ", expected ", shape_of(ne, n_dims));
    }
    return *t;
  }

  // A matrix used by matmul (embeddings, router, head, GGUF projections): no FP8 here.
  TensorView matrix(const std::string& name, int64_t in, int64_t out) const {
    const TensorView& t = need(name, {in, out, 1, 1}, 2);
    check_matmul_type(t);
    return t;
  }

  // A 1-D float tensor as F32 (a view when it is F32 already).
  TensorView vector(const std::string& name, int64_t n) {
    TensorView t = need(name, {n, 1, 1, 1}, 1);
    if (t.type == DType::F32) return t;
    if (t.type != DType::F16 && t.type != DType::BF16) {
      fail(source_, ": tensor ", name, " has type ", dtype_name(t.type), ", expected F32, F16 or BF16");
    }
    std::vector<float> f(static_cast<size_t>(n));
    dequantize_row(t.type, t.data, f.data(), n);
    return own_f32(name, {n, 1, 1, 1}, 1, f);
  }

  // A projection; FP8 weights need `<name>_scale_inv` and are kept or converted as asked.
  Linear linear(const std::string& name, int64_t in, int64_t out) {
    Linear l;
    l.w = need(name, {in, out, 1, 1}, 2);
    if (l.w.type != DType::F8_E4M3) {
      check_matmul_type(l.w);
      return l;
    }
    const int64_t cb = (in + kFp8Block - 1) / kFp8Block, rb = (out + kFp8Block - 1) / kFp8Block;
    const std::string scale_name = name + "_scale_inv";
    if (!lookup_(scale_name)) fail(source_, ": FP8 tensor ", name, " has no block scales (missing tensor ", scale_name, ")");
    l.scale_inv = need(scale_name, {cb, rb, 1, 1}, 2);
    if (l.scale_inv.type != DType::F32) {
      fail(source_, ": tensor ", scale_name, " has type ", dtype_name(l.scale_inv.type), ", expected F32");
    }
    if (fp8_ == Fp8Mode::AsStored) return l;
    // Dequantize at load: F32 exactly, or BF16 (rounded to nearest even).
    std::vector<float> row(static_cast<size_t>(in));
    if (fp8_ == Fp8Mode::ToF32) {
      std::vector<float> all(static_cast<size_t>(in * out));
      for (int64_t r = 0; r < out; r++) linear_row(l, r, all.data() + r * in);
      return Linear{own_f32(name, {in, out, 1, 1}, 2, all), {}};
    }
    std::vector<uint8_t>& buf = store_.emplace_back(static_cast<size_t>(in * out) * 2);
    auto* dst = reinterpret_cast<uint16_t*>(buf.data());
    for (int64_t r = 0; r < out; r++) {
      linear_row(l, r, row.data());
      for (int64_t c = 0; c < in; c++) dst[r * in + c] = f32_to_bf16(row[size_t(c)]);
    }
    Linear converted;
    converted.w = l.w;
    converted.w.type = DType::BF16;
    converted.w.data = buf.data();
    converted.w.nbytes = buf.size();
    return converted;
  }

  // Rows of a stored tensor, bytes as they are, one after another: rows [row0 + g·stride, + rows)
  // for g < groups, a tensor of ne {src.ne[0], rows, groups}.
  TensorView own_rows(const std::string& name, const TensorView& src, int64_t row0, int64_t stride, int64_t rows,
                      int64_t groups) {
    const size_t rb = row_bytes(src.type, src.ne[0]);
    std::vector<uint8_t>& buf = store_.emplace_back(rb * static_cast<size_t>(rows * groups));
    for (int64_t g = 0; g < groups; g++) std::memcpy(buf.data() + g * rows * rb, src.row(row0 + g * stride), rows * rb);
    TensorView t;
    t.name = name;
    t.type = src.type;
    t.n_dims = 3;
    t.ne = {src.ne[0], rows, groups, 1};
    t.data = buf.data();
    t.nbytes = buf.size();
    return t;
  }

  TensorView own_f32(const std::string& name, std::array<int64_t, 4> ne, int n_dims, const std::vector<float>& v) {
    return own(name, ne, n_dims, DType::F32, v);
  }

  // A tensor made at load from float values, stored as F32, F16 or BF16 (rounded to nearest even).
  TensorView own(const std::string& name, std::array<int64_t, 4> ne, int n_dims, DType type, const std::vector<float>& v) {
    const size_t width = type == DType::F32 ? sizeof(float) : sizeof(uint16_t);
    std::vector<uint8_t>& buf = store_.emplace_back(v.size() * width);
    if (type == DType::F32) {
      std::memcpy(buf.data(), v.data(), buf.size());
    } else {
      auto* dst = reinterpret_cast<uint16_t*>(buf.data());
      for (size_t i = 0; i < v.size(); i++) dst[i] = type == DType::F16 ? f32_to_fp16(v[i]) : f32_to_bf16(v[i]);
    }
    TensorView t;
    t.name = name;
    t.type = type;
    t.n_dims = n_dims;
    t.ne = ne;
    t.data = buf.data();
    t.nbytes = buf.size();
    return t;
  }

 private:
  void check_matmul_type(const TensorView& t) const {
    if (!is_matmul_type(t.type)) {
      fail(source_, ": tensor ", t.name, " has type ", dtype_name(t.type), ", not supported for a weight matrix");
    }
    if (t.ne[0] % dtype_traits(t.type).block_size != 0) {
      fail(source_, ": tensor ", t.name, " has rows of ", t.ne[0], " elements, not a multiple of the ",
           dtype_name(t.type), " block size");
    }
  }

  Lookup lookup_;
  std::string source_;
  DeepseekWeightStore& store_;
  Fp8Mode fp8_;
};

// Slice e of a stacked expert tensor {in, out, n_expert} as a 2-D view {in, out}.
TensorView expert_slice(const TensorView& stacked, int64_t e) {
  TensorView t = stacked;
  t.name = str(stacked.name, "[", e, "]");
  t.n_dims = 2;
  t.ne = {stacked.ne[0], stacked.ne[1], 1, 1};
  t.nbytes = stacked.nbytes / size_t(stacked.ne[2]);
  t.data = static_cast<const uint8_t*>(stacked.data) + size_t(e) * t.nbytes;
  return t;
}

// wk_b / wv_b from a combined up-projection {kv_lora, n_head·(nope + v)} (GGUF attn_kv_b or HF
// kv_b_proj): per head h, rows h·(nope+v) .. +nope are W_UK_h and the next v rows W_UV_h.
// W_UK_h is needed transposed, so it is copied: exactly in the source's float type, F32 for FP8 and
// for values beyond F16's range, else F16 — a quantized source's dequantized values rounded once
// more (2^-11 relative), which halves the copy's memory and the bytes each decoded token reads from
// it. W_UV's rows are copied as stored, the heads one after another (attn_v_b's layout): read in
// place (v rows used, nope skipped, per head) decode took ~1.9x as long on them (BM_mla_heads
// cases 2 and 3). FP8's are scaled to F32.
void bind_kv_b(const DeepseekConfig& c, const Linear& kv_b, Binder& b, MlaWeights& w) {
  const int64_t H = c.n_head, r = c.kv_lora_rank, nope = c.qk_nope_dim, v = c.v_head_dim, per = nope + v;
  std::vector<float> row(static_cast<size_t>(r));
  std::vector<float> k(static_cast<size_t>(H * r * nope));
  float largest = 0;
  for (int64_t h = 0; h < H; h++) {
    for (int64_t d = 0; d < nope; d++) {
      linear_row(kv_b, h * per + d, row.data());
      for (int64_t j = 0; j < r; j++) {
        k[size_t((h * r + j) * nope + d)] = row[size_t(j)];  // transposed: row j of head h
        largest = std::max(largest, std::abs(row[size_t(j)]));
      }
    }
  }
  const bool fp8 = kv_b.scale_inv.data != nullptr;
  const DType t = kv_b.w.type;
  const bool float_source = !fp8 && (t == DType::F32 || t == DType::F16 || t == DType::BF16);
  const DType k_type = float_source ? t : !fp8 && largest <= 65504.0f ? DType::F16 : DType::F32;
  w.wk_b = b.own(kv_b.w.name + " (k part, transposed)", {nope, r, H, 1}, 3, k_type, k);
  if (!fp8) {
    w.wv_b = b.own_rows(kv_b.w.name + " (v part)", kv_b.w, nope, per, v, H);
    return;
  }
  std::vector<float> vv(static_cast<size_t>(H * v * r));  // FP8: the block scales need applying
  for (int64_t h = 0; h < H; h++) {
    for (int64_t d = 0; d < v; d++) linear_row(kv_b, h * per + nope + d, vv.data() + (h * v + d) * r);
  }
  w.wv_b = b.own(kv_b.w.name + " (v part)", {r, v, H, 1}, 3, DType::F32, vv);
}

void check_mla_split_types(const Binder& b, const TensorView& t) {
  if (!is_matmul_type(t.type)) fail(b.source(), ": tensor ", t.name, " has type ", dtype_name(t.type), ", not supported");
  if (t.ne[0] % dtype_traits(t.type).block_size != 0) {
    fail(b.source(), ": tensor ", t.name, " has rows of ", t.ne[0], " elements, not a multiple of the ",
         dtype_name(t.type), " block size");
  }
}

DeepseekLayer bind_gguf_layer(const DeepseekConfig& c, Binder& b, int64_t l) {
  const std::string p = str("blk.", l, ".");
  const int64_t qk = c.qk_head_dim(), H = c.n_head;
  DeepseekLayer L;
  L.attn_norm = b.vector(p + "attn_norm.weight", c.n_embd);
  MlaWeights& a = L.attn;
  if (c.q_lora_rank == 0) {
    a.wq = b.linear(p + "attn_q.weight", c.n_embd, H * qk);
  } else {
    a.wq_a = b.linear(p + "attn_q_a.weight", c.n_embd, c.q_lora_rank);
    a.q_a_norm = b.vector(p + "attn_q_a_norm.weight", c.q_lora_rank);
    a.wq_b = b.linear(p + "attn_q_b.weight", c.q_lora_rank, H * qk);
  }
  a.wkv_a = b.linear(p + "attn_kv_a_mqa.weight", c.n_embd, c.latent_dim());
  a.kv_a_norm = b.vector(p + "attn_kv_a_norm.weight", c.kv_lora_rank);
  if (c.kvb_layout == KvbLayout::Split) {
    a.wk_b = b.need(p + "attn_k_b.weight", {c.qk_nope_dim, c.kv_lora_rank, H, 1}, 3);
    a.wv_b = b.need(p + "attn_v_b.weight", {c.kv_lora_rank, c.v_head_dim, H, 1}, 3);
    check_mla_split_types(b, a.wk_b);
    check_mla_split_types(b, a.wv_b);
  } else {
    bind_kv_b(c, b.linear(p + "attn_kv_b.weight", c.kv_lora_rank, H * (c.qk_nope_dim + c.v_head_dim)), b, a);
  }
  a.wo = b.linear(p + "attn_output.weight", H * c.v_head_dim, c.n_embd);
  L.ffn_norm = b.vector(p + "ffn_norm.weight", c.n_embd);
  if (!c.is_moe_layer(l)) {
    L.dense = {b.linear(p + "ffn_gate.weight", c.n_embd, c.n_ff), b.linear(p + "ffn_up.weight", c.n_embd, c.n_ff),
               b.linear(p + "ffn_down.weight", c.n_ff, c.n_embd)};
    return L;
  }
  MoeWeights& m = L.moe;
  m.router = b.matrix(p + "ffn_gate_inp.weight", c.n_embd, c.n_expert);
  if (c.score_bias) m.score_bias = b.vector(p + "exp_probs_b.bias", c.n_expert);
  const int64_t E = c.n_expert, F = c.n_ff_expert;
  const TensorView& gate = b.need(p + "ffn_gate_exps.weight", {c.n_embd, F, E, 1}, 3);
  const TensorView& up = b.need(p + "ffn_up_exps.weight", {c.n_embd, F, E, 1}, 3);
  const TensorView& down = b.need(p + "ffn_down_exps.weight", {F, c.n_embd, E, 1}, 3);
  for (const TensorView* t : {&gate, &up, &down}) check_mla_split_types(b, *t);
  for (int64_t e = 0; e < E; e++) {
    m.experts.push_back({{expert_slice(gate, e), {}}, {expert_slice(up, e), {}}, {expert_slice(down, e), {}}});
  }
  if (c.n_expert_shared > 0) {
    const int64_t S = c.n_ff_shared();
    m.shared = {b.linear(p + "ffn_gate_shexp.weight", c.n_embd, S), b.linear(p + "ffn_up_shexp.weight", c.n_embd, S),
                b.linear(p + "ffn_down_shexp.weight", S, c.n_embd)};
  }
  return L;
}

FfnWeights bind_hf_ffn(Binder& b, const std::string& p, int64_t n_embd, int64_t width) {
  return {b.linear(p + "gate_proj.weight", n_embd, width), b.linear(p + "up_proj.weight", n_embd, width),
          b.linear(p + "down_proj.weight", width, n_embd)};
}

DeepseekLayer bind_hf_layer(const DeepseekConfig& c, Binder& b, int64_t l) {
  const std::string p = str("model.layers.", l, ".");
  const std::string sa = p + "self_attn.";
  const int64_t qk = c.qk_head_dim(), H = c.n_head;
  DeepseekLayer L;
  L.attn_norm = b.vector(p + "input_layernorm.weight", c.n_embd);
  MlaWeights& a = L.attn;
  if (c.q_lora_rank == 0) {
    a.wq = b.linear(sa + "q_proj.weight", c.n_embd, H * qk);
  } else {
    a.wq_a = b.linear(sa + "q_a_proj.weight", c.n_embd, c.q_lora_rank);
    a.q_a_norm = b.vector(sa + "q_a_layernorm.weight", c.q_lora_rank);
    a.wq_b = b.linear(sa + "q_b_proj.weight", c.q_lora_rank, H * qk);
  }
  a.wkv_a = b.linear(sa + "kv_a_proj_with_mqa.weight", c.n_embd, c.latent_dim());
  a.kv_a_norm = b.vector(sa + "kv_a_layernorm.weight", c.kv_lora_rank);
  bind_kv_b(c, b.linear(sa + "kv_b_proj.weight", c.kv_lora_rank, H * (c.qk_nope_dim + c.v_head_dim)), b, a);
  a.wo = b.linear(sa + "o_proj.weight", H * c.v_head_dim, c.n_embd);
  L.ffn_norm = b.vector(p + "post_attention_layernorm.weight", c.n_embd);
  if (!c.is_moe_layer(l)) {
    L.dense = bind_hf_ffn(b, p + "mlp.", c.n_embd, c.n_ff);
    return L;
  }
  MoeWeights& m = L.moe;
  m.router = b.matrix(p + "mlp.gate.weight", c.n_embd, c.n_expert);
  if (c.score_bias) m.score_bias = b.vector(p + "mlp.gate.e_score_correction_bias", c.n_expert);
  for (int64_t e = 0; e < c.n_expert; e++) {
    m.experts.push_back(bind_hf_ffn(b, str(p, "mlp.experts.", e, "."), c.n_embd, c.n_ff_expert));
  }
  if (c.n_expert_shared > 0) m.shared = bind_hf_ffn(b, p + "mlp.shared_experts.", c.n_embd, c.n_ff_shared());
  // An expert beyond n_routed_experts means the config and the checkpoint disagree.
  if (b.find(str(p, "mlp.experts.", c.n_expert, ".gate_proj.weight"))) {
    fail(b.source(), ": layer ", l, " has more experts than n_routed_experts (", c.n_expert, ")");
  }
  return L;
}

}  // namespace

DeepseekWeights bind_deepseek_gguf(const DeepseekConfig& c, const GgufFile& f, DeepseekWeightStore& store) {
  Binder b([&](const std::string& n) { return f.find_tensor(n); }, f.path(), store, Fp8Mode::AsStored);
  DeepseekWeights w;
  w.token_embd = b.matrix("token_embd.weight", c.n_embd, c.n_vocab);
  w.output_norm = b.vector("output_norm.weight", c.n_embd);
  w.output = b.matrix("output.weight", c.n_embd, c.n_vocab);
  for (int64_t l = 0; l < c.n_layer; l++) w.layers.push_back(bind_gguf_layer(c, b, l));
  // The MTP layer (SPEC §5.3): llama.cpp's nextn names plus an ordinary block at index n_layer.
  const std::string p = str("blk.", c.n_layer, ".");
  if (c.n_mtp_layers > 0 && b.find(p + "nextn.eh_proj.weight")) {
    if (c.n_dense_lead >= c.n_layer) fail(f.path(), ": the MTP layer needs the MoE settings, but no layer is MoE");
    MtpWeights m;
    // Files may leave out the module's copies of the embedding and head (they equal the main ones).
    const bool own_embed = b.find(p + "nextn.embed_tokens.weight"), own_head = b.find(p + "nextn.shared_head_head.weight");
    m.embed = own_embed ? b.matrix(p + "nextn.embed_tokens.weight", c.n_embd, c.n_vocab) : w.token_embd;
    m.enorm = b.vector(p + "nextn.enorm.weight", c.n_embd);
    m.hnorm = b.vector(p + "nextn.hnorm.weight", c.n_embd);
    m.eh_proj = b.linear(p + "nextn.eh_proj.weight", 2 * c.n_embd, c.n_embd);
    m.layer = bind_gguf_layer(c, b, c.n_layer);
    m.head_norm = b.vector(p + "nextn.shared_head_norm.weight", c.n_embd);
    m.head = own_head ? b.matrix(p + "nextn.shared_head_head.weight", c.n_embd, c.n_vocab) : w.output;
    w.mtp = std::move(m);
  } else if (f.find_tensor(p + "attn_norm.weight")) {
    fail(f.path(), ": has tensors for layer ", c.n_layer, " but block_count is ", c.n_layer,
         " and no MTP layer (key deepseek2.nextn_predict_layers, tensor ", p, "nextn.eh_proj.weight)");
  }
  return w;
}

DeepseekWeights bind_deepseek_hf(const DeepseekConfig& c, const SafetensorsSet& st, Fp8Mode fp8,
                                 DeepseekWeightStore& store) {
  Binder b([&](const std::string& n) { return st.find(n); }, st.path(), store, fp8);
  DeepseekWeights w;
  w.token_embd = b.matrix("model.embed_tokens.weight", c.n_embd, c.n_vocab);
  w.output_norm = b.vector("model.norm.weight", c.n_embd);
  w.output = b.matrix("lm_head.weight", c.n_embd, c.n_vocab);
  for (int64_t l = 0; l < c.n_layer; l++) w.layers.push_back(bind_hf_layer(c, b, l));
  // The MTP module sits at layer index n_layer; checkpoints converted without it are fine.
  const std::string p = str("model.layers.", c.n_layer, ".");
  if (c.n_mtp_layers > 0 && b.find(p + "eh_proj.weight")) {
    if (c.n_dense_lead >= c.n_layer) fail(st.path(), ": the MTP layer needs the MoE settings, but no layer is MoE");
    MtpWeights m;
    m.embed = b.matrix(p + "embed_tokens.weight", c.n_embd, c.n_vocab);
    m.enorm = b.vector(p + "enorm.weight", c.n_embd);
    m.hnorm = b.vector(p + "hnorm.weight", c.n_embd);
    m.eh_proj = b.linear(p + "eh_proj.weight", 2 * c.n_embd, c.n_embd);
    m.layer = bind_hf_layer(c, b, c.n_layer);
    m.head_norm = b.vector(p + "shared_head.norm.weight", c.n_embd);
    m.head = b.matrix(p + "shared_head.head.weight", c.n_embd, c.n_vocab);
    w.mtp = std::move(m);
  }
  return w;
}

namespace {

void collect_layer(DeepseekLayer& L, std::vector<TensorView*>& matrices, std::vector<const TensorView*>& keep) {
  for_each_deepseek_matrix(L, [&](TensorView& t, bool) { matrices.push_back(&t); });
  keep.push_back(&L.attn.wk_b);  // read per head (mla.cc)
  keep.push_back(&L.attn.wv_b);
}

}  // namespace

int repack_deepseek_weights(DeepseekWeights& w, const std::function<uint8_t*(const TensorView&)>& writable) {
  std::vector<TensorView*> matrices{&w.output};
  std::vector<const TensorView*> keep{&w.token_embd};
  for (DeepseekLayer& L : w.layers) collect_layer(L, matrices, keep);
  if (w.mtp) {
    matrices.push_back(&w.mtp->eh_proj.w);
    matrices.push_back(&w.mtp->head);
    keep.push_back(&w.mtp->embed);
    collect_layer(w.mtp->layer, matrices, keep);
  }
  return repack_matrices(matrices, keep, writable);
}

}  // namespace r1
