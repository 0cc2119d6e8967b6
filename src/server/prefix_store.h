// --cache-dir: prompt prefixes whose KV cache persists on disk across restarts, like DeepSeek's
// context caching. After a request, the KV of its prompt is written to DIR (one file per prompt,
// named by a hash of its tokens, written atomically); a later request -- also after a restart --
// whose prompt begins with the same tokens loads those positions instead of computing them.
// Because attention is causal, any shared prefix of a stored prompt can be reused, not only the
// whole of it. Dense models (the slots' caches of the batch engine) only, for now.
//
// File: "R1KV0001", u32 n_layer, n_head_kv, head_dim, n_tokens, i32 tokens[n_tokens], then for
// each layer, each kv head: n_tokens keys, then n_tokens values, each head_dim float32.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <utility>
#include <string>
#include <vector>

#include "model/context.h"
#include "model/kv_cache.h"

namespace r1::server {

class PrefixStore {
 public:
  // Reads the index of DIR (created if missing); files of another model shape or damaged ones
  // are skipped. Throws r1::Error when the directory cannot be created.
  PrefixStore(const std::string& dir, int64_t n_layer, int64_t n_head_kv, int64_t head_dim);

  // Loads into `cache` (emptied first) the longest stored prefix of ids, at most max_tokens long;
  // returns how many positions it holds (0: nothing stored matches).
  int64_t load(std::span<const int32_t> ids, int64_t max_tokens, KVCache& cache);
  // Stores the first tokens.size() positions of `cache` (unless that prompt is stored already).
  void save(std::span<const int32_t> tokens, const KVCache& cache);

  size_t size() const;  // stored prompts

 private:
  struct Entry {
    std::string path;
    std::vector<int32_t> tokens;
  };
  std::string dir_;
  int64_t n_layer_, n_head_kv_, head_dim_;
  mutable std::mutex mu_;
  std::vector<Entry> entries_;
};

// A slot's context that, when a prompt arrives at an empty cache, first fills the cache from
// the store. The tokens it restored for the last prompt are reported for usage and metrics.
class StoredPrefixContext final : public InferenceContext {
 public:
  StoredPrefixContext(std::unique_ptr<InferenceContext> inner, KVCache& cache, PrefixStore& store)
      : inner_(std::move(inner)), cache_(cache), store_(store) {}

  int64_t n_past() const override { return inner_->n_past(); }
  int64_t n_ctx() const override { return inner_->n_ctx(); }
  void truncate(int64_t n) override { inner_->truncate(n); }
  void forward(const int32_t* ids, int64_t n, bool all_logits, float* logits) override;

  // Positions of the last prompt that came from disk (reset by take).
  int64_t take_restored() { return std::exchange(restored_, 0); }
  void save(std::span<const int32_t> prompt) { store_.save(prompt, cache_); }

 private:
  std::unique_ptr<InferenceContext> inner_;
  KVCache& cache_;
  PrefixStore& store_;
  int64_t restored_ = 0;
};

}  // namespace r1::server
