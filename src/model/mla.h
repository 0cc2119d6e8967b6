// Multi-head latent attention (SPEC §1.4) in the weight-absorbed form, over a cache that holds only
// the latent of each past token: the normed KV latent c (kv_lora_rank) and the roped shared key
// k_pe (qk_rope_dim) — 576 values per token and layer for R1 instead of 40,960 for expanded heads.
//   q_abs_h = W_UK_hᵀ q_nope_h,   score_h(s) = (q_abs_h·c(s) + q_pe_h·k_pe(s)) · attn_scale,
//   u_h = Σ_s softmax(score_h)(s) · c(s),   o_h = W_UV_h u_h,   out = W_o [o_1 … o_H].
// A long prompt pass instead decompresses each head's keys and values (the naive form, SPEC §1.4
// step 5) where that is faster (mla_decompressed_pays): its scores and weighted sums run over
// qk_head + v_head values per key and head instead of kv_lora + rope + kv_lora (320 vs 1088 for R1),
// for the price of decompressing the cached positions once per pass.
#pragma once
#include <cstdint>
#include <vector>

#include "model/deepseek_config.h"
#include "model/deepseek_weights.h"
#include "model/kv_cache.h"
#include "ops/rope.h"
#include "util/huge_pages.h"

namespace r1 {

class ThreadPool;

// The latents [c (kv_lora_rank) | k_pe (qk_rope_dim)] of every past position, per layer in
// position order, in F32, F16 (llama.cpp's default for this cache too: half the bytes decode
// reads per token at depth, for rounding the latents to F16 as they are written) or Q8_0.
class LatentKVCache {
 public:
  // type: DType::F32, F16 or Q8_0 (cache_row_bytes in model/kv_cache.h).
  LatentKVCache(int64_t n_layer, int64_t latent_dim, int64_t capacity, DType type = DType::F32);

  DType type() const { return type_; }
  int64_t capacity() const { return capacity_; }
  int64_t size() const { return size_; }  // positions filled: the next token goes to position size()
  int64_t latent_dim() const { return latent_dim_; }

  // Stores the latent_dim floats of (layer, pos) in the cache's type; read() widens them back.
  void write(int64_t layer, int64_t pos, const float* latent);
  void read(int64_t layer, int64_t pos, float* latent) const;
  // attend() (ops/attention.h) of n_q latent_dim-wide queries over the first n_keys positions of
  // the layer, whose values are the first d_v values of each row (c).
  void attend(int64_t layer, const float* q, int64_t n_q, int64_t n_keys, int64_t d_v, float scale, float* out,
              float* scores) const;
  // attend_part() (ops/attention.h): the same over positions k0 .. k1 − 1 only, with each query's
  // log-sum-exp, to be merged with the other parts (merge_attention_parts).
  void attend_part(int64_t layer, const float* q, int64_t n_q, int64_t k0, int64_t k1, int64_t d_v, float scale,
                   float* out, float* lse, float* scores) const;

  // The stored rows of a layer, row_bytes() per position, for saving and restoring a cache
  // (server/prefix_store.h).
  uint8_t* rows(int64_t layer) { return data_.data() + offset(layer, 0); }
  const uint8_t* rows(int64_t layer) const { return data_.data() + offset(layer, 0); }
  size_t row_bytes() const { return row_bytes_; }

  void check_room(int64_t n) const;  // throws r1::Error if n more positions do not fit
  void advance(int64_t n);           // n more positions were written into every layer
  void truncate(int64_t n);          // forget positions n.. (n <= size())
  void clear() { size_ = 0; }

 private:
  size_t offset(int64_t layer, int64_t pos) const { return size_t(layer * capacity_ + pos) * row_bytes(); }
  int64_t n_layer_, latent_dim_, capacity_;
  DType type_;
  size_t row_bytes_;  // bytes per stored position
  int64_t size_ = 0;
  HugeArray<uint8_t> data_;  // in huge pages (util/huge_pages.h), resident as positions are written
};

// Working memory of mla_forward for up to max_batch tokens and n_ctx positions.
struct MlaScratch {
  MlaScratch(const DeepseekConfig& c, int64_t max_batch, int64_t n_ctx, int n_threads);

  int64_t max_batch, n_ctx;
  RopeTable rope;               // cos/sin of every position < n_ctx
  std::vector<float> q_a;       // [max_batch][q_lora_rank]
  std::vector<float> q;         // [max_batch][n_head · qk_head_dim]
  std::vector<float> kv;        // [max_batch][kv_lora_rank + qk_rope_dim]
  std::vector<float> head_in;   // [max_batch][max(qk_nope, kv_lora_rank)] one head's input rows
  std::vector<float> head_out;  // [max_batch][max(kv_lora_rank, v_head)] one head's output rows
  std::vector<float> q_abs;     // [max_batch][n_head][kv_lora_rank]
  std::vector<float> u;         // [max_batch][n_head][kv_lora_rank] attention-weighted latents
  std::vector<float> att;       // [max_batch][n_head · v_head] heads concatenated
  static constexpr int64_t kHeadBlock = 16;  // query heads per attention work item, at most
  std::vector<float> scores;    // [n_threads][kHeadBlock][n_ctx]
  std::vector<float> q_lat;     // [n_threads][kHeadBlock][latent_dim] one item's queries
  // One-token decode split over the positions (attend_absorbed): each thread's attention of every
  // head over its share, and the heads' log-sum-exps.
  std::vector<float> part_out;  // [n_threads][n_head][kv_lora_rank]
  std::vector<float> part_lse;  // [n_threads][n_head]
  // Decompressed prefill, one head at a time (grown on first use to the positions a pass sees).
  std::vector<float> latents;   // [positions][kv_lora_rank] the cache's c, contiguous
  std::vector<float> w_head;    // [qk_nope + v_head][kv_lora_rank] W_UK_h then W_UV_h, as floats
  std::vector<float> wk_col;    // [n_threads][qk_nope] a column of W_UK_h on its way into w_head
  std::vector<float> kv_head;   // [positions][qk_nope + v_head] k_nope and v of the head
  std::vector<float> k_head;    // [positions][qk_head_dim] its keys [k_nope | k_pe]
  // The head's keys and value pairs in bf16 where prompt attention runs in bf16 products
  // (ops/attention.h's attend_bf16): [positions][qk_head_dim], [positions / 2][v_head][2].
  std::vector<uint16_t> k_bf16, v_bf16;
  std::vector<float> q_head;    // [n_threads][kHeadBlock][qk_head_dim] a block of consecutive tokens' queries
  std::vector<float> o_head;    // [n_threads][kHeadBlock][v_head] their outputs
};

// Which form mla_forward_slots gives a pass whose tokens are consecutive positions of one cache.
// Auto (the default): decompressed when mla_decompressed_pays. R1_MLA_PREFILL=absorbed|decompressed|auto
// in the environment sets it for a run (A/B timing); tests call set_mla_prefill.
enum class MlaPrefill { Auto, Absorbed, Decompressed };
void set_mla_prefill(MlaPrefill mode);
MlaPrefill mla_prefill();

// Whether n tokens at positions pos0 .. pos0+n-1 run faster decompressed: at least
// kMlaDecompressedMinTokens of them (shorter passes lose more to the per-head steps, such as reading
// the up-projections into floats, than they save: 0.66B model, pp8 554 → 217 t/s, pp64 level), and
// the multiply-adds saved — (kv_lora + rope + kv_lora − qk_head − v_head) per head and (query, key)
// pair — at least twice those added: pos0 · kv_lora · (qk_nope + v_head) per head to decompress the
// earlier positions (the new ones cost what absorbing their queries and outputs costs).
// Decode steps, MTP checks and the short rest of a cached prompt therefore stay absorbed.
constexpr int64_t kMlaDecompressedMinTokens = 64;
bool mla_decompressed_pays(const DeepseekConfig& c, int64_t pos0, int64_t n);

// Attention of n tokens at positions pos0 .. pos0+n-1 (pos0 = cache.size()): writes their latents
// into row(layer, pos0 + i) of the cache and out[n][n_embd] = attention output (before the
// residual add). xn: [n][n_embd], the attention-normed input.
void mla_forward(const DeepseekConfig& c, const MlaWeights& w, LatentKVCache& cache, int64_t layer, int64_t pos0,
                 const float* xn, int64_t n, float* out, MlaScratch& s, ThreadPool& pool);

// Where one token of a pass goes: its sequence's cache and its position there. A prompt's tokens
// share one cache at consecutive positions; a batched decode step (deepseek_batch.h) has one
// token in each of several caches. The projections run over all tokens at once either way.
struct LatentSlot {
  LatentKVCache* cache;
  int64_t pos;
};

// mla_forward with each token in its own slot: token i attends to positions 0 .. slots[i].pos of
// slots[i].cache, after writing its latent into row(layer, slots[i].pos).
void mla_forward_slots(const DeepseekConfig& c, const MlaWeights& w, const LatentSlot* slots, int64_t layer,
                       const float* xn, int64_t n, float* out, MlaScratch& s, ThreadPool& pool);

}  // namespace r1
