#include "mqa/train/grad_clip.h"

#include <torch/version.h>

namespace mqa {

torch::Tensor clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm, bool foreach) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) {
    auto device = params.empty() ? torch::Device(torch::kCPU) : params.front().device();
    return torch::zeros({}, torch::TensorOptions(device).dtype(torch::kFloat32));
  }
  std::vector<torch::Tensor> norms;  // [] per gradient
  if (foreach) {
    norms = at::_foreach_norm(grads);
  } else {
    for (const auto& g : grads) norms.push_back(g.norm(2, torch::kFloat32));
  }
  auto total = torch::stack(norms).to(torch::kFloat32).norm();  // []
  if (max_norm > 0) {
    auto coef = (max_norm / (total + 1e-6)).clamp_max(1.0);  // []
#if TORCH_VERSION_MAJOR >= 2
    if (foreach) {
      at::_foreach_mul_(grads, coef);
      return total;
    }
#endif
    for (auto& g : grads) g.mul_(coef);
  }
  return total;
}

}  // namespace mqa
