// The forward pass of a dense decoder (Qwen2 / Llama): n tokens at once at positions
// cache.size() .. cache.size()+n-1. Prefill passes the whole prompt (processed in chunks of at most
// max_batch tokens, each chunk one matrix-matrix product per projection); decode is n = 1.
#pragma once
#include <cstdint>
#include <vector>

#include "model/config.h"
#include "model/kv_cache.h"
#include "ops/rope.h"
#include "model/weights.h"

namespace r1 {

class ThreadPool;

// Activations for up to max_batch tokens, allocated once so that decoding never allocates.
struct DenseActivations {
  DenseActivations(const ModelConfig& c, int64_t max_batch, int64_t n_ctx, int n_threads);

  int64_t max_batch;
  std::vector<float> x;         // [max_batch][n_embd] residual stream
  std::vector<float> xn;        // [max_batch][n_embd] normalized input of a sub-block
  std::vector<float> q;         // [max_batch][q_dim]
  std::vector<float> k, v;      // [max_batch][kv_dim]
  std::vector<float> att;       // [max_batch][q_dim] attention output (heads concatenated)
  std::vector<float> proj;      // [max_batch][n_embd] output of o_proj / down_proj
  std::vector<float> gate, up;  // [max_batch][n_ff]
  std::vector<float> scores;    // [n_threads][group][n_ctx] attention scores, per thread
  // One token's attention split over positions (more threads than KV heads share them):
  // [n_head_kv][parts][group][head_dim] outputs and [n_head_kv][parts][group] log-sum-exps, parts <= n_threads.
  std::vector<float> part_out, part_lse;
  // A prompt pass's keys and value pairs in bf16 (ops/attention.h's attend_bf16), per KV head
  // [n_ctx + 1][head_dim]; sized on first use.
  std::vector<uint16_t> k_bf16, v_bf16;
  int64_t n_ctx;
  RopeTable rope;               // cos/sin of every position < n_ctx
};

// Into how many parts one token's attention splits each KV head's n_keys positions, so that
// n_threads threads get equal work: 1 when the KV heads divide evenly between the threads (Qwen-1.5B's
// 2 on 2), else n_threads / gcd (2 heads on 8 threads: 4 parts each; 4 on 6: 3), unless that leaves a
// part fewer than kMinKeysPerPart positions (its fixed costs -- the queries' setup, the merge -- would
// outweigh its keys).
constexpr int64_t kMinKeysPerPart = 64;
int64_t decode_parts(int64_t n_head_kv, int n_threads, int64_t n_keys);
// One token's attention (its queries in act.q's first row, its output to act.att's) over the first
// n_keys positions of every KV head of `layer`, each head's positions split into `parts` ranges that
// the pool's threads share (decode_parts); scale: the scores' (1 / sqrt(head_dim)).
void attention_decode_split(const ModelConfig& c, const KVCache& cache, int64_t layer, int64_t n_keys, int64_t parts,
                            float scale, DenseActivations& act, ThreadPool& pool);

// Runs ids[0..n) through the model and appends their keys/values to `cache`.
// logits: all_logits ? [n][n_vocab] : [n_vocab] (the last token's row only).
// Throws r1::Error for an id outside the vocabulary or when the tokens do not fit in the cache.
void dense_forward(const ModelConfig& c, const DenseWeights& w, KVCache& cache, DenseActivations& act,
                   ThreadPool& pool, const int32_t* ids, int64_t n, bool all_logits, float* logits);

}  // namespace r1
