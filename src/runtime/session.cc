#include "runtime/session.h"

#include <algorithm>

#include "core/error.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"
#include "util/timer.h"

namespace r1 {
namespace {

// What a reasoning budget forces when it runs out: close the block and start the answer.
constexpr const char* kForcedThinkEnd = "\n</think>\n\n";

int32_t argmax(const float* x, int64_t n) { return int32_t(std::max_element(x, x + n) - x); }

}  // namespace

Session::Session(const Model& model, int64_t n_ctx, int n_threads)
    : model_(model), pool_(std::make_unique<ThreadPool>(n_threads)) {
  context_ = model.new_context(n_ctx, *pool_);
  eos_ids_ = model.config().eos_ids;
  if (model.tokenizer().eos_id() >= 0) eos_ids_.push_back(model.tokenizer().eos_id());
}

Session::Session(const Model& model, std::unique_ptr<InferenceContext> context)
    : model_(model), context_(std::move(context)) {
  if (!context_) fail("session: no inference context given");
  eos_ids_ = model.config().eos_ids;
  if (model.tokenizer().eos_id() >= 0) eos_ids_.push_back(model.tokenizer().eos_id());
}

Session::~Session() = default;

bool Session::is_eos(int32_t id) const { return std::find(eos_ids_.begin(), eos_ids_.end(), id) != eos_ids_.end(); }

void Session::forward(const int32_t* ids, int64_t n, bool all_logits, float* logits) {
  try {
    context_->forward(ids, n, all_logits, logits);
  } catch (...) {
    // A failed pass may have written part of the cache: start the next call from scratch.
    context_->truncate(0);
    cached_.clear();
    throw;
  }
  cached_.insert(cached_.end(), ids, ids + n);
}

int64_t Session::reuse_prefix(const std::vector<int32_t>& prompt) {
  const auto shared = std::mismatch(cached_.begin(), cached_.end(), prompt.begin(), prompt.end()).first;
  // The last prompt token is always recomputed: its logits choose the first new token.
  const int64_t keep = std::min<int64_t>(shared - cached_.begin(), int64_t(prompt.size()) - 1);
  context_->truncate(keep);
  cached_.resize(size_t(keep));
  return keep;
}

bool Session::prompt_ends_in_reasoning(const std::vector<int32_t>& prompt) const {
  const std::string text = model_.tokenizer().decode(prompt);
  const size_t open = text.rfind("<think>"), close = text.rfind("</think>");
  return open != std::string::npos && (close == std::string::npos || open > close);
}

GenerationResult Session::generate(const std::vector<int32_t>& prompt, const GenerationParams& params,
                                   const std::function<bool(const StreamEvent&)>& on_event) {
  const int64_t n_ctx = context_->n_ctx(), n_vocab = model_.n_vocab();
  if (prompt.empty()) fail("generate: the prompt is empty");
  if (int64_t(prompt.size()) > n_ctx) fail("prompt has ", prompt.size(), " tokens but the context is ", n_ctx);
  const Tokenizer& tok = model_.tokenizer();
  Sampler sampler(params.sampling);
  StreamDecoder decoder(tok, /*skip_special=*/true);
  ChannelSplitter splitter(params.stop, prompt_ends_in_reasoning(prompt));

  if (params.mtp && !drafting_) {
    if (!context_->enable_drafts()) fail("mtp: this model has no multi-token-prediction (MTP) module");
    drafting_ = true;
    draft_logits_.assign(size_t(n_vocab), 0.0f);
    verify_logits_.assign(size_t(2 * n_vocab), 0.0f);
  }

  GenerationResult r;
  r.prompt_tokens = int64_t(prompt.size());
  logits_.assign(size_t(n_vocab), 0.0f);
  Timer timer;
  r.cached_prompt_tokens = reuse_prefix(prompt);
  forward(prompt.data() + r.cached_prompt_tokens, r.prompt_tokens - r.cached_prompt_tokens, false, logits_.data());
  r.prefill_seconds = timer.seconds();
  timer.reset();

  // Shows chunks (at least one event per token); false once the caller wants to stop.
  std::vector<TextChunk> chunks;
  auto deliver = [&](int32_t id) {
    bool go_on = true;
    if (chunks.empty() && id >= 0) chunks.push_back({splitter.channel(), ""});
    for (TextChunk& c : chunks) {
      (c.channel == Channel::Reasoning ? r.reasoning : r.answer) += c.text;
      if (on_event && !on_event(StreamEvent{id, std::move(c.text), c.channel})) go_on = false;
    }
    chunks.clear();
    return go_on;
  };

  std::vector<int32_t> history = prompt;  // what the penalties look at
  std::vector<int32_t> forced;            // tokens to emit instead of sampling (reversed)
  bool budget_spent = false;
  bool pending = false;  // history.back() is generated but not yet in the cache
  int32_t draft = -1;    // with params.mtp: the unchecked draft cached after history.back()
  bool draft_kept = false;  // the last token was the draft: verify_logits_ row 1 holds the next logits
  for (;;) {
    if (params.max_tokens >= 0 && r.completion_tokens >= params.max_tokens) {
      r.finish_reason = "length";
      break;
    }
    // Another token must still fit in the context next to everything before it.
    if (int64_t(cached_.size()) + (pending ? 1 : 0) >= n_ctx) {
      r.finish_reason = "context";
      break;
    }
    if (pending && params.mtp) {
      // Draft the token after the pending one and run both (the check above left room for two):
      // row 0 gives this step's exact logits.
      context_->draft(history.back(), draft_logits_.data());
      draft = argmax(draft_logits_.data(), n_vocab);
      const int32_t pair[2] = {history.back(), draft};
      forward(pair, 2, true, verify_logits_.data());
      std::copy_n(verify_logits_.data(), n_vocab, logits_.data());
      r.draft_tokens++;
    } else if (pending) {
      forward(&history.back(), 1, false, logits_.data());
    } else if (draft_kept) {
      std::copy_n(verify_logits_.data() + n_vocab, n_vocab, logits_.data());
    }
    pending = draft_kept = false;

    const bool reasoning = splitter.channel() == Channel::Reasoning;
    if (reasoning && params.reasoning_budget >= 0 && r.reasoning_tokens >= params.reasoning_budget && !budget_spent) {
      budget_spent = true;
      forced = tok.encode(kForcedThinkEnd, /*add_special=*/false);
      std::reverse(forced.begin(), forced.end());
    }
    int32_t id;
    if (!forced.empty()) {
      id = forced.back();
      forced.pop_back();
    } else {
      id = sampler.sample(logits_.data(), n_vocab, history);
    }
    if (draft >= 0) {
      draft_kept = id == draft;
      if (draft_kept) {
        r.accepted_draft_tokens++;
      } else {  // the draft is not the sequence: drop it from the cache
        context_->truncate(int64_t(cached_.size()) - 1);
        cached_.pop_back();
      }
      draft = -1;
    }
    if (is_eos(id) && !params.ignore_eos) {
      r.finish_reason = "eos";
      break;
    }
    history.push_back(id);
    pending = !draft_kept;  // a kept draft is in the cache already
    r.tokens.push_back(id);
    r.completion_tokens++;
    const bool stopped = splitter.push(decoder.push(id), chunks);
    if (reasoning || splitter.channel() == Channel::Reasoning) r.reasoning_tokens++;  // markers included
    const bool go_on = deliver(id);
    if (stopped) {
      r.finish_reason = "stop";
      break;
    }
    if (!go_on) {
      r.finish_reason = "cancelled";
      break;
    }
  }
  if (!splitter.stopped()) {
    splitter.push(decoder.flush(), chunks);
    splitter.flush(chunks);
    deliver(-1);
  }
  r.text = splitter.text();
  r.decode_seconds = timer.seconds();
  const int64_t computed = r.prompt_tokens - r.cached_prompt_tokens;
  if (r.prefill_seconds > 0) r.prefill_tokens_per_second = double(computed) / r.prefill_seconds;
  if (r.decode_seconds > 0) r.decode_tokens_per_second = double(r.completion_tokens) / r.decode_seconds;
  return r;
}

std::vector<float> Session::logits(const std::vector<int32_t>& ids, int64_t ubatch) {
  if (ids.empty()) fail("logits: no tokens given");
  if (ubatch < 0) fail("logits: negative batch size ", ubatch);
  if (int64_t(ids.size()) > context_->n_ctx()) fail("prompt has ", ids.size(), " tokens but the context is ", context_->n_ctx());
  context_->truncate(0);
  cached_.clear();
  std::vector<float> out(ids.size() * size_t(model_.n_vocab()));
  const int64_t n = int64_t(ids.size()), step = ubatch > 0 ? ubatch : n;
  for (int64_t i = 0; i < n; i += step) {
    forward(ids.data() + i, std::min(step, n - i), true, out.data() + size_t(i) * size_t(model_.n_vocab()));
  }
  return out;
}

std::vector<int32_t> Session::chat_prompt(const std::vector<ChatMessage>& messages) const {
  const Tokenizer& tok = model_.tokenizer();
  const std::string bos = tok.bos_id() >= 0 ? tok.piece(tok.bos_id()) : std::string();
  const std::string text = render_chat(messages, /*add_generation_prompt=*/true, detect_chat_format(model_.chat_template()), bos);
  return tok.encode(text, /*add_special=*/false);
}

}  // namespace r1
