#include "mqa/train/optimizers.h"

#include <stdexcept>

#include "mqa/train/adafactor.h"
#include "mqa/train/fused_adamw.h"

namespace mqa {

namespace {

// Parameters that get weight decay (>= 2 dims) and those that do not, as two groups; empty groups are left out.
template <class Options>
std::vector<torch::optim::OptimizerParamGroup> decay_groups(const std::vector<torch::Tensor>& parameters,
                                                            const Options& base, double weight_decay) {
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& p : parameters) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  if (!decay.empty()) {
    auto o = std::make_unique<Options>(base);
    o->weight_decay(weight_decay);
    groups.emplace_back(decay, std::move(o));
  }
  if (!no_decay.empty()) {
    auto o = std::make_unique<Options>(base);
    o->weight_decay(0.0);
    groups.emplace_back(no_decay, std::move(o));
  }
  return groups;
}

}  // namespace

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainConfig& train,
                                                        const std::vector<torch::Tensor>& parameters) {
  if (train.optimizer == "adam") {
    auto o = torch::optim::AdamWOptions(train.lr)
                 .betas(std::make_tuple(train.beta1, train.beta2))
                 .eps(train.eps)
                 .weight_decay(train.weight_decay)
                 .amsgrad(false);
    if (train.fused_optimizer && !parameters.empty() && FusedAdamW::available(parameters.front().device()))
      return std::make_unique<FusedAdamW>(decay_groups(parameters, o, train.weight_decay), o);
    return std::make_unique<torch::optim::AdamW>(decay_groups(parameters, o, train.weight_decay), o);
  }
  if (train.optimizer == "adafactor") {
    auto o = AdafactorOptions(train.lr)
                 .beta1(train.adafactor_beta1)
                 .decay_rate(train.adafactor_decay_rate)
                 .clip_threshold(train.adafactor_clip_threshold)
                 .eps1(train.adafactor_eps1)
                 .eps2(train.adafactor_eps2)
                 .weight_decay(train.weight_decay)
                 .scale_parameter(train.adafactor_scale_parameter)
                 .relative_step(train.adafactor_relative_step);
    return std::make_unique<Adafactor>(decay_groups(parameters, o, train.weight_decay), o);
  }
  throw std::invalid_argument("train.optimizer: unknown optimizer '" + train.optimizer +
                              "'; expected adam or adafactor");
}

void set_lr(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

}  // namespace mqa
