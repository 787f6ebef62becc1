// The feed-forward layer's ReLU inside its first GEMM's epilogue: relu(x W^T + b) as one at::_addmm_activation on
// the GPU with LibTorch >= 2 (cuBLASLt's RELU_BIAS epilogue: bias and ReLU applied to the accumulator before it is
// written), instead of a GEMM and a ReLU kernel that reads and writes the [tokens, d_ff] activations again. Backward
// is LibTorch's arithmetic for linear + ReLU, in our autograd function (LibTorch 1.13 has no derivative for
// _addmm_activation): the ReLU's gradient from the saved output, then the linear's.
// Not fused: the backward's ReLU gradient and bias gradient. cuBLASLt's DRELU_BGRAD epilogue did that in the g W2
// GEMM (kernels/relu_gemm.cu, 2026-12-06, removed): on an H100 it ran as a separate 1.5-ms epilogue kernel per layer
// after the GEMM, and the paper baseline's step took 210.5 ms against 204.7 ms without any epilogue
// (experiments/training-throughput/README.md).
// MQA_RELU_EPILOGUE=0 turns the epilogue off for a process (an A/B of one build): then torch::relu(torch::linear(x,
// weight, bias)) (ATen's linear, bias in the GEMM: see autocast_state.h).
#pragma once
#include <torch/torch.h>

namespace mqa {

// x [..., in], weight [out, in], bias [out] or undefined (then always the plain path): [..., out].
torch::Tensor linear_relu(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);

// Whether linear_relu(x, weight, bias) takes the fused GEMM epilogue (the device, dtypes, LibTorch and the switch).
bool linear_relu_fused(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);

// The fused path itself, on any device (bias required): what linear_relu runs when linear_relu_fused. Tests check
// its backward on the CPU too, where linear_relu never takes it.
torch::Tensor linear_relu_epilogue(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias);

// Tests: whether linear_relu may fuse (the environment decides until this is called).
void set_relu_epilogue_enabled(bool on);
// What MQA_RELU_EPILOGUE asks for (unset or 1: fused, 0: the plain path; anything else throws, naming it). Read
// once; `mqa` reads it before any command.
bool relu_epilogue_requested();

}  // namespace mqa
