#include "cli/stream_printer.h"

#include <cstdio>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli/terminal.h"
#include "util/timer.h"

namespace r1::cli {

namespace {
int terminal_width() {
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}
// UTF-8 continuation bytes do not advance the cursor.
bool advances(unsigned char c) { return (c & 0xC0) != 0x80; }
}  // namespace

StreamPrinter::StreamPrinter(bool show_reasoning)
    : tty_(stdout_is_tty()), show_reasoning_(show_reasoning), width_(tty_ ? terminal_width() : 80) {}

void StreamPrinter::begin_reasoning() {
  in_reasoning_ = true;
  reasoning_start_ = now_seconds();
  if (!show_reasoning_) return;
  if (tty_) std::fputs("\x1b[2m", stdout);
  else std::fputs("<think>\n", stdout);
}

void StreamPrinter::fold_reasoning() {
  in_reasoning_ = false;
  reasoning_done_ = true;
  reasoning_seconds_ = now_seconds() - reasoning_start_;
  if (!show_reasoning_) return;
  if (tty_) {
    // Move to the first reasoning row, clear to the end of the screen, print the folded line.
    std::fputs("\x1b[0m\r", stdout);
    if (reasoning_rows_ > 0) std::printf("\x1b[%dA", reasoning_rows_);
    std::printf("\x1b[J\x1b[2m[thought for %.1f s, %lld tokens]\x1b[0m\n", reasoning_seconds_,
                static_cast<long long>(reasoning_tokens_));
  } else {
    std::fputs("\n</think>\n\n", stdout);
  }
}

void StreamPrinter::on_event(const StreamEvent& e) {
  if (e.channel == Channel::Reasoning) {
    if (!in_reasoning_ && !reasoning_done_) begin_reasoning();
    if (e.token >= 0) ++reasoning_tokens_;
    if (!show_reasoning_) return;
    for (unsigned char c : e.text) {
      if (c == '\n' || (advances(c) && ++column_ > width_)) {
        ++reasoning_rows_;
        column_ = c == '\n' ? 0 : 1;
      }
    }
  } else {
    if (in_reasoning_) fold_reasoning();
    if (!answer_started_ && e.text.empty()) return;
    answer_started_ = true;
  }
  std::fwrite(e.text.data(), 1, e.text.size(), stdout);
  std::fflush(stdout);
}

void StreamPrinter::finish(const GenerationResult& r) {
  if (in_reasoning_ && show_reasoning_) std::fputs(tty_ ? "\x1b[0m" : "\n</think>", stdout);
  std::fputs("\n", stdout);
  std::fflush(stdout);
}

GenerationResult generate_printed(Session& session, const std::vector<int32_t>& prompt,
                                  const GenerationParams& params, bool show_reasoning) {
  InterruptGuard guard;
  StreamPrinter printer(show_reasoning);
  GenerationResult r = session.generate(prompt, params, [&](const StreamEvent& e) {
    printer.on_event(e);
    return !InterruptGuard::interrupted();
  });
  printer.finish(r);
  return r;
}

}  // namespace r1::cli
