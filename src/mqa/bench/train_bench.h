// Timed training steps (Table 2's training row): the trainer's own step (train_step.h: forward, label-smoothed
// loss, backward, gradient norm and clipping, Adam update) over a fixed batch of random sentences, repeated; on
// CUDA in bf16 autocast with fp32 master weights (LibTorch 2), elsewhere in fp32. The optimizer is always Adam
// (train.lr ignored: a constant `lr`), whatever train.optimizer says, as Table 2 was measured; every other train.*
// key of the step applies (label_smoothing, clip_norm, accumulate, and the path switches fused_optimizer,
// weight_cast, loss_chunk, fold_query_heads).
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "mqa/config/train_config.h"
#include "mqa/util/timer.h"
#include "mqa/model/transformer.h"

namespace mqa::bench {

struct TrainBenchOptions {
  int64_t warmup = 1, repeats = 3;
  double lr = 1e-4;
  bool bf16_autocast = true;  // used only on a CUDA device (only LibTorch 2 builds have CUDA here)
  TrainConfig train;          // the step's settings (see above); train.accumulate splits the batch's rows
  // If set: after timing, one more step under the kernel profiler, its trace written here (kernel_profile.h).
  std::string profile_trace;
  // After timing, one more step recording which attention kernel each attention call takes (attention.h).
  bool attention_kernels = false;
};

struct TrainBenchResult {
  Stats step_ms;
  std::vector<double> losses;  // per step (label-smoothed, per target token), warm-up included, in order
  bool autocast = false;       // whether bf16 autocast was on
  std::string optimizer;       // "Adam (fused)" or "Adam (LibTorch)"
  std::map<std::string, int64_t> attention_kernels;  // per attention call of one step: what ran it (if asked)
};

// Trains `model` (fp32 parameters on its device, train mode) on the fixed batch src [B, S], tgt_in [B, T],
// tgt_out [B, T] (long, same device; tgt_out padding = model's pad id is ignored by the loss).
TrainBenchResult run_train_bench(Transformer& model, const torch::Tensor& src, const torch::Tensor& tgt_in,
                                 const torch::Tensor& tgt_out, const TrainBenchOptions& options);

}  // namespace mqa::bench
