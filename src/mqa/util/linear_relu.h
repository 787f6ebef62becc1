// The feed-forward layer's ReLU inside its GEMMs' epilogues (cuBLASLt), instead of as kernels of its own that read
// and write the [tokens, d_ff] activations again. In the paper baseline's 222-ms training step on an H100
// (experiments/training-throughput/README.md) those kernels were the ReLU (12 calls of 350 us), its gradient
// (12 x 520 us) and the first layer's bias gradient (a reduction over the ReLU's gradient, 12 x ~140 us); more for
// multi-query's d_ff 5440.
//  - linear_relu: relu(x W^T + b). On the GPU with LibTorch >= 2, one at::_addmm_activation (bias and ReLU applied
//    to the GEMM's accumulator before it is written). Decoding and inference take this.
//  - feed_forward_relu: relu(x W1^T + b1) W2^T + b2, the whole layer. Training on the GPU in bf16 with mqa's kernels
//    built (kernels/relu_gemm.h): the first GEMM writes the ReLU's mask beside h, and backward's g W2 GEMM applies
//    the ReLU's gradient and sums the first bias's gradient in its epilogue. Elsewhere:
//    torch::linear(linear_relu(...)).
// Backward of both is LibTorch's arithmetic for linear + ReLU (our autograd functions: LibTorch 1.13 has no
// derivative for _addmm_activation). MQA_RELU_EPILOGUE=0 turns both off for a process (an A/B of one build): then
// torch::relu(torch::linear(x, weight, bias)) (ATen's linear, bias in the GEMM: see autocast_state.h).
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

// x [..., in], w1 [d_ff, in], b1 [d_ff], w2 [out, d_ff], b2 [out] (biases may be undefined: then no fused path):
// [..., out].
torch::Tensor feed_forward_relu(const torch::Tensor& x, const torch::Tensor& w1, const torch::Tensor& b1,
                                const torch::Tensor& w2, const torch::Tensor& b2);

// Whether feed_forward_relu takes the cuBLASLt epilogues of kernels/relu_gemm.h for these operands.
bool feed_forward_relu_fused(const torch::Tensor& x, const torch::Tensor& w1, const torch::Tensor& b1,
                             const torch::Tensor& w2, const torch::Tensor& b2);

// Whether this build has kernels/relu_gemm.h (the CUDA kernels and the toolkit's cuBLASLt: CMakeLists.txt).
bool relu_gemm_built();

// How many GEMMs of feed_forward_relu fell back to LibTorch because cuBLASLt had no algorithm for the epilogue and
// shape (each such fallback is also reported once on stderr). Tests check that the fused path really ran.
int64_t relu_epilogue_fallbacks();

// Tests: whether linear_relu and feed_forward_relu may fuse (the environment decides until this is called).
void set_relu_epilogue_enabled(bool on);
// What MQA_RELU_EPILOGUE asks for (unset or 1: fused, 0: the plain path; anything else throws, naming it). Read
// once; `mqa` reads it before any command.
bool relu_epilogue_requested();

}  // namespace mqa
