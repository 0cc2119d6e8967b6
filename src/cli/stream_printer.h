// Prints a generation as it streams: reasoning dimmed, then the answer. On a terminal, once the
// answer starts the reasoning is folded to one line ("Thought for 2.1 s"); elsewhere (a pipe) the
// reasoning is written plainly inside <think>…</think> so nothing is lost.
#pragma once
#include <cstdint>
#include <string>

#include "runtime/session.h"

namespace r1::cli {

class StreamPrinter {
 public:
  explicit StreamPrinter(bool show_reasoning = true);
  void on_event(const StreamEvent& e);
  void finish(const GenerationResult& r);

 private:
  void begin_reasoning();
  void fold_reasoning();
  bool tty_;
  bool show_reasoning_;
  bool in_reasoning_ = false, reasoning_done_ = false, answer_started_ = false;
  int reasoning_rows_ = 0, column_ = 0, width_ = 80;
  double reasoning_start_ = 0, reasoning_seconds_ = 0;
  int64_t reasoning_tokens_ = 0;
};

// Generates from `prompt`, printing as it streams; Ctrl+C stops this answer (finish "cancelled").
GenerationResult generate_printed(Session& session, const std::vector<int32_t>& prompt,
                                  const GenerationParams& params, bool show_reasoning);

}  // namespace r1::cli
