// Timing device work: CUDA events on the current stream on a GPU (the work is asynchronous: a host clock would time
// the launches), a steady clock on the CPU; and the statistics of repeated measurements.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <vector>

namespace mqa {

// Median and spread of repeated measurements (milliseconds, or whatever unit they come in).
struct Stats {
  double median = 0, min = 0, max = 0;
  int64_t n = 0;
};
// The median of an even count is the mean of the two middle values. Throws on an empty list.
Stats summarize(std::vector<double> values);

// Times regions of work on `device`: start() ... stop() returns the milliseconds between them. On CUDA, two events
// recorded on the stream that is current at each call (so call both under the same stream); stop() waits for the
// end event. On the CPU, the steady clock.
class Timer {
 public:
  explicit Timer(const torch::Device& device);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  void start();
  double stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Waits for all queued work on `device` (a no-op on the CPU).
void synchronize(const torch::Device& device);

}  // namespace mqa
