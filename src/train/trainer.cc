#include "train/trainer.h"

#include <algorithm>

#include "core/error.h"
#include "tokenizer/chat_template.h"
#include "util/timer.h"

namespace r1::train {

TaskData::TaskData(const Tokenizer& tok, const TaskSpec& spec) : tok_(tok), spec_(spec) {
  if (tok.eos_id() < 0) fail("task data: the tokenizer has no EOS token");
}

std::vector<int32_t> TaskData::prompt_tokens(const Problem& p) const {
  ChatMessage user;
  user.role = "user";
  user.content = p.question;
  const std::vector<ChatMessage> msgs{user};
  return tok_.encode(render_chat(msgs, true, detect_chat_format(tok_.chat_template())), false);
}

Example TaskData::example(const Problem& p, const std::string& completion) const {
  Example e;
  e.tokens = prompt_tokens(p);
  e.prompt_len = e.tokens.size();
  const std::vector<int32_t> c = tok_.encode(completion, false);
  e.tokens.insert(e.tokens.end(), c.begin(), c.end());
  e.tokens.push_back(tok_.eos_id());
  return e;
}

Batch make_batch(const std::vector<Example>& examples, int64_t S, bool score_prompt, int32_t pad_id) {
  Batch b;
  b.B = int64_t(examples.size());
  b.S = S;
  for (const Example& e : examples) {
    const int64_t n = int64_t(e.tokens.size());
    for (int64_t i = 0; i < S; i++) {
      b.tokens.push_back(i < n ? e.tokens[size_t(i)] : pad_id);
      const bool scored = i + 1 < n && (score_prompt || i + 1 >= int64_t(e.prompt_len));
      b.targets.push_back(scored ? e.tokens[size_t(i + 1)] : -1);
    }
  }
  return b;
}

void train_loop(Policy& m, AdamW& opt, const LoopOptions& o, const std::function<Batch(int64_t)>& next_batch,
                const std::function<void(const StepLog&)>& on_step) {
  const int64_t first = opt.steps_done();
  for (int64_t step = first; step < first + o.steps; step++) {
    const Batch batch = next_batch(step);
    Timer timer;
    StepLog log;
    log.step = step;
    log.lr = lr_at(opt.config(), step);
    m.zero_grads();
    log.loss = m.forward_backward(batch, o.loss, true);
    log.grad_norm = opt.step(m.params.data(), m.grads.data());
    m.update_router_bias(o.bias_gamma);
    log.seconds = timer.seconds();
    log.tokens_per_second = double(batch.B * batch.S) / std::max(log.seconds, 1e-9);
    if (on_step) on_step(log);
  }
}

}  // namespace r1::train
