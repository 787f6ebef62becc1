// The optimizer of a run (train.optimizer):
//   adam:      AdamW (beta1, beta2 = 0.98, eps = 1e-9 by default); train.weight_decay is decoupled and 0 by default,
//              which makes it exactly Adam. With train.fused_optimizer (the default) and parameters on CUDA in a
//              LibTorch >= 2 build: FusedAdamW (fused_adamw.h, ATen's multi-tensor kernel); otherwise LibTorch's
//              torch::optim::AdamW. Both keep the same state, so checkpoints move between them.
//   adafactor: mqa::Adafactor (adafactor.h) with the train.adafactor_* keys. Momentum only when
//              train.adafactor_beta1 > 0; train.beta1 / beta2 / eps are Adam's and not used by it.
// Weight decay applies to parameters with >= 2 dimensions (matrices, embeddings), not to biases and norm gains.
// The learning rate comes from the schedule and is set before every step with set_lr().
#pragma once
#include <torch/torch.h>

#include <memory>

#include "mqa/config/train_config.h"

namespace mqa {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainConfig& train,
                                                        const std::vector<torch::Tensor>& parameters);

// Sets the learning rate of every parameter group.
void set_lr(torch::optim::Optimizer& optimizer, double lr);

}  // namespace mqa
