#include "model/batch.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "model/deepseek_batch.h"
#include "model/model.h"
#include "model/token_rows.h"
#include "ops/attention.h"
#include "ops/elementwise.h"
#include "ops/matmul.h"
#include "ops/quant.h"
#include "util/threadpool.h"

namespace r1 {
namespace {

// How long a step waits for the sequences of the previous one (sampling a token over a large
// vocabulary takes milliseconds); a sequence that stops without finished() costs this once.
constexpr auto kGatherWait = std::chrono::milliseconds(50);

}  // namespace

// A sequence's face: an InferenceContext whose passes run on the engine's thread. It holds the
// sequence's cache of the model's kind (the other is null).
class BatchEngine::Sequence final : public InferenceContext {
 public:
  Sequence(BatchEngine& engine, int seq, KVCache* kv, LatentKVCache* latent)
      : engine_(engine), seq_(seq), kv_(kv), latent_(latent) {}
  int64_t n_past() const override { return kv_ ? kv_->size() : latent_->size(); }
  int64_t n_ctx() const override { return kv_ ? kv_->capacity() : latent_->capacity(); }
  void truncate(int64_t n) override { kv_ ? kv_->truncate(n) : latent_->truncate(n); }
  void forward(const int32_t* ids, int64_t n, bool all_logits, float* logits) override {
    Job job{seq_, ids, n, all_logits, logits, false, nullptr};
    engine_.submit(job);
  }

 private:
  BatchEngine& engine_;
  int seq_;
  KVCache* kv_;
  LatentKVCache* latent_;
};

BatchEngine::BatchEngine(const Model& model, int n_seq, int64_t n_ctx, ThreadPool& pool, int64_t max_batch)
    : model_(model), pool_(pool), step_logits_(size_t(std::max(n_seq, 0)) * size_t(model.n_vocab())),
      taken_(size_t(std::max(n_seq, 0)), false) {
  if (n_seq < 1) fail("batch engine: need at least one sequence");
  const int64_t batch = std::max<int64_t>(max_batch, n_seq);
  if (const DeepseekModel* ds = model.deepseek()) {
    deepseek_act_ = std::make_unique<DeepseekActivations>(ds->config(), batch, n_ctx, pool.size());
    latent_.reserve(size_t(n_seq));
    for (int i = 0; i < n_seq; i++) latent_.push_back(make_latent_cache(ds->config(), n_ctx, model.kv_cache_types().k));
  } else {
    const ModelConfig& c = model.config();
    act_ = std::make_unique<DenseActivations>(c, batch, n_ctx, pool.size());
    caches_.reserve(size_t(n_seq));
    for (int i = 0; i < n_seq; i++) caches_.emplace_back(c.n_layer, c.n_head_kv, c.head_dim, n_ctx, model.kv_cache_types());
  }
  thread_ = std::thread([this] { run(); });
}

BatchEngine::~BatchEngine() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  thread_.join();
}

std::unique_ptr<InferenceContext> BatchEngine::context(int i) {
  if (i < 0 || i >= int(taken_.size()) || taken_[size_t(i)]) fail("batch engine: sequence ", i, " is not available");
  taken_[size_t(i)] = true;
  if (deepseek_act_) return std::make_unique<Sequence>(*this, i, nullptr, &latent_[size_t(i)]);
  return std::make_unique<Sequence>(*this, i, &caches_[size_t(i)], nullptr);
}

KVCache& BatchEngine::cache(int i) {
  if (deepseek_act_) fail("batch engine: a DeepSeek model has latent caches, not dense KV caches");
  return caches_.at(size_t(i));
}

LatentKVCache& BatchEngine::latent_cache(int i) {
  if (!deepseek_act_) fail("batch engine: a dense model has no latent caches");
  return latent_.at(size_t(i));
}

void BatchEngine::finished(int i) {
  std::lock_guard lock(mu_);
  std::erase(last_step_, i);
  work_cv_.notify_one();
}

int64_t BatchEngine::steps() const {
  std::lock_guard lock(mu_);
  return steps_;
}

int64_t BatchEngine::batched_tokens() const {
  std::lock_guard lock(mu_);
  return batched_tokens_;
}

void BatchEngine::submit(Job& job) {
  std::unique_lock lock(mu_);
  queue_.push_back(&job);
  work_cv_.notify_one();
  done_cv_.wait(lock, [&] { return job.done; });
  if (job.error) std::rethrow_exception(job.error);
}

void BatchEngine::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    work_cv_.wait_for(lock, kGatherWait, [&] {
      return stopping_ || std::all_of(last_step_.begin(), last_step_.end(), [&](int seq) {
        return std::any_of(queue_.begin(), queue_.end(), [&](const Job* j) { return j->seq == seq; });
      });
    });
    if (stopping_) return;
    std::vector<Job*> jobs(queue_.begin(), queue_.end());
    queue_.clear();
    lock.unlock();

    // Single-token decodes go through together; prompts run alone. A job that cannot run (no
    // room, a bad id) fails by itself without holding up the others.
    std::vector<Job*> step;
    for (Job* j : jobs) {
      try {
        if (j->n == 1 && !j->all_logits) {
          check_step_token(*j);
          step.push_back(j);
        } else {
          forward_alone(*j);
        }
      } catch (...) {
        j->error = std::current_exception();
      }
    }
    if (!step.empty()) {
      try {
        forward_together(step);
        const size_t V = size_t(model_.n_vocab());
        for (size_t i = 0; i < step.size(); i++) std::memcpy(step[i]->logits, step_logits_.data() + i * V, V * sizeof(float));
      } catch (...) {
        for (Job* j : step) j->error = std::current_exception();
      }
    }

    lock.lock();
    if (!step.empty()) steps_++, batched_tokens_ += int64_t(step.size());
    last_step_.clear();
    for (Job* j : step) last_step_.push_back(j->seq);
    for (Job* j : jobs) j->done = true;
    done_cv_.notify_all();
  }
}

void BatchEngine::check_step_token(const Job& job) const {
  const size_t i = size_t(job.seq);
  deepseek_act_ ? latent_[i].check_room(1) : caches_[i].check_room(1);
  const int32_t id = job.ids[0];
  if (id < 0 || id >= model_.n_vocab()) fail("token id ", id, " is outside the vocabulary (", model_.n_vocab(), " tokens)");
}

void BatchEngine::forward_alone(const Job& job) {
  const size_t i = size_t(job.seq);
  if (const DeepseekModel* ds = model_.deepseek()) {
    deepseek_forward(ds->config(), ds->weights(), latent_[i], *deepseek_act_, pool_, job.ids, job.n, job.all_logits, job.logits);
  } else {
    dense_forward(model_.config(), model_.weights(), caches_[i], *act_, pool_, job.ids, job.n, job.all_logits, job.logits);
  }
}

void BatchEngine::forward_together(const std::vector<Job*>& step) {
  std::vector<int32_t> ids;
  for (const Job* j : step) ids.push_back(j->ids[0]);
  if (const DeepseekModel* ds = model_.deepseek()) {
    std::vector<LatentKVCache*> caches;
    for (const Job* j : step) caches.push_back(&latent_[size_t(j->seq)]);
    deepseek_forward_step(ds->config(), ds->weights(), caches, *deepseek_act_, pool_, ids.data(), step_logits_.data());
  } else {
    std::vector<KVCache*> caches;
    for (const Job* j : step) caches.push_back(&caches_[size_t(j->seq)]);
    forward_step(model_.config(), model_.weights(), caches, *act_, pool_, ids.data(), step_logits_.data());
  }
}

void BatchEngine::forward_step(const ModelConfig& c, const DenseWeights& w, const std::vector<KVCache*>& caches,
                               DenseActivations& act, ThreadPool& pool, const int32_t* ids, float* logits) {
  const int64_t n = int64_t(caches.size()), hd = c.head_dim, group = c.n_head / c.n_head_kv;
  if (n > act.max_batch) fail("batch step: ", n, " sequences but activations for ", act.max_batch);
  const float scale = 1.0f / std::sqrt(float(hd));
  embed_rows(w.token_embd, ids, n, c.n_embd, act.x.data(), pool);
  auto norm_rows = [&](const TensorView& weight) {
    rmsnorm_rows(act.x.data(), weight, n, c.n_embd, c.rms_eps, act.xn.data(), pool);
  };

  for (int64_t l = 0; l < c.n_layer; l++) {
    const LayerWeights& L = w.layers[size_t(l)];
    // Attention: projections over all sequences' tokens at once...
    norm_rows(L.attn_norm);
    matmul_shared_input({{&L.wq, act.q.data()}, {&L.wk, act.k.data()}, {&L.wv, act.v.data()}}, act.xn.data(), n,
                        pool);
    add_bias_rows(act.q.data(), L.bq, n, c.q_dim(), pool);
    add_bias_rows(act.k.data(), L.bk, n, c.kv_dim(), pool);
    add_bias_rows(act.v.data(), L.bv, n, c.kv_dim(), pool);
    for_tokens(pool, n, [&](int64_t i) {
      const int64_t pos = caches[size_t(i)]->size();
      act.rope.apply(act.q.data() + i * c.q_dim(), int(c.n_head), hd, pos);
      act.rope.apply(act.k.data() + i * c.kv_dim(), int(c.n_head_kv), hd, pos);
      for (int64_t h = 0; h < c.n_head_kv; h++) {
        const size_t at = size_t(i * c.kv_dim() + h * hd);
        caches[size_t(i)]->write(l, h, pos, act.k.data() + at, act.v.data() + at);
      }
    });
    // ...attention per sequence over its own cache, (sequence, key/value head) pairs spread over the
    // threads; the group's query heads share their keys (ops/attention.h). One sequence whose KV heads
    // do not divide between the threads splits their positions instead (dense.h).
    const int64_t parts = n == 1 ? decode_parts(c.n_head_kv, pool.size(), caches[0]->size() + 1) : 1;
    if (parts > 1) {
      attention_decode_split(c, *caches[0], l, caches[0]->size() + 1, parts, scale, act, pool);
    } else {
      pool.run([&](int tid, int nt) {
        float* scores = act.scores.data() + size_t(tid) * size_t(group * act.n_ctx);
        for (int64_t item = tid; item < n * c.n_head_kv; item += nt) {
          const int64_t i = item / c.n_head_kv, g = item % c.n_head_kv;
          const KVCache& cache = *caches[size_t(i)];
          const int64_t head0 = i * c.q_dim() + g * group * hd;
          // keys: the past and this token
          cache.attend(l, g, act.q.data() + head0, group, cache.size() + 1, scale, act.att.data() + head0, scores);
        }
      });
    }
    matmul(L.wo, act.att.data(), n, act.proj.data(), pool);
    add_rows(act.x.data(), act.proj.data(), n, c.n_embd, pool);
    // MLP over all tokens: x += down(silu(gate(xn)) * up(xn)).
    norm_rows(L.ffn_norm);
    matmul_shared_input({{&L.w_gate, act.gate.data()}, {&L.w_up, act.up.data()}}, act.xn.data(), n, pool);
    swiglu_rows(act.gate.data(), act.up.data(), n, c.n_ff, pool);
    matmul(L.w_down, act.gate.data(), n, act.proj.data(), pool);
    add_rows(act.x.data(), act.proj.data(), n, c.n_embd, pool);
  }
  for (KVCache* cache : caches) cache->advance(1);
  norm_rows(w.output_norm);
  matmul(w.output, act.xn.data(), n, logits, pool);
}

}  // namespace r1
