#include "mqa/train/fused_adamw.h"

#include <torch/version.h>

#include <map>
#include <optional>

#include "mqa/train/optimizer_state_key.h"

namespace mqa {

bool FusedAdamW::available(const torch::Device& device) {
#if TORCH_VERSION_MAJOR >= 2
  return device.is_cuda();
#else
  (void)device;
  return false;
#endif
}

FusedAdamW::FusedAdamW(std::vector<torch::optim::OptimizerParamGroup> param_groups,
                       torch::optim::AdamWOptions defaults)
    : torch::optim::AdamW(std::move(param_groups), std::move(defaults)) {
  for (const auto& group : param_groups_)
    TORCH_CHECK(!static_cast<const torch::optim::AdamWOptions&>(group.options()).amsgrad(),
                "FusedAdamW: amsgrad is not supported");
}

torch::Tensor FusedAdamW::step(LossClosure closure) {
#if TORCH_VERSION_MAJOR >= 2
  torch::Tensor loss;
  if (closure != nullptr) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  fused_step(torch::Tensor());
  return loss;
#else
  return torch::optim::AdamW::step(closure);
#endif
}

void FusedAdamW::step_unless(const torch::Tensor& found_inf) {
  TORCH_CHECK(found_inf.defined() && found_inf.numel() == 1 && found_inf.scalar_type() == torch::kFloat32,
              "FusedAdamW::step_unless: found_inf must be a one-element float32 tensor");
  fused_step(found_inf);
}

void FusedAdamW::fused_step(const torch::Tensor& found_inf) {
#if TORCH_VERSION_MAJOR >= 2
  torch::NoGradGuard no_grad;
  const std::optional<at::Tensor> skip_if =
      found_inf.defined() ? std::optional<at::Tensor>(found_inf.reshape({})) : std::nullopt;
  // The tensor lists of one fused call: parameters of a group that share a step count (all of them, unless a
  // checkpoint says otherwise). The kernel reads the step per parameter from an fp32 tensor on the device.
  struct Lists {
    std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs;
  };
  for (auto& group : param_groups_) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    std::map<int64_t, Lists> by_step;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      TORCH_CHECK(!p.grad().is_sparse(), "FusedAdamW does not support sparse gradients");
      TORCH_CHECK(p.is_cuda(), "FusedAdamW: parameter on ", p.device(), "; the fused kernel needs CUDA");
      auto& slot = state_[optimizer_state_key(p)];
      if (!slot) {  // as torch::optim::AdamW initialises it
        auto s = std::make_unique<torch::optim::AdamWParamState>();
        s->step(0);
        s->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        s->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        slot = std::move(s);
      }
      auto& st = static_cast<torch::optim::AdamWParamState&>(*slot);
      st.step(st.step() + 1);
      auto& l = by_step[st.step()];
      l.params.push_back(p);
      l.grads.push_back(p.grad());
      l.exp_avgs.push_back(st.exp_avg());
      l.exp_avg_sqs.push_back(st.exp_avg_sq());
    }
    for (auto& [step, l] : by_step) {
      auto step_tensor = torch::full({}, static_cast<double>(step), l.params.front().options().dtype(torch::kFloat32));
      const std::vector<torch::Tensor> steps(l.params.size(), step_tensor);  // read only by the kernel
      const auto [beta1, beta2] = o.betas();
      at::_fused_adamw_(l.params, l.grads, l.exp_avgs, l.exp_avg_sqs, /*max_exp_avg_sqs=*/{}, steps, o.lr(), beta1,
                        beta2, o.weight_decay(), o.eps(), /*amsgrad=*/false, /*maximize=*/false,
                        /*grad_scale=*/std::nullopt, /*found_inf=*/skip_if);
    }
  }
#else
  (void)found_inf;
  TORCH_CHECK(false, "FusedAdamW: the fused kernel needs LibTorch >= 2 (FusedAdamW::available)");
#endif
}

}  // namespace mqa
