// Adafactor (Shazeer & Stern 2018, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost"), following
// tensor2tensor's adafactor.py and fairseq's optim/adafactor.py.
//
// For a parameter with >= 2 dimensions [..., R, C] the second moment is factored: running averages of the row
// means [..., R] and column means [..., C] of grad^2 + eps1 stand in for the full [..., R, C] matrix, whose
// estimate is row * col / mean(row). Vectors keep the full average. Per step t (from 1):
//
//   beta2_t = 1 - t^-decay_rate                       (decay_rate 0.8: the first step takes grad^2 as it is)
//   u       = grad / sqrt(v_hat)                      (v_hat: the factored or full second moment)
//   u      /= max(1, RMS(u) / clip_threshold)         (update clipping, d = 1)
//   alpha   = lr * max(eps2, RMS(param))   if scale_parameter, else lr;
//             lr = min(1e-2, 1/sqrt(t))    if relative_step, else the schedule's lr (set_lr each step)
//   m       = beta1 * m + (1 - beta1) * alpha * u     only if beta1 > 0 (no momentum state otherwise)
//   param  -= alpha * weight_decay * param            (decoupled; only for params given weight decay)
//   param  -= m  (or alpha * u)
//
// State is kept in fp32 and saved/loaded with the optimizer (save()/load() below), keyed by parameter position.
#pragma once
#include <torch/torch.h>

namespace mqa {

struct AdafactorOptions : public torch::optim::OptimizerCloneableOptions<AdafactorOptions> {
  AdafactorOptions(double lr = 1e-2) : lr_(lr) {}
  TORCH_ARG(double, lr);
  TORCH_ARG(double, beta1) = 0.0;
  TORCH_ARG(double, decay_rate) = 0.8;
  TORCH_ARG(double, clip_threshold) = 1.0;
  TORCH_ARG(double, eps1) = 1e-30;
  TORCH_ARG(double, eps2) = 1e-3;
  TORCH_ARG(double, weight_decay) = 0.0;
  TORCH_ARG(bool, scale_parameter) = true;
  TORCH_ARG(bool, relative_step) = false;

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
  double get_lr() const override { return lr(); }
  void set_lr(const double value) override { lr(value); }
};

struct AdafactorParamState : public torch::optim::OptimizerCloneableParamState<AdafactorParamState> {
  TORCH_ARG(int64_t, step) = 0;
  TORCH_ARG(torch::Tensor, exp_avg);         // momentum, only when beta1 > 0
  TORCH_ARG(torch::Tensor, exp_avg_sq_row);  // factored: [..., R]
  TORCH_ARG(torch::Tensor, exp_avg_sq_col);  // factored: [..., C]
  TORCH_ARG(torch::Tensor, exp_avg_sq);      // unfactored: same shape as the parameter

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
};

class Adafactor : public torch::optim::Optimizer {
 public:
  explicit Adafactor(std::vector<torch::optim::OptimizerParamGroup> param_groups,
                     AdafactorOptions defaults = {});
  explicit Adafactor(std::vector<torch::Tensor> params, AdafactorOptions defaults = {})
      : Adafactor({torch::optim::OptimizerParamGroup(std::move(params))}, std::move(defaults)) {}

  torch::Tensor step(LossClosure closure = nullptr) override;
  // The state of every parameter, in param_groups order, under "group<g>/param<i>/...". load() requires the same
  // parameter shapes in the same order and says which one differs.
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;
  // The state of parameter p, or nullptr before its first step.
  const AdafactorParamState* state_of(const torch::Tensor& p) const;
};

}  // namespace mqa
