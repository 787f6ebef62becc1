// Graceful stop on SIGINT / SIGTERM. While a StopSignals object lives, the first SIGINT or SIGTERM only sets a flag
// that the training loop polls between steps (it then finishes the step, writes a checkpoint and exits with
// 128 + signal: 130 for SIGINT, 143 for SIGTERM). A second signal of either kind ends the process at once with the
// default action, for when the graceful path hangs. The previous handlers come back when the object goes away.
#pragma once
#include <csignal>

namespace mqa {

class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // The signal that asked for a stop (SIGINT or SIGTERM), or 0.
  static int requested();
  // For tests and for code that wants to stop as if signalled.
  static void request(int signal);
  static void clear();

 private:
  struct sigaction old_int_, old_term_;
};

}  // namespace mqa
