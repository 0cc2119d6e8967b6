#include "runtime/batch_generate.h"

#include <algorithm>
#include <exception>
#include <memory>
#include <string>

#include "core/error.h"
#include "runtime/batch_slots.h"
#include "runtime/channel_splitter.h"
#include "runtime/sampler.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"
#include "util/threadpool.h"
#include "util/timer.h"

namespace r1 {
namespace {

constexpr int64_t kDefaultCtx = 4096;                      // when the model does not say
constexpr const char* kForcedThinkEnd = "\n</think>\n\n";  // what a spent reasoning budget forces (as Session)

int64_t context_size(const Model& model, const std::vector<std::vector<int32_t>>& prompts, const GenerationParams& params,
                     const BatchGenerateOptions& options) {
  int64_t limit = options.n_ctx;
  if (limit <= 0) limit = model.config().n_ctx_train > 0 ? model.config().n_ctx_train : kDefaultCtx;
  if (params.max_tokens < 0) return limit;
  size_t longest = 0;
  for (const auto& p : prompts) longest = std::max(longest, p.size());
  // No sample needs more: "length" ends it before the context is full. (A prompt longer than
  // the limit fails when its turn comes.)
  return std::min(limit, int64_t(longest) + params.max_tokens);
}

// One generation in flight: Session::generate's loop cut into steps (room for another token,
// choose it from logits), so that many of them can share the model's passes.
struct Generation {
  Generation(const Tokenizer& tok, const GenerationParams& gp, const std::vector<int32_t>& prompt, bool in_reasoning)
      : params(gp), sampler(gp.sampling), decoder(tok, /*skip_special=*/true), splitter(gp.stop, in_reasoning),
        history(prompt) {
    r.prompt_tokens = int64_t(prompt.size());
  }

  // The checks at the top of Session's loop: may another token be generated?
  bool room(int64_t n_ctx) {
    if (params.max_tokens >= 0 && r.completion_tokens >= params.max_tokens) {
      r.finish_reason = "length";
      return false;
    }
    // The cache holds the prompt and all generated tokens but the last, which must fit too.
    if (r.prompt_tokens + r.completion_tokens >= n_ctx) {
      r.finish_reason = "context";
      return false;
    }
    return true;
  }

  // Chooses the next token from logits; false when the generation ended (EOS, a stop string).
  bool pick(const float* logits, int64_t n_vocab, const std::vector<int32_t>& eos_ids,
            const std::vector<int32_t>& forced_think_end) {
    const bool reasoning = splitter.channel() == Channel::Reasoning;
    if (reasoning && params.reasoning_budget >= 0 && r.reasoning_tokens >= params.reasoning_budget && !budget_spent) {
      budget_spent = true;
      forced.assign(forced_think_end.rbegin(), forced_think_end.rend());
    }
    int32_t id;
    if (!forced.empty()) {
      id = forced.back();
      forced.pop_back();
    } else {
      id = sampler.sample(logits, n_vocab, history);
    }
    if (!params.ignore_eos && std::find(eos_ids.begin(), eos_ids.end(), id) != eos_ids.end()) {
      r.finish_reason = "eos";
      return false;
    }
    history.push_back(id);
    r.tokens.push_back(id);
    r.completion_tokens++;
    const bool stopped = splitter.push(decoder.push(id), chunks);
    if (reasoning || splitter.channel() == Channel::Reasoning) r.reasoning_tokens++;  // markers included
    deliver();
    if (stopped) {
      r.finish_reason = "stop";
      return false;
    }
    return true;
  }

  GenerationResult finish() {
    if (!splitter.stopped()) {
      splitter.push(decoder.flush(), chunks);
      splitter.flush(chunks);
      deliver();
    }
    r.text = splitter.text();
    r.decode_seconds = decode_timer.seconds();
    const int64_t computed = r.prompt_tokens - r.cached_prompt_tokens;
    if (r.prefill_seconds > 0) r.prefill_tokens_per_second = double(computed) / r.prefill_seconds;
    if (r.decode_seconds > 0) r.decode_tokens_per_second = double(r.completion_tokens) / r.decode_seconds;
    return std::move(r);
  }

  void deliver() {
    for (TextChunk& c : chunks) (c.channel == Channel::Reasoning ? r.reasoning : r.answer) += c.text;
    chunks.clear();
  }

  GenerationParams params;
  Sampler sampler;
  StreamDecoder decoder;
  ChannelSplitter splitter;
  std::vector<int32_t> history;  // prompt and generated tokens (what the penalties look at)
  std::vector<int32_t> forced;   // tokens to emit instead of sampling (reversed)
  bool budget_spent = false;
  std::vector<TextChunk> chunks;
  GenerationResult r;
  Timer decode_timer;
  size_t sample = 0;  // its index in the results
};

bool ends_in_reasoning(const Tokenizer& tok, const std::vector<int32_t>& prompt) {
  const std::string text = tok.decode(prompt);
  const size_t open = text.rfind("<think>"), close = text.rfind("</think>");
  return open != std::string::npos && (close == std::string::npos || open > close);
}

}  // namespace

BatchGeneration batch_generate(const Model& model, const std::vector<std::vector<int32_t>>& prompts,
                               const std::vector<int64_t>& samples, const GenerationParams& params,
                               const BatchGenerateOptions& options) {
  if (prompts.size() != samples.size())
    fail("batch generate: ", prompts.size(), " prompts but ", samples.size(), " sample counts");
  if (params.mtp) fail("batch generate: MTP drafting is not supported with batching");
  if (options.max_parallel < 1) fail("batch generate: max_parallel must be >= 1, got ", options.max_parallel);
  std::vector<size_t> prompt_of;  // sample s -> its prompt, prompt-major
  for (size_t p = 0; p < prompts.size(); p++) {
    if (samples[p] < 0) fail("batch generate: prompt ", p, " has a negative sample count (", samples[p], ")");
    if (samples[p] > 0 && prompts[p].empty()) fail("batch generate: prompt ", p, " is empty");
    prompt_of.insert(prompt_of.end(), size_t(samples[p]), p);
  }
  Timer timer;
  BatchGeneration out;
  out.results.resize(prompt_of.size());
  if (prompt_of.empty()) return out;

  const Tokenizer& tok = model.tokenizer();
  const int64_t n_ctx = context_size(model, prompts, params, options), V = model.n_vocab();
  const int n_slots = int(std::min<size_t>(size_t(options.max_parallel), prompt_of.size()));
  std::vector<int32_t> eos_ids = model.config().eos_ids;
  if (tok.eos_id() >= 0) eos_ids.push_back(tok.eos_id());
  const std::vector<int32_t> forced_think_end = tok.encode(kForcedThinkEnd, /*add_special=*/false);
  std::vector<bool> in_reasoning(prompts.size());
  for (size_t p = 0; p < prompts.size(); p++) in_reasoning[p] = samples[p] > 0 && ends_in_reasoning(tok, prompts[p]);

  ThreadPool pool(options.threads);
  BatchSlots slots(model, n_slots, n_ctx, pool);
  std::vector<std::unique_ptr<Generation>> live(static_cast<size_t>(n_slots));
  std::vector<std::vector<int32_t>> cached(static_cast<size_t>(n_slots));  // the tokens in each slot's cache
  std::vector<float> logits(static_cast<size_t>(V));
  size_t next = 0;

  // Puts the next sample that does not end at once into slot i: its prompt is computed (after
  // the prefix the slot already holds, as Session reuses its cache) and its first token chosen.
  auto fill = [&](int i) {
    while (next < prompt_of.size()) {
      const size_t s = next++;
      const std::vector<int32_t>& prompt = prompts[prompt_of[s]];
      if (int64_t(prompt.size()) > n_ctx) fail("prompt has ", prompt.size(), " tokens but the context is ", n_ctx);
      GenerationParams gp = params;
      gp.sampling.seed = params.sampling.seed + uint64_t(s);
      auto g = std::make_unique<Generation>(tok, gp, prompt, in_reasoning[prompt_of[s]]);
      g->sample = s;
      std::vector<int32_t>& c = cached[size_t(i)];
      const auto shared = std::mismatch(c.begin(), c.end(), prompt.begin(), prompt.end()).first - c.begin();
      const int64_t keep = std::min<int64_t>(shared, int64_t(prompt.size()) - 1);  // the last is always recomputed
      Timer prefill;
      slots.truncate(i, keep);
      c.resize(size_t(keep));
      slots.prompt(i, prompt.data() + keep, int64_t(prompt.size()) - keep, logits.data());
      c = prompt;
      g->r.cached_prompt_tokens = keep;
      g->r.prefill_seconds = prefill.seconds();
      g->decode_timer.reset();
      if (g->room(n_ctx) && g->pick(logits.data(), V, eos_ids, forced_think_end) && g->room(n_ctx)) {
        live[size_t(i)] = std::move(g);
        return;
      }
      out.results[s] = g->finish();
    }
  };
  for (int i = 0; i < n_slots; i++) fill(i);

  std::vector<float> step_logits(static_cast<size_t>(n_slots) * static_cast<size_t>(V));
  std::vector<int> active;
  std::vector<int32_t> ids;
  std::vector<char> going;
  std::vector<std::exception_ptr> errors;
  for (;;) {
    active.clear();
    ids.clear();
    for (int i = 0; i < n_slots; i++) {
      if (!live[size_t(i)]) continue;
      active.push_back(i);
      ids.push_back(live[size_t(i)]->history.back());
    }
    if (active.empty()) break;
    // One pass for every live sequence's pending token...
    slots.step(active, ids.data(), step_logits.data());
    out.steps++;
    out.batched_tokens += int64_t(active.size());
    // ...then each chooses its next token (independent samplers: spread over the threads).
    const size_t n = active.size();
    going.assign(n, 0);
    errors.assign(n, nullptr);
    pool.parallel_for(int64_t(n), 1, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; k++) {
        try {
          cached[size_t(active[size_t(k)])].push_back(ids[size_t(k)]);
          Generation& g = *live[size_t(active[size_t(k)])];
          going[size_t(k)] = g.pick(step_logits.data() + size_t(k) * size_t(V), V, eos_ids, forced_think_end) && g.room(n_ctx);
        } catch (...) {
          errors[size_t(k)] = std::current_exception();
        }
      }
    });
    for (const auto& e : errors) {
      if (e) std::rethrow_exception(e);
    }
    for (size_t k = 0; k < n; k++) {
      if (going[k]) continue;
      const int i = active[k];
      out.results[live[size_t(i)]->sample] = live[size_t(i)]->finish();
      live[size_t(i)].reset();
      fill(i);
    }
  }

  for (const GenerationResult& r : out.results) out.completion_tokens += r.completion_tokens;
  out.seconds = timer.seconds();
  return out;
}

}  // namespace r1
