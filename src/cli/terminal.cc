#include "cli/terminal.h"

#include <csignal>
#include <cstdio>
#include <unistd.h>

namespace r1::cli {

bool stdout_is_tty() { return isatty(STDOUT_FILENO) == 1; }
bool stderr_is_tty() { return isatty(STDERR_FILENO) == 1; }
bool stdin_is_tty() { return isatty(STDIN_FILENO) == 1; }

Style Style::for_stdout() {
  if (!stdout_is_tty()) return {};
  return {"\x1b[2m", "\x1b[1m", "\x1b[0m", "\r\x1b[2K"};
}

Progress::Progress(std::string label, uint64_t total)
    : label_(std::move(label)), total_(total), active_(stderr_is_tty() && total > 0) {}

void Progress::update(uint64_t done) {
  if (!active_) return;
  int pct = static_cast<int>(done * 100 / total_);
  if (pct == last_percent_) return;
  last_percent_ = pct;
  std::fprintf(stderr, "\r\x1b[2K%s %3d%% (%.2f / %.2f GB)", label_.c_str(), pct, done / 1e9, total_ / 1e9);
  std::fflush(stderr);
}

void Progress::finish() {
  if (!active_) return;
  std::fprintf(stderr, "\r\x1b[2K");
  std::fflush(stderr);
  active_ = false;
}

namespace {
volatile std::sig_atomic_t g_interrupted = 0;
struct sigaction g_previous;

void on_sigint(int) {
  if (g_interrupted) {  // second Ctrl+C: leave for real
    sigaction(SIGINT, &g_previous, nullptr);
    std::raise(SIGINT);
  }
  g_interrupted = 1;
}
}  // namespace

InterruptGuard::InterruptGuard() {
  g_interrupted = 0;
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &g_previous);
}

InterruptGuard::~InterruptGuard() { sigaction(SIGINT, &g_previous, nullptr); }
bool InterruptGuard::interrupted() { return g_interrupted != 0; }
void InterruptGuard::clear() { g_interrupted = 0; }

}  // namespace r1::cli
