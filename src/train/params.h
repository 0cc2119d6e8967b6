// A trainable DeepSeek-V3-architecture model's shape and the layout of its parameters in one
// flat buffer. Every tensor has its Hugging Face name and row-major shape, so a checkpoint is the
// buffer written tensor by tensor, and the optimizer walks one array.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace r1::train {

struct ModelConfig {
  int64_t n_vocab = 0;
  int64_t n_embd = 64;
  int64_t n_layer = 2;
  int64_t n_head = 4;
  int64_t q_lora_rank = 32;
  int64_t kv_lora_rank = 32;
  int64_t qk_nope_dim = 16;
  int64_t qk_rope_dim = 8;
  int64_t v_head_dim = 16;
  int64_t n_ff = 128;          // dense SwiGLU width (the first n_dense_lead layers)
  int64_t n_dense_lead = 1;
  int64_t n_expert = 4;        // routed experts of the other layers
  int64_t n_expert_used = 2;
  int64_t n_expert_shared = 1;
  int64_t n_ff_expert = 32;
  double route_scale = 1.0;    // routed_scaling_factor
  double rope_theta = 10000.0;
  double rms_eps = 1e-6;
  int64_t n_ctx = 2048;
  bool mtp = true;             // one multi-token-prediction module (depth 1)

  int64_t qk_head_dim() const { return qk_nope_dim + qk_rope_dim; }
  bool is_moe_layer(int64_t l) const { return l >= n_dense_lead; }
  double attn_scale() const;  // 1/sqrt(qk_head_dim): no YaRN at this scale
  void validate() const;      // throws r1::Error naming the bad field
};

// Where one tensor lives in the flat buffer.
struct ParamTensor {
  std::string name;            // Hugging Face name
  std::vector<int64_t> shape;  // row-major
  size_t offset = 0;
  size_t size = 0;
  bool decay = false;          // weight decay applies (matrices; never norms or the router bias)
};

// Offsets of one transformer block's tensors.
struct BlockLayout {
  size_t attn_norm, q_a, q_a_norm, q_b, kv_a, kv_a_norm, kv_b, o, ffn_norm;
  bool moe = false;
  size_t gate = 0, up = 0, down = 0;                       // dense SwiGLU
  size_t router = 0;                                       // [n_expert][n_embd]
  std::vector<size_t> e_gate, e_up, e_down;                // routed experts
  size_t s_gate = 0, s_up = 0, s_down = 0;                 // shared experts (if any)
};

struct MtpLayout {
  size_t enorm, hnorm, eh_proj, head_norm;
  BlockLayout block;
};

struct ParamLayout {
  std::vector<ParamTensor> tensors;
  size_t total = 0;
  size_t embed = 0, norm = 0, head = 0;
  std::vector<BlockLayout> blocks;
  bool has_mtp = false;
  MtpLayout mtp;

  const ParamTensor* find(const std::string& name) const;
  // Appends a tensor at the end of the buffer; returns its offset.
  size_t add(const std::string& name, std::vector<int64_t> shape, bool decay);
};

// The initialization every trainable model uses, deterministic in seed: matrices N(0, stddev), the
// blocks' residual outputs (o_proj, down_proj) scaled by 1/sqrt(2·n_layer); 1-D tensors 1 (norm
// weights) or 0 (names ending in ".bias").
template <typename T>
void init_params(const ParamLayout& layout, int64_t n_layer, uint64_t seed, double stddev, T* params);

// Throws r1::Error "<what>: <name> must be in [lo, 2^24] (got v)" when v is out of that range: the
// bound every config size shares, so products of a few sizes stay far from overflow.
void check_config_size(const char* what, const char* name, int64_t v, int64_t lo);

ParamLayout make_layout(const ModelConfig& c);

// The router's selection bias (auxiliary-loss-free balancing) is state, not a parameter: it is
// moved by the bias update rule, not by gradients. One [n_expert] vector per MoE block, the MTP
// block's last; stored in checkpoints as mlp.gate.e_score_correction_bias.
struct RouterBias {
  std::vector<std::vector<float>> per_block;  // empty for dense blocks
};

}  // namespace r1::train
