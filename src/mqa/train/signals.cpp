#include "mqa/train/signals.h"

#include <atomic>
#include <cstring>

namespace mqa {

namespace {

std::atomic<int> g_requested{0};

void on_signal(int sig) {
  if (g_requested.load() != 0) {
    // Second signal: give up on the graceful stop.
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  g_requested.store(sig);
}

}  // namespace

StopSignals::StopSignals() {
  clear();
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, &old_int_);
  sigaction(SIGTERM, &sa, &old_term_);
}

StopSignals::~StopSignals() {
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
}

int StopSignals::requested() { return g_requested.load(); }
void StopSignals::request(int signal) { g_requested.store(signal); }
void StopSignals::clear() { g_requested.store(0); }

}  // namespace mqa
