// Terminal helpers for the interactive commands: colours only on a TTY, a progress line for long
// work, and Ctrl+C that interrupts the current answer instead of killing the program.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>

namespace r1::cli {

bool stdout_is_tty();
bool stderr_is_tty();
bool stdin_is_tty();

// ANSI styles; empty strings when stdout is not a terminal (so piped output stays clean).
struct Style {
  std::string dim, bold, reset, clear_line;
  static Style for_stdout();
};

// Prints "label  37% (1.2/3.3 GB)" on one stderr line, rewritten in place; only on a terminal.
class Progress {
 public:
  Progress(std::string label, uint64_t total);
  void update(uint64_t done);
  void finish();

 private:
  std::string label_;
  uint64_t total_;
  int last_percent_ = -1;
  bool active_;
};

// While an InterruptGuard lives, SIGINT sets interrupted() instead of ending the process; a
// second Ctrl+C within the same guard ends it as usual.
class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  static bool interrupted();
  static void clear();
};

}  // namespace r1::cli
