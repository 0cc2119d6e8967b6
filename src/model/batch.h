// Continuous batching: many sequences, each with its own KV cache (a dense model's KVCache, or a
// DeepSeek model's LatentKVCache, whose step is deepseek_batch.h), share one engine thread that
// runs every forward pass. Whenever several sequences want
// their next single token computed, they go through the model together: each projection is one
// matrix product over all of their tokens (the weights stream from memory once per step instead
// of once per sequence), while attention runs per sequence over its own cache. A sequence that
// arrives later simply joins the next step.
//
// Each sequence is an ordinary InferenceContext (so a Session drives it unchanged): its forward()
// hands the tokens to the engine and waits for the step that ran them. Prompts (n > 1) are run
// alone, between steps. After a step the engine waits a moment (at most kGatherWait) for the
// sequences of that step to come back with their next token, so that they stay in one batch
// instead of drifting apart by the time each spends sampling; finished(i) says that sequence i
// will not come back (its generation ended).
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "model/context.h"
#include "model/deepseek_forward.h"
#include "model/dense.h"
#include "model/kv_cache.h"

namespace r1 {

class Model;
class ThreadPool;

class BatchEngine {
 public:
  // n_seq sequences of n_ctx tokens (caches of model.kv_cache_types()), computed on `pool`. Model and pool must outlive the engine;
  // the engine must outlive its contexts.
  BatchEngine(const Model& model, int n_seq, int64_t n_ctx, ThreadPool& pool, int64_t max_batch = 512);
  ~BatchEngine();

  // The context of sequence i (0 <= i < n_seq), to be taken once.
  std::unique_ptr<InferenceContext> context(int i);

  // Sequence i's cache (for saving and restoring prefixes while it is not in a pass): cache() for
  // a dense model, latent_cache() for a DeepSeek model; the other throws r1::Error.
  KVCache& cache(int i);
  LatentKVCache& latent_cache(int i);

  // Sequence i's generation has ended: the next step need not wait for it.
  void finished(int i);

  // Batched decode steps run so far and the tokens they held (for tests and metrics).
  int64_t steps() const;
  int64_t batched_tokens() const;

  // One decode step for sequences `seqs`: token ids[i] is appended to cache caches[i];
  // logits [n][n_vocab]. Exposed for tests that compare it with dense_forward.
  static void forward_step(const ModelConfig& c, const DenseWeights& w, const std::vector<KVCache*>& caches,
                           DenseActivations& act, ThreadPool& pool, const int32_t* ids, float* logits);

 private:
  class Sequence;
  struct Job {
    int seq;
    const int32_t* ids;
    int64_t n;
    bool all_logits;
    float* logits;
    bool done = false;
    std::exception_ptr error;
  };
  // Called by a sequence's forward(): queues the job and waits until the engine ran it.
  void submit(Job& job);
  void run();
  // The passes, on the engine thread: a job alone (a prompt), or one step of single tokens.
  void forward_alone(const Job& job);
  void forward_together(const std::vector<Job*>& step);
  void check_step_token(const Job& job) const;  // throws if the job cannot join a step

  const Model& model_;
  ThreadPool& pool_;
  std::vector<KVCache> caches_;            // dense models
  std::vector<LatentKVCache> latent_;      // DeepSeek models
  std::unique_ptr<DenseActivations> act_;  // the one of the model's kind
  std::unique_ptr<DeepseekActivations> deepseek_act_;
  std::vector<float> step_logits_;  // [n_seq][n_vocab]
  std::vector<bool> taken_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<Job*> queue_;
  std::vector<int> last_step_;  // the sequences of the previous step, expected back soon
  bool stopping_ = false;
  int64_t steps_ = 0, batched_tokens_ = 0;
  std::thread thread_;
};

}  // namespace r1
