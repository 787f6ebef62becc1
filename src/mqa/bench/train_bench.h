// Timed training steps (Table 2's training row): forward, label loss, backward and an Adam step over a batch of
// random sentences, repeated; on CUDA in bf16 autocast with fp32 master weights (LibTorch 2), elsewhere in fp32.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "mqa/util/timer.h"
#include "mqa/model/transformer.h"

namespace mqa::bench {

struct TrainBenchOptions {
  int64_t warmup = 1, repeats = 3;
  double lr = 1e-4;
  bool bf16_autocast = true;  // used only on a CUDA device (only LibTorch 2 builds have CUDA here)
  // If set: after timing, one more step under the kernel profiler, its trace written here (kernel_profile.h).
  std::string profile_trace;
};

struct TrainBenchResult {
  Stats step_ms;
  std::vector<double> losses;  // per step, warm-up included, in order
  bool autocast = false;       // whether bf16 autocast was on
};

// Trains `model` (fp32 parameters on its device, train mode) on the fixed batch src [B, S], tgt_in [B, T],
// tgt_out [B, T] (long, same device; tgt_out padding = model's pad id is ignored by the loss).
TrainBenchResult run_train_bench(Transformer& model, const torch::Tensor& src, const torch::Tensor& tgt_in,
                                 const torch::Tensor& tgt_out, const TrainBenchOptions& options);

}  // namespace mqa::bench
