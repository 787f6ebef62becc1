// The global gradient norm of a step, and clipping to it (as PyTorch's clip_grad_norm_): the L2 norm over every
// parameter's gradient together, then, if max_norm > 0, every gradient scaled by min(1, max_norm / (norm + 1e-6)).
// No host sync: the norm stays a tensor on the device.
#pragma once
#include <torch/torch.h>

#include <vector>

namespace mqa {

// Returns the norm before clipping ([] fp32 on the gradients' device; 0 when no parameter has a gradient).
// foreach: one multi-tensor norm (_foreach_norm) and, on LibTorch >= 2, one multi-tensor scale (_foreach_mul_ by a
// tensor); false: a norm and a multiply per parameter (the old path; LibTorch 1.13 scales per parameter either way).
torch::Tensor clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm, bool foreach);

}  // namespace mqa
