// Captured CUDA graphs of the decode step (gpt-fast's "capture decode_one_token"): DecodeEngine::run captures one
// step + choice after an eager first step and replays it for every later step.
// All CUDA-specific graph code of the project is in cuda_graph.cpp; on a CPU build or device, `supported` is false
// and callers run the same step function eagerly.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>

namespace mqa {

// Whether this build and device can capture graphs (a CUDA build on a CUDA device).
bool graphs_supported(const torch::Device& device);

// Runs fn with a fresh side stream current on a CUDA device (capture needs a non-default stream; warm-up, capture,
// replay and the timing events then all use this one stream), after waiting for the device's queued work; runs fn
// directly on the CPU.
void with_side_stream(const torch::Device& device, const std::function<void()>& fn);

// A set of graphs sharing one memory pool. The captured function must write its results into tensors allocated
// before capture (static buffers): what it allocates during capture is dead when it returns, so the graphs may
// share the pool.
class GraphSet {
 public:
  explicit GraphSet(const torch::Device& device);  // throws unless graphs_supported(device)
  ~GraphSet();
  GraphSet(const GraphSet&) = delete;
  GraphSet& operator=(const GraphSet&) = delete;
  // Records fn as graph number size() (call under with_side_stream, after an eager warm-up of fn there).
  void capture(const std::function<void()>& fn);
  void replay(size_t index);
  size_t size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mqa
