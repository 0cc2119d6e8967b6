// The one inference interface every architecture implements, so that sessions, the CLI and the
// server never care whether the model is dense (Qwen2 / Llama) or DeepSeek (MLA + MoE).
// A context is one sequence: its cache holds the tokens at positions 0 .. n_past()-1.
#pragma once
#include <cstdint>

#include "core/error.h"

namespace r1 {

// Per-sequence state of a model: its KV cache and activation buffers.
class InferenceContext {
 public:
  virtual ~InferenceContext() = default;
  virtual int64_t n_past() const = 0;    // tokens in the cache
  virtual int64_t n_ctx() const = 0;     // capacity
  virtual void truncate(int64_t n) = 0;  // keep the first n cached tokens (n <= n_past())
  // Appends ids[0..n) at positions n_past()..; logits: all_logits ? [n][n_vocab] : [n_vocab].
  // Throws r1::Error when the tokens do not fit or an id is outside the vocabulary.
  virtual void forward(const int32_t* ids, int64_t n, bool all_logits, float* logits) = 0;

  // Self-speculative decoding with the model's own draft module (DeepSeek-V3's multi-token
  // prediction). enable_drafts() is false for a model without one; once it returned true, the
  // context keeps the module's cache in step with every forward() and truncate(), and
  // draft(next, logits) gives the module's logits [n_vocab] for position n_past()+1, given `next`,
  // the token chosen for position n_past() (which the next forward() then usually begins with).
  virtual bool enable_drafts() { return false; }
  virtual void draft(int32_t /*next*/, float* /*logits*/) { fail("this model has no draft (MTP) module"); }
};

}  // namespace r1
