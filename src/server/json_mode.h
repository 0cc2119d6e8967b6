// response_format {"type":"json_object"}: the answer is constrained to be one JSON object.
// JsonPrefix checks, character by character, that a text can still be completed into a JSON
// object; JsonConstrainedContext wraps a slot's InferenceContext and, while armed, masks the
// logits after every step so that only tokens keeping the answer such a prefix can be sampled,
// and only end-of-sentence once the object is closed. The reasoning (before "</think>") is left
// free: R1 thinks first, then answers in JSON.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/context.h"

namespace r1 {
class Tokenizer;
}

namespace r1::server {

class JsonPrefix {
 public:
  // Feeds one byte; false (and the state is unchanged in meaning: do not use it further) when
  // no JSON object can begin with the text so far.
  bool feed(char c);
  bool feed(std::string_view s);
  bool complete() const { return state_ == State::Done; }  // the top-level object is closed

 private:
  enum class State : uint8_t {
    Start,          // before the top-level '{'
    Value,          // a value must come
    KeyOrEnd,       // after '{': a key or '}'
    Key,            // after ',' in an object: a key
    Colon,          // after a key
    ObjNext,        // after a member's value: ',' or '}'
    ValueOrEnd,     // after '[': a value or ']'
    ArrNext,        // after an element: ',' or ']'
    String, Escape, Unicode,
    Minus, Zero, Int, Dot, Frac, Exp, ExpSign, ExpDigits,
    Literal,
    Done,
  };
  bool value_start(char c);
  void value_done();
  bool after_number(char c);

  State state_ = State::Start;
  std::string stack_;   // open containers, '{' or '['
  bool key_ = false;    // the string being read is an object key
  int unicode_left_ = 0;
  std::string_view literal_left_;  // rest of true / false / null
};

class JsonConstrainedContext final : public InferenceContext {
 public:
  // eos_ids: the tokens that end a generation (allowed only once the object is closed).
  JsonConstrainedContext(std::unique_ptr<InferenceContext> inner, const Tokenizer& tokenizer, std::vector<int32_t> eos_ids);

  // Constrains the next generation (its first forward() is the prompt's). start_in_reasoning:
  // the prompt ends inside <think>, so the constraint starts after "</think>".
  void arm(bool start_in_reasoning);
  void disarm() { armed_ = false; }

  int64_t n_past() const override { return inner_->n_past(); }
  int64_t n_ctx() const override { return inner_->n_ctx(); }
  void truncate(int64_t n) override { inner_->truncate(n); }
  void forward(const int32_t* ids, int64_t n, bool all_logits, float* logits) override;

 private:
  void mask(float* logits) const;

  std::unique_ptr<InferenceContext> inner_;
  const Tokenizer& tokenizer_;
  std::vector<int32_t> eos_ids_;
  std::vector<std::string> texts_;  // each token's text ("" for special tokens), built on first use
  bool armed_ = false, prompt_pending_ = false, in_reasoning_ = false;
  std::string reasoning_tail_;  // the end of the reasoning text, to spot "</think>"
  JsonPrefix json_;
};

}  // namespace r1::server
