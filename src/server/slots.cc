#include "server/slots.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "server/api.h"
#include "tokenizer/tokenizer.h"

namespace r1::server {

SlotLease::~SlotLease() {
  if (pool_) pool_->release(index_);
}

Session& SlotLease::session() const { return *pool_->sessions_[size_t(index_)]; }
JsonConstrainedContext& SlotLease::json_mode() const { return *pool_->json_[size_t(index_)]; }
StoredPrefixContext* SlotLease::stored() const { return pool_->stored_[size_t(index_)]; }

SlotPool::SlotPool(const Model& model, int n_slots, int64_t n_ctx, int n_threads, int max_queue, bool batching,
                   const std::string& cache_dir)
    : busy_(size_t(n_slots), false), n_ctx_(n_ctx), max_queue_(max_queue) {
  std::vector<int32_t> eos = model.config().eos_ids;
  if (model.tokenizer().eos_id() >= 0) eos.push_back(model.tokenizer().eos_id());
  if (batching) {
    pools_.push_back(std::make_unique<ThreadPool>(n_threads));
    engine_ = std::make_unique<BatchEngine>(model, n_slots, n_ctx, *pools_[0]);
  }
  if (!cache_dir.empty()) {
    if (!engine_) fail("--cache-dir works with batching only (not with --no-batch)");
    if (const DeepseekModel* ds = model.deepseek()) {
      store_ = std::make_unique<PrefixStore>(cache_dir, ds->config().n_layer, ds->config().latent_dim(),
                                            model.kv_cache_types().k);
    } else {
      const ModelConfig& c = model.config();
      store_ = std::make_unique<PrefixStore>(cache_dir, c.n_layer, c.n_head_kv, c.head_dim, model.kv_cache_types());
    }
  }
  for (int i = 0; i < n_slots; i++) {
    std::unique_ptr<InferenceContext> ctx;
    if (engine_) {
      ctx = engine_->context(i);
    } else {
      pools_.push_back(std::make_unique<ThreadPool>(std::max(1, n_threads / n_slots)));
      ctx = model.new_context(n_ctx, *pools_.back());
    }
    stored_.push_back(nullptr);
    if (store_) {
      auto stored = model.deepseek() ? std::make_unique<StoredPrefixContext>(std::move(ctx), engine_->latent_cache(i), *store_)
                                     : std::make_unique<StoredPrefixContext>(std::move(ctx), engine_->cache(i), *store_);
      stored_.back() = stored.get();
      ctx = std::move(stored);
    }
    auto json = std::make_unique<JsonConstrainedContext>(std::move(ctx), model.tokenizer(), eos);
    json_.push_back(json.get());
    sessions_.push_back(std::make_unique<Session>(model, std::move(json)));
  }
}

int SlotPool::busy() const {
  std::lock_guard lock(mu_);
  return int(std::count(busy_.begin(), busy_.end(), true));
}

int SlotPool::waiting() const {
  std::lock_guard lock(mu_);
  return waiting_;
}

std::optional<SlotLease> SlotPool::acquire(const std::vector<int32_t>& prompt, const std::function<bool()>& tick) {
  std::unique_lock lock(mu_);
  const bool all_busy = std::find(busy_.begin(), busy_.end(), false) == busy_.end();
  if ((all_busy || waiting_ > 0) && waiting_ >= max_queue_)
    throw ApiError(503, str("the server is busy: ", waiting_, " requests are already waiting"), "", "server_overloaded");
  const uint64_t ticket = next_ticket_++;
  waiting_++;
  for (;;) {
    if (ticket == serving_ && std::find(busy_.begin(), busy_.end(), false) != busy_.end()) break;
    if (cv_.wait_for(lock, std::chrono::seconds(1)) == std::cv_status::timeout) {
      lock.unlock();
      const bool go_on = !tick || tick();
      lock.lock();
      if (!go_on) {
        // Leaving the queue: our ticket must not hold up the ones behind it.
        waiting_--;
        if (ticket == serving_) {
          serving_++;
        } else {
          skipped_.push_back(ticket);
        }
        advance();
        cv_.notify_all();
        return std::nullopt;
      }
    }
  }
  // The free slot whose cache shares the most with this prompt (ties: the lowest index).
  int best = -1;
  size_t best_shared = 0;
  for (size_t i = 0; i < sessions_.size(); i++) {
    if (busy_[i]) continue;
    const auto& cached = sessions_[i]->cached_tokens();
    const size_t shared = size_t(std::mismatch(cached.begin(), cached.end(), prompt.begin(), prompt.end()).first - cached.begin());
    if (best < 0 || shared > best_shared) best = int(i), best_shared = shared;
  }
  busy_[size_t(best)] = true;
  waiting_--;
  serving_++;
  advance();
  cv_.notify_all();
  return SlotLease(this, best);
}

void SlotPool::advance() {
  // Tickets of requests that left the queue are passed over.
  for (bool moved = true; moved;) {
    moved = false;
    auto it = std::find(skipped_.begin(), skipped_.end(), serving_);
    if (it != skipped_.end()) {
      skipped_.erase(it);
      serving_++;
      moved = true;
    }
  }
}

void SlotPool::release(int index) {
  if (engine_) engine_->finished(index);
  std::lock_guard lock(mu_);
  busy_[size_t(index)] = false;
  cv_.notify_all();
}

}  // namespace r1::server
