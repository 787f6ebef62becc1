// Layer norm of the bf16 residual stream (autocast_layer_norm, train.bf16_residual): torch::layer_norm, except that
// on the GPU, with mqa's kernels built, backward computes the weight and bias gradients with
// kernels/layer_norm_grad.h (one pass over dy and x) instead of LibTorch's GammaBetaBackward, which ran at about a
// quarter of the memory bandwidth (experiments/training-throughput/README.md). The input gradient stays LibTorch's.
// MQA_LAYER_NORM_KERNELS=0 turns the kernel off for a process (an A/B of one build).
#pragma once
#include <torch/torch.h>

namespace mqa {

// x [..., D] normalised over its last dimension with weight and bias [D] (either undefined: none), as
// torch::layer_norm(x, {D}, weight, bias, eps).
torch::Tensor layer_norm_bf16(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                              double eps);

// Tests: whether layer_norm_bf16 may use the kernel (the environment decides until this is called).
void set_layer_norm_kernels_enabled(bool on);
// What MQA_LAYER_NORM_KERNELS asks for (unset or 1: the kernel, 0: LibTorch's; anything else throws, naming it).
// Read once; `mqa` reads it before any command.
bool layer_norm_kernels_requested();

}  // namespace mqa
