// A generation session: one model, one sequence (an InferenceContext of n_ctx tokens) and the list
// of tokens in its cache. generate() prefills a prompt, then samples token by token, streaming the
// text split into reasoning and answer (see channel_splitter.h) until EOS, a stop string, a limit,
// a full context or the caller says stop. A next prompt that begins like the cached tokens (the
// same chat with one more turn, the same system prompt) only computes the new part.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/context.h"
#include "model/model.h"
#include "runtime/channel_splitter.h"
#include "runtime/sampler.h"
#include "tokenizer/chat_template.h"
#include "util/threadpool.h"

namespace r1 {

struct GenerationParams {
  SamplerParams sampling;
  int64_t max_tokens = -1;  // generated tokens at most; -1: until EOS or the context is full
  std::vector<std::string> stop;  // stop strings (never shown); empty strings are ignored
  bool ignore_eos = false;        // keep going past EOS (for benchmarks)
  // Reasoning tokens at most; when reached, "\n</think>\n\n" is forced and the model answers.
  // The forced tokens count as generated (and "\n</think>" as reasoning). -1: no limit.
  int64_t reasoning_budget = -1;
  // Self-speculative decoding with the model's MTP module (DeepSeek-V3/R1): each step drafts the
  // token after the chosen one and checks both in one 2-token pass; the draft is kept iff the token
  // chosen from the exact logits equals it, so the output (greedy, or sampled with a seed) is the
  // same as without. Throws r1::Error for a model without an MTP module.
  bool mtp = false;
};

// Text of one step of the stream. Every generated token (not the EOS that ends the generation)
// gives at least one event; its text (complete UTF-8 only) may be empty while a character, a
// marker or a possible stop string is still open, or hold earlier tokens' held-back text. A token
// whose text crosses "</think>" gives one event per channel. At the end (also after a cancel),
// held-back text comes with token -1.
struct StreamEvent {
  int32_t token;
  std::string text;
  Channel channel;
};

struct GenerationResult {
  std::string reasoning;  // the reasoning channel's text
  std::string answer;     // the answer channel's text
  std::string text;       // all generated text, <think> / </think> included, cut at the stop string
  std::vector<int32_t> tokens;  // generated ids, without the final EOS
  std::string finish_reason;    // "stop" | "length" | "eos" | "cancelled" | "context"
  int64_t prompt_tokens = 0;
  int64_t cached_prompt_tokens = 0;  // prompt tokens reused from the previous call's cache
  int64_t completion_tokens = 0;     // == tokens.size()
  int64_t reasoning_tokens = 0;      // tokens of the think block, <think> and </think> included
  double prefill_seconds = 0, decode_seconds = 0;
  double prefill_tokens_per_second = 0;  // prompt tokens actually computed / prefill_seconds
  double decode_tokens_per_second = 0;   // completion_tokens / decode_seconds
  int64_t draft_tokens = 0;           // MTP drafts checked (params.mtp)
  int64_t accepted_draft_tokens = 0;  // of them, equal to the chosen token
};

class Session {
 public:
  // A context of n_ctx tokens run on n_threads threads (<= 0: all cores). The model must outlive it.
  Session(const Model& model, int64_t n_ctx, int n_threads);
  // Over a context made elsewhere (another architecture's, or a test's scripted one).
  Session(const Model& model, std::unique_ptr<InferenceContext> context);
  ~Session();

  // Generates a continuation of `prompt` (token ids, BOS included if wanted). on_event may be
  // empty; returning false from it stops the generation ("cancelled"). Throws r1::Error for an
  // empty prompt or one longer than the context.
  GenerationResult generate(const std::vector<int32_t>& prompt, const GenerationParams& params,
                            const std::function<bool(const StreamEvent&)>& on_event = {});

  // Logits of every position of ids, computed from an empty cache: [ids.size()][n_vocab]. ubatch > 0
  // feeds the ids that many per forward pass (1: token by token, as decode runs); 0: all in one.
  std::vector<float> logits(const std::vector<int32_t>& ids, int64_t ubatch = 0);

  // The model's chat template rendered with the generation prompt, and encoded. The template
  // writes BOS itself, so none is added.
  std::vector<int32_t> chat_prompt(const std::vector<ChatMessage>& messages) const;

  int64_t n_ctx() const { return context_->n_ctx(); }
  const std::vector<int32_t>& cached_tokens() const { return cached_; }  // the tokens in the cache
  // The logits the last token of generate() was chosen from (with max_tokens = 0: the prompt's
  // next-token logits), [n_vocab].
  const std::vector<float>& last_logits() const { return logits_; }

 private:
  // Makes the cache hold prompt[0..n) with n = the longest shared prefix, at most prompt.size()-1.
  int64_t reuse_prefix(const std::vector<int32_t>& prompt);
  // Runs ids through the model, keeping cached_ in step; on failure the cache is emptied.
  void forward(const int32_t* ids, int64_t n, bool all_logits, float* logits);
  bool is_eos(int32_t id) const;
  bool prompt_ends_in_reasoning(const std::vector<int32_t>& prompt) const;

  const Model& model_;
  std::unique_ptr<ThreadPool> pool_;  // before context_, which runs on it
  std::unique_ptr<InferenceContext> context_;
  std::vector<int32_t> cached_;
  std::vector<float> logits_;
  std::vector<int32_t> eos_ids_;
  bool drafting_ = false;             // the context keeps its MTP cache (enabled by a params.mtp call)
  std::vector<float> draft_logits_;   // [n_vocab] the MTP module's logits
  std::vector<float> verify_logits_;  // [2][n_vocab] of a checked pair: the chosen token, the draft
};

}  // namespace r1
