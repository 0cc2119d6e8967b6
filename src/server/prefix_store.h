// --cache-dir: prompt prefixes whose KV cache persists on disk across restarts, like DeepSeek's
// context caching. After a request, the KV of its prompt is written to DIR (one file per prompt,
// named by a hash of its tokens, written atomically); a later request -- also after a restart --
// whose prompt begins with the same tokens loads those positions instead of computing them.
// Because attention is causal, any shared prefix of a stored prompt can be reused, not only the
// whole of it. It works on the slots' caches of the batch engine (model/batch.h).
//
// Dense file: "R1KV0001" (F32 cache), "R1KH0001" (F16) or "R1KQ0001" (Q8_0), u32 n_layer, n_head_kv,
// head_dim, n_tokens, i32 tokens[n_tokens], then for each layer, each kv head: n_tokens keys, then
// n_tokens values, each head_dim values as the cache stores them (float32, F16, or Q8_0 blocks).
// DeepSeek file: "R1ML0001" (F32 cache), "R1MH0001" (F16) or "R1MQ0001" (Q8_0), u32 n_layer, 1,
// latent_dim, n_tokens, i32 tokens[n_tokens], then for each layer n_tokens latents of latent_dim
// (kv_lora_rank + qk_rope_dim) values as stored -- the MLA cache,
// 576 values per token and layer for R1, which is what makes storing long prompts cheap.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "model/context.h"
#include "model/kv_cache.h"
#include "model/mla.h"

namespace r1::server {

class PrefixStore {
 public:
  // Reads the index of DIR (created if missing); files of another model shape or damaged ones
  // are skipped. Throws r1::Error when the directory cannot be created.
  // A dense model's store (KVCache of cache_types: F32, F16, Q8_0 or Q4_0 keys and values):
  PrefixStore(const std::string& dir, int64_t n_layer, int64_t n_head_kv, int64_t head_dim, CacheTypes cache_types);
  // A DeepSeek model's store (LatentKVCache of n_layer layers, latent_dim values per position, of
  // cache_type):
  PrefixStore(const std::string& dir, int64_t n_layer, int64_t latent_dim, DType cache_type);

  // Loads into `cache` (emptied first) the longest stored prefix of ids, at most max_tokens long;
  // returns how many positions it holds (0: nothing stored matches). The cache must be of the
  // store's kind and shape (throws r1::Error otherwise).
  int64_t load(std::span<const int32_t> ids, int64_t max_tokens, KVCache& cache);
  int64_t load(std::span<const int32_t> ids, int64_t max_tokens, LatentKVCache& cache);
  // Stores the first tokens.size() positions of `cache` (unless that prompt is stored already).
  void save(std::span<const int32_t> tokens, const KVCache& cache);
  void save(std::span<const int32_t> tokens, const LatentKVCache& cache);

  size_t size() const;  // stored prompts

 private:
  struct Entry {
    std::string path;
    std::vector<int32_t> tokens;
  };
  // A file holds blocks_ runs of positions (a layer's keys of one head, then its values; or a layer's
  // latents), widths_[b % 2] bytes per position in run b; shape_ is the header's three numbers.
  using Magic = std::array<char, 8>;
  PrefixStore(const std::string& dir, const Magic& magic, const uint32_t (&shape)[3], int64_t blocks,
              int64_t key_width, int64_t value_width);
  // Where run b of a file of n positions starts, from the first run; all runs' bytes per position.
  int64_t run_offset(int64_t b, int64_t n) const { return (b / 2) * n * (widths_[0] + widths_[1]) + (b % 2) * n * widths_[0]; }
  int64_t position_bytes() const { return run_offset(blocks_, 1); }
  // Throw unless the cache is of this store's kind, type and shape.
  void check(const KVCache& cache) const;
  void check(const LatentKVCache& cache) const;
  template <class Cache> int64_t load_runs(std::span<const int32_t> ids, int64_t max_tokens, Cache& cache);
  template <class Cache> void save_runs(std::span<const int32_t> tokens, const Cache& cache);

  std::string dir_;
  Magic magic_;
  uint32_t shape_[3];
  int64_t blocks_, widths_[2];
  mutable std::mutex mu_;
  std::vector<Entry> entries_;
};

// A slot's context that, when a prompt arrives at an empty cache, first fills the cache from
// the store. The tokens it restored for the last prompt are reported for usage and metrics.
// `cache` is the one inner computes on (BatchEngine::cache or latent_cache).
class StoredPrefixContext final : public InferenceContext {
 public:
  StoredPrefixContext(std::unique_ptr<InferenceContext> inner, KVCache& cache, PrefixStore& store)
      : inner_(std::move(inner)), cache_(&cache), store_(store) {}
  StoredPrefixContext(std::unique_ptr<InferenceContext> inner, LatentKVCache& cache, PrefixStore& store)
      : inner_(std::move(inner)), cache_(&cache), store_(store) {}

  int64_t n_past() const override { return inner_->n_past(); }
  int64_t n_ctx() const override { return inner_->n_ctx(); }
  void truncate(int64_t n) override { inner_->truncate(n); }
  void forward(const int32_t* ids, int64_t n, bool all_logits, float* logits) override;

  // Positions of the last prompt that came from disk (reset by take).
  int64_t take_restored() { return std::exchange(restored_, 0); }
  void save(std::span<const int32_t> prompt) {
    std::visit([&](auto* cache) { store_.save(prompt, *cache); }, cache_);
  }

 private:
  std::unique_ptr<InferenceContext> inner_;
  std::variant<KVCache*, LatentKVCache*> cache_;
  PrefixStore& store_;
  int64_t restored_ = 0;
};

}  // namespace r1::server
