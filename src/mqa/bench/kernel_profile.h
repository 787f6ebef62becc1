// Kernel-level profile of a piece of GPU work: LibTorch's Kineto profiler (CUPTI underneath) records every kernel
// the work launches -- also those replayed from captured CUDA graphs -- and writes a Chrome trace (JSON, readable
// in chrome://tracing or Perfetto). scripts/profile_report.py sums the trace by kernel family. This is how the
// benchmarks answer "where does the step's time go" when a result is far from its roofline floor.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <string>

namespace mqa::bench {

// Whether this build can profile kernels on `device` (a CUDA device, in a LibTorch >= 2 build with CUDA).
bool kernel_profiler_available(const torch::Device& device);

// Runs `work` once under the profiler (CPU operators and CUDA kernels), waits for the device, writes the trace to
// `trace_path`. Throws with the reason where kernel_profiler_available(device) is false.
void profile_kernels(const torch::Device& device, const std::function<void()>& work, const std::string& trace_path);

}  // namespace mqa::bench
