// The server's generation slots: -np Sessions over one model, each with its own KV cache. A
// request takes the free slot whose cache shares the longest prefix with its prompt (so the next
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

#include "model/model.h"
#include "runtime/session.h"

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
  int index() const { return index_; }

 private:
  SlotPool* pool_;
  int index_;
};

class SlotPool {
 public:
  // n_slots sessions of n_ctx tokens, each decoding on threads_per_slot threads.
  SlotPool(const Model& model, int n_slots, int64_t n_ctx, int threads_per_slot, int max_queue);

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

 private:
  friend class SlotLease;
  void release(int index);
  void advance();  // moves serving_ past the tickets of requests that gave up

  std::vector<std::unique_ptr<Session>> sessions_;
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
