// The small DeepSeek-architecture model the trainer's engine-facing tests share (export, batched
// rollouts): 32 wide with two heads, one dense block then MoE blocks of four experts, so the
// inference engine's kernels see real shapes while a test still trains it in milliseconds.
#pragma once
#include <cstdint>

#include "train/params.h"

namespace r1::test_models {

inline train::ModelConfig small_engine_config(int64_t n_vocab, int64_t n_layer) {
  train::ModelConfig c;
  c.n_vocab = n_vocab;
  c.n_embd = 32;
  c.n_layer = n_layer;
  c.n_head = 2;
  c.q_lora_rank = 16;
  c.kv_lora_rank = 16;
  c.qk_nope_dim = 8;
  c.qk_rope_dim = 8;
  c.v_head_dim = 8;
  c.n_ff = 48;
  c.n_dense_lead = 1;
  c.n_expert = 4;
  c.n_expert_used = 2;
  c.n_expert_shared = 1;
  c.n_ff_expert = 16;
  c.n_ctx = 64;
  return c;
}

}  // namespace r1::test_models
