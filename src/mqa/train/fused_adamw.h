// AdamW whose update is ATen's fused multi-tensor kernel (at::_fused_adamw_: a few launches for all parameters
// instead of several fp32 kernels per parameter), on CUDA with LibTorch >= 2. It is a torch::optim::AdamW -- the
// same options, per-parameter state (step, exp_avg, exp_avg_sq) and save()/load() -- so a checkpoint written with
// either resumes with the other, and only step() differs:
//   exp_avg    = beta1 * exp_avg + (1 - beta1) * g
//   exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g^2
//   p         -= lr * weight_decay * p                                          (decoupled)
//   p         -= lr / (1 - beta1^t) * exp_avg / (sqrt(exp_avg_sq) / sqrt(1 - beta2^t) + eps)
// which is LibTorch's AdamW formula; the fused kernel evaluates it per element in fp32 registers (float rounding
// may differ in the last bits). Where available() is false (LibTorch 1.13, CPU) make_optimizer builds LibTorch's
// AdamW instead, and step() here falls back to it.
#pragma once
#include <torch/torch.h>

namespace mqa {

class FusedAdamW : public torch::optim::AdamW {
 public:
  // Whether the fused kernel serves parameters on `device` in this build (CUDA, LibTorch >= 2).
  static bool available(const torch::Device& device);

  FusedAdamW(std::vector<torch::optim::OptimizerParamGroup> param_groups, torch::optim::AdamWOptions defaults);
  torch::Tensor step(LossClosure closure = nullptr) override;
  // step() without the closure, except that the kernel changes nothing where `found_inf` (a [] float32 tensor on
  // the parameters' device) holds 1: a step whose loss the host has not read yet can be launched without waiting
  // for the GPU (train.deferred_stats). The host's step counts advance either way: after a skipped step the run
  // stops without saving, so they are never used.
  void step_unless(const torch::Tensor& found_inf);

 private:
  void fused_step(const torch::Tensor& found_inf);  // found_inf undefined: always update
};

}  // namespace mqa
