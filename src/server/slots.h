// The server's generation slots: -np Sessions over one model, each with its own KV cache. The
// slots' decode steps are batched (model/batch.h: one forward pass for every slot generating at
// that moment, dense or DeepSeek). A request takes the free slot whose cache shares the longest prefix with its prompt (so the next
// turn of a chat, or a repeated system prompt, reuses the computed KV), waits in FIFO order while
// all are busy, and is refused when the queue is full.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "model/batch.h"
#include "model/model.h"
#include "runtime/session.h"
#include "server/json_mode.h"
#include "server/prefix_store.h"
#include "util/threadpool.h"

namespace r1::server {

class SlotPool;

// A slot held by one request; given back when it goes out of scope.
class SlotLease {
 public:
  SlotLease(SlotPool* pool, int index) : pool_(pool), index_(index) {}
  SlotLease(SlotLease&& o) noexcept : pool_(o.pool_), index_(o.index_) { o.pool_ = nullptr; }
  SlotLease(const SlotLease&) = delete;
  ~SlotLease();
  Session& session() const;
  JsonConstrainedContext& json_mode() const;  // arm it before generate() for JSON output
  StoredPrefixContext* stored() const;          // the --cache-dir side of the slot; null without one
  int index() const { return index_; }

 private:
  SlotPool* pool_;
  int index_;
};

class SlotPool {
 public:
  // n_slots sessions of n_ctx tokens on n_threads threads in all; batched when `batching`, else
  // each slot decodes alone on n_threads / n_slots threads. A non-empty cache_dir keeps prompt
  // prefixes on disk (prefix_store.h; needs batching).
  SlotPool(const Model& model, int n_slots, int64_t n_ctx, int n_threads, int max_queue, bool batching,
           const std::string& cache_dir = "");

  // Waits for a slot (FIFO). `tick` is called about once a second while waiting; returning false
  // gives up (the client left) and acquire returns nullopt. Throws ApiError 503 when max_queue
  // requests are already waiting.
  std::optional<SlotLease> acquire(const std::vector<int32_t>& prompt, const std::function<bool()>& tick);

  // The chat template applied to messages, encoded (Session::chat_prompt; reads only the model).
  std::vector<int32_t> chat_prompt(const std::vector<ChatMessage>& messages) const { return sessions_[0]->chat_prompt(messages); }

  int size() const { return int(sessions_.size()); }
  int busy() const;
  int waiting() const;
  int64_t n_ctx() const { return n_ctx_; }
  const BatchEngine* engine() const { return engine_.get(); }  // null when not batching

 private:
  friend class SlotLease;
  void release(int index);
  void advance();  // moves serving_ past the tickets of requests that gave up

  std::vector<std::unique_ptr<ThreadPool>> pools_;  // one for the batch engine, or one per slot
  std::unique_ptr<BatchEngine> engine_;  // before sessions_, whose contexts it serves
  std::vector<std::unique_ptr<Session>> sessions_;
  std::unique_ptr<PrefixStore> store_;
  std::vector<JsonConstrainedContext*> json_;  // each session's context
  std::vector<StoredPrefixContext*> stored_;   // the layer under it, with --cache-dir
  std::vector<bool> busy_;
  int64_t n_ctx_;
  int max_queue_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t next_ticket_ = 0, serving_ = 0;  // FIFO: the ticket == serving_ request goes next
  std::vector<uint64_t> skipped_;  // tickets of requests that left the queue
  int waiting_ = 0;
};

}  // namespace r1::server
