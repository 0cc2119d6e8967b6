// Steady-clock helpers for timing and speed reports.
#pragma once
#include <chrono>

namespace r1 {

inline double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// Seconds since construction (or the last reset()).
class Timer {
 public:
  Timer() : start_(now_seconds()) {}
  void reset() { start_ = now_seconds(); }
  double seconds() const { return now_seconds() - start_; }
  double ms() const { return seconds() * 1e3; }

 private:
  double start_;
};

}  // namespace r1
