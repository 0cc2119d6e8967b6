#include "train/params.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "core/error.h"

namespace r1::train {

double ModelConfig::attn_scale() const { return 1.0 / std::sqrt(double(qk_head_dim())); }

void check_config_size(const char* what, const char* name, int64_t v, int64_t lo) {
  if (v < lo || v > (int64_t{1} << 24)) fail(what, ": ", name, " must be in [", lo, ", 2^24] (got ", v, ")");
}

void ModelConfig::validate() const {
  auto check = [](const char* name, int64_t v, int64_t lo) { check_config_size("model config", name, v, lo); };
  check("n_vocab", n_vocab, 2);
  check("n_embd", n_embd, 1);
  check("n_layer", n_layer, 1);
  check("n_head", n_head, 1);
  check("q_lora_rank", q_lora_rank, 1);
  check("kv_lora_rank", kv_lora_rank, 1);
  check("qk_nope_dim", qk_nope_dim, 1);
  check("qk_rope_dim", qk_rope_dim, 2);
  check("v_head_dim", v_head_dim, 1);
  check("n_ctx", n_ctx, 1);
  if (qk_rope_dim % 2) fail("model config: qk_rope_dim must be even (got ", qk_rope_dim, ")");
  check("n_dense_lead", n_dense_lead, 0);
  if (n_dense_lead > n_layer) fail("model config: n_dense_lead (", n_dense_lead, ") exceeds n_layer (", n_layer, ")");
  if (n_dense_lead > 0) check("n_ff", n_ff, 1);
  if (n_dense_lead < n_layer || mtp) {
    check("n_expert", n_expert, 1);
    check("n_expert_used", n_expert_used, 1);
    check("n_expert_shared", n_expert_shared, 0);
    check("n_ff_expert", n_ff_expert, 1);
    if (n_expert_used > n_expert) fail("model config: n_expert_used (", n_expert_used, ") exceeds n_expert (", n_expert, ")");
    if (!(route_scale > 0) || !std::isfinite(route_scale)) fail("model config: route_scale must be > 0");
  }
  if (!(rms_eps > 0) || !(rope_theta > 0)) fail("model config: rms_eps and rope_theta must be > 0");
  // A CPU trainer's scale: bound the tensor count and the size before anything is allocated.
  if (n_layer > 1024 || n_expert > 1024) fail("model config: at most 1024 layers and 1024 experts");
  const double d = double(n_embd), per_block = 4 * d * d + 3 * d * double(std::max(n_ff, (n_expert + n_expert_shared) * n_ff_expert)) +
                                                double(n_head) * double(qk_head_dim() + v_head_dim) * (d + double(q_lora_rank + kv_lora_rank));
  const double total = 2 * double(n_vocab) * d + double(n_layer + 1) * per_block;
  if (total > 4e9) fail("model config: about ", total, " parameters is beyond this trainer (4e9 at most)");
}

const ParamTensor* ParamLayout::find(const std::string& name) const {
  for (const auto& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

size_t ParamLayout::add(const std::string& name, std::vector<int64_t> shape, bool decay) {
  ParamTensor t;
  t.name = name;
  t.size = 1;
  for (int64_t d : shape) t.size *= size_t(d);
  t.shape = std::move(shape);
  t.offset = total;
  t.decay = decay;
  total += t.size;
  tensors.push_back(std::move(t));
  return tensors.back().offset;
}

template <typename T>
void init_params(const ParamLayout& layout, int64_t n_layer, uint64_t seed, double stddev, T* params) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  const double out_scale = 1.0 / std::sqrt(2.0 * double(n_layer));
  for (const ParamTensor& t : layout.tensors) {
    T* p = params + t.offset;
    if (t.shape.size() == 1) {
      const bool bias = t.name.ends_with(".bias");
      std::fill(p, p + t.size, T(bias ? 0 : 1));  // the other 1-D parameters are norm weights
      continue;
    }
    const bool residual_out = t.name.ends_with("o_proj.weight") || t.name.ends_with("down_proj.weight");
    const double s = stddev * (residual_out ? out_scale : 1.0);
    for (size_t i = 0; i < t.size; i++) p[i] = T(normal(rng) * s);
  }
}

template void init_params<float>(const ParamLayout&, int64_t, uint64_t, double, float*);
template void init_params<double>(const ParamLayout&, int64_t, uint64_t, double, double*);

namespace {

class Builder {
 public:
  explicit Builder(ParamLayout& l) : l_(l) {}
  size_t add(const std::string& name, std::vector<int64_t> shape, bool decay) {
    return l_.add(name, std::move(shape), decay);
  }
  size_t matrix(const std::string& name, int64_t out, int64_t in) { return add(name, {out, in}, true); }
  size_t vector(const std::string& name, int64_t n) { return add(name, {n}, false); }

 private:
  ParamLayout& l_;
};

// A block's tensors under HF prefix p ("model.layers.3."); the MTP block is a MoE block.
BlockLayout make_block(const ModelConfig& c, Builder& b, const std::string& p, bool moe) {
  const std::string sa = p + "self_attn.";
  BlockLayout L;
  L.attn_norm = b.vector(p + "input_layernorm.weight", c.n_embd);
  L.q_a = b.matrix(sa + "q_a_proj.weight", c.q_lora_rank, c.n_embd);
  L.q_a_norm = b.vector(sa + "q_a_layernorm.weight", c.q_lora_rank);
  L.q_b = b.matrix(sa + "q_b_proj.weight", c.n_head * c.qk_head_dim(), c.q_lora_rank);
  L.kv_a = b.matrix(sa + "kv_a_proj_with_mqa.weight", c.kv_lora_rank + c.qk_rope_dim, c.n_embd);
  L.kv_a_norm = b.vector(sa + "kv_a_layernorm.weight", c.kv_lora_rank);
  L.kv_b = b.matrix(sa + "kv_b_proj.weight", c.n_head * (c.qk_nope_dim + c.v_head_dim), c.kv_lora_rank);
  L.o = b.matrix(sa + "o_proj.weight", c.n_embd, c.n_head * c.v_head_dim);
  L.ffn_norm = b.vector(p + "post_attention_layernorm.weight", c.n_embd);
  L.moe = moe;
  const std::string m = p + "mlp.";
  if (!moe) {
    L.gate = b.matrix(m + "gate_proj.weight", c.n_ff, c.n_embd);
    L.up = b.matrix(m + "up_proj.weight", c.n_ff, c.n_embd);
    L.down = b.matrix(m + "down_proj.weight", c.n_embd, c.n_ff);
    return L;
  }
  // The router is not decayed: its logits set the routing, not a feature.
  L.router = b.add(m + "gate.weight", {c.n_expert, c.n_embd}, false);
  for (int64_t e = 0; e < c.n_expert; e++) {
    const std::string ep = str(m, "experts.", e, ".");
    L.e_gate.push_back(b.matrix(ep + "gate_proj.weight", c.n_ff_expert, c.n_embd));
    L.e_up.push_back(b.matrix(ep + "up_proj.weight", c.n_ff_expert, c.n_embd));
    L.e_down.push_back(b.matrix(ep + "down_proj.weight", c.n_embd, c.n_ff_expert));
  }
  if (c.n_expert_shared > 0) {
    const int64_t s = c.n_expert_shared * c.n_ff_expert;
    L.s_gate = b.matrix(m + "shared_experts.gate_proj.weight", s, c.n_embd);
    L.s_up = b.matrix(m + "shared_experts.up_proj.weight", s, c.n_embd);
    L.s_down = b.matrix(m + "shared_experts.down_proj.weight", c.n_embd, s);
  }
  return L;
}

}  // namespace

ParamLayout make_layout(const ModelConfig& c) {
  c.validate();
  ParamLayout l;
  Builder b(l);
  l.embed = b.matrix("model.embed_tokens.weight", c.n_vocab, c.n_embd);
  for (int64_t i = 0; i < c.n_layer; i++) l.blocks.push_back(make_block(c, b, str("model.layers.", i, "."), c.is_moe_layer(i)));
  l.norm = b.vector("model.norm.weight", c.n_embd);
  l.head = b.matrix("lm_head.weight", c.n_vocab, c.n_embd);
  if (c.mtp) {
    // HF's MTP layer sits at index n_layer; it shares the embedding and the head with the main
    // model (exports write copies under its own names).
    const std::string p = str("model.layers.", c.n_layer, ".");
    l.has_mtp = true;
    l.mtp.enorm = b.vector(p + "enorm.weight", c.n_embd);
    l.mtp.hnorm = b.vector(p + "hnorm.weight", c.n_embd);
    l.mtp.eh_proj = b.matrix(p + "eh_proj.weight", c.n_embd, 2 * c.n_embd);
    l.mtp.block = make_block(c, b, p, true);
    l.mtp.head_norm = b.vector(p + "shared_head.norm.weight", c.n_embd);
  }
  return l;
}

}  // namespace r1::train
