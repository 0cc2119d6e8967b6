#include "server/json_mode.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "tokenizer/tokenizer.h"

namespace r1::server {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

}  // namespace

bool JsonPrefix::feed(std::string_view s) {
  for (char c : s)
    if (!feed(c)) return false;
  return true;
}

// A value begins with c (whitespace already skipped by the caller).
bool JsonPrefix::value_start(char c) {
  switch (c) {
    case '{': stack_.push_back('{'); state_ = State::KeyOrEnd; return true;
    case '[': stack_.push_back('['); state_ = State::ValueOrEnd; return true;
    case '"': key_ = false; state_ = State::String; return true;
    case '-': state_ = State::Minus; return true;
    case '0': state_ = State::Zero; return true;
    case 't': literal_left_ = "rue"; state_ = State::Literal; return true;
    case 'f': literal_left_ = "alse"; state_ = State::Literal; return true;
    case 'n': literal_left_ = "ull"; state_ = State::Literal; return true;
    default:
      if (c >= '1' && c <= '9') {
        state_ = State::Int;
        return true;
      }
      return false;
  }
}

// A value just ended: back to the container that holds it.
void JsonPrefix::value_done() {
  if (stack_.empty()) state_ = State::Done;
  else state_ = stack_.back() == '{' ? State::ObjNext : State::ArrNext;
}

// A number ends at the first character that cannot continue it; that character then counts
// as the one after the value.
bool JsonPrefix::after_number(char c) {
  value_done();
  return feed(c);
}

bool JsonPrefix::feed(char c) {
  switch (state_) {
    case State::Start:
      if (is_space(c)) return true;
      if (c != '{') return false;  // json_object: the top level is an object
      return value_start(c);
    case State::Value:
      return is_space(c) || value_start(c);
    case State::KeyOrEnd:
      if (is_space(c)) return true;
      if (c == '}') {
        stack_.pop_back();
        value_done();
        return true;
      }
      [[fallthrough]];
    case State::Key:
      if (is_space(c)) return true;
      if (c != '"') return false;
      key_ = true;
      state_ = State::String;
      return true;
    case State::Colon:
      if (is_space(c)) return true;
      if (c != ':') return false;
      state_ = State::Value;
      return true;
    case State::ObjNext:
    case State::ArrNext: {
      if (is_space(c)) return true;
      const bool obj = state_ == State::ObjNext;
      if (c == ',') {
        state_ = obj ? State::Key : State::Value;
        return true;
      }
      if (c != (obj ? '}' : ']')) return false;
      stack_.pop_back();
      value_done();
      return true;
    }
    case State::ValueOrEnd:
      if (is_space(c)) return true;
      if (c == ']') {
        stack_.pop_back();
        value_done();
        return true;
      }
      return value_start(c);
    case State::String:
      if (c == '"') {
        if (key_) state_ = State::Colon;
        else value_done();
        return true;
      }
      if (c == '\\') {
        state_ = State::Escape;
        return true;
      }
      return static_cast<unsigned char>(c) >= 0x20;  // raw control characters are not allowed
    case State::Escape:
      if (c == 'u') {
        unicode_left_ = 4;
        state_ = State::Unicode;
        return true;
      }
      if (std::string_view("\"\\/bfnrt").find(c) == std::string_view::npos) return false;
      state_ = State::String;
      return true;
    case State::Unicode:
      if (!is_hex(c)) return false;
      if (--unicode_left_ == 0) state_ = State::String;
      return true;
    case State::Minus:
      if (c == '0') state_ = State::Zero;
      else if (is_digit(c)) state_ = State::Int;
      else return false;
      return true;
    case State::Zero:
    case State::Int:
      if (is_digit(c) && state_ == State::Int) return true;
      if (c == '.') state_ = State::Dot;
      else if (c == 'e' || c == 'E') state_ = State::Exp;
      else return after_number(c);
      return true;
    case State::Dot:
      if (!is_digit(c)) return false;
      state_ = State::Frac;
      return true;
    case State::Frac:
      if (is_digit(c)) return true;
      if (c == 'e' || c == 'E') {
        state_ = State::Exp;
        return true;
      }
      return after_number(c);
    case State::Exp:
      if (c == '+' || c == '-') state_ = State::ExpSign;
      else if (is_digit(c)) state_ = State::ExpDigits;
      else return false;
      return true;
    case State::ExpSign:
      if (!is_digit(c)) return false;
      state_ = State::ExpDigits;
      return true;
    case State::ExpDigits:
      if (is_digit(c)) return true;
      return after_number(c);
    case State::Literal:
      if (literal_left_.empty() || c != literal_left_.front()) return false;
      literal_left_.remove_prefix(1);
      if (literal_left_.empty()) value_done();
      return true;
    case State::Done:
      return is_space(c);
  }
  return false;
}

JsonConstrainedContext::JsonConstrainedContext(std::unique_ptr<InferenceContext> inner, const Tokenizer& tokenizer,
                                               std::vector<int32_t> eos_ids)
    : inner_(std::move(inner)), tokenizer_(tokenizer), eos_ids_(std::move(eos_ids)) {}

void JsonConstrainedContext::arm(bool start_in_reasoning) {
  if (texts_.empty()) {
    texts_.resize(size_t(tokenizer_.n_vocab()));
    for (int32_t id = 0; id < tokenizer_.n_vocab(); id++)
      if (!tokenizer_.is_special(id)) texts_[size_t(id)] = tokenizer_.decode(std::span<const int32_t>(&id, 1));
  }
  armed_ = prompt_pending_ = true;
  in_reasoning_ = start_in_reasoning;
  reasoning_tail_.clear();
  json_ = JsonPrefix();
}

void JsonConstrainedContext::forward(const int32_t* ids, int64_t n, bool all_logits, float* logits) {
  inner_->forward(ids, n, all_logits, logits);
  if (!armed_ || all_logits) return;
  if (prompt_pending_) {
    prompt_pending_ = false;  // the prompt's tokens are not part of the answer
  } else {
    for (int64_t i = 0; i < n; i++) {
      const std::string& text = texts_[size_t(ids[i])];
      if (in_reasoning_) {
        reasoning_tail_ += text;
        const size_t end = reasoning_tail_.find("</think>");
        if (end == std::string::npos) continue;
        in_reasoning_ = false;
        json_.feed(std::string_view(reasoning_tail_).substr(end + 8));
      } else {
        json_.feed(text);
      }
    }
  }
  if (!in_reasoning_) mask(logits);
}

void JsonConstrainedContext::mask(float* logits) const {
  constexpr float kOff = -std::numeric_limits<float>::infinity();
  const int64_t n_vocab = int64_t(texts_.size());
  const bool done = json_.complete();
  for (int64_t id = 0; id < n_vocab; id++) {
    const bool eos = std::find(eos_ids_.begin(), eos_ids_.end(), int32_t(id)) != eos_ids_.end();
    bool ok;
    if (eos) {
      ok = done;
    } else if (done || texts_[size_t(id)].empty()) {
      ok = false;  // once the object is closed only EOS; special tokens never inside it
    } else {
      JsonPrefix next = json_;
      ok = next.feed(texts_[size_t(id)]);
    }
    if (!ok) logits[id] = kOff;
  }
}

}  // namespace r1::server
