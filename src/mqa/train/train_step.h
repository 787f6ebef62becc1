// One optimizer step's computation, shared by the trainer (trainer.h) and `mqa bench train` (train_bench.h), so
// that the benchmark times the step that training runs:
//   1. for each batch: forward under autocast (precision), the label-smoothed loss (loss.h) divided by the target
//      tokens of the whole step (all ranks), backward; gradients accumulate in the fp32 parameters' .grad;
//   2. data-parallel: gradients summed over ranks, overlapped with the last backward (gradient_reducer.h);
//   3. the global gradient norm before clipping, clipping to train.clip_norm (grad_clip.h);
//   4. update(): learning rate, optimizer step.
// The train.* switches pick each new path or the old one (train_config.h): weight_cast (autocast.h), loss_chunk,
// fused_optimizer (optimizers.h; also the multi-tensor norm and clip), fold_query_heads (attention.h; a process-
// wide setting of the Attention module, set here), overlap_allreduce.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "mqa/config/train_config.h"
#include "mqa/data/batching.h"
#include "mqa/model/transformer.h"
#include "mqa/train/distributed.h"
#include "mqa/train/gradient_reducer.h"

namespace mqa {

class TrainStep {
 public:
  // The model's parameters are the ones `optimizer` updates; dist: null or Distributed::single() for one process.
  TrainStep(Transformer model, torch::optim::Optimizer& optimizer, const TrainConfig& config,
            const torch::Device& device, torch::ScalarType precision, std::shared_ptr<Distributed> dist);

  struct Sums {
    torch::Tensor loss;       // [] fp32: label-smoothed loss summed over this rank's batches (not divided)
    torch::Tensor nll;        // [] fp32: -log p(target) summed likewise
    torch::Tensor grad_norm;  // [] fp32: global norm of the gradients (summed over ranks) before clipping
  };
  // Steps 1-3 over `batches` (this rank's), `step_tokens` the target tokens of the step over all ranks. Leaves the
  // clipped gradients in .grad; no host sync.
  Sums compute_gradients(const std::vector<Batch>& batches, int64_t step_tokens);
  // Step 4. With `skip_if` (a [] float32 tensor on the device), the update leaves everything unchanged where it
  // holds 1, decided on the device (needs updates_on_device_flag()).
  void update(double lr, const torch::Tensor& skip_if = torch::Tensor());
  // Whether update() takes skip_if: the fused AdamW on CUDA (train.fused_optimizer, LibTorch >= 2).
  bool updates_on_device_flag() const;

  // The data-parallel reducer (null unless overlapping on a data-parallel run).
  const GradientReducer* reducer() const { return reducer_.get(); }

 private:
  Transformer model_;
  torch::optim::Optimizer& optimizer_;
  TrainConfig config_;
  torch::Device device_;
  torch::ScalarType precision_;
  std::shared_ptr<Distributed> dist_;
  std::vector<torch::Tensor> params_;
  std::unique_ptr<GradientReducer> reducer_;

  torch::Tensor to_device(const torch::Tensor& t) const;
};

}  // namespace mqa
