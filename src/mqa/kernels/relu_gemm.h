// The feed-forward layer's two ReLU GEMMs on cuBLASLt epilogues (util/linear_relu.h's feed_forward_relu), bf16 in
// and out, fp32 accumulation, row-major [rows, cols] tensors as LibTorch lays them out:
//   forward   h = relu(x W1^T + b1), also writing the ReLU's mask (one bit per element of h: h > 0);
//   backward  dpre = (g W2) * mask and db1 = the column sums of dpre, in the GEMM that computes g W2.
// LibTorch runs the backward as a GEMM writing g W2, a threshold_backward pass reading it and h and writing dpre, and a
// reduction reading dpre again for db1: 12 calls of 520 us + 12 of ~140 us in the paper baseline's 222-ms training
// step on an H100 (experiments/training-throughput/README.md), all of it in the GEMM's epilogue here. Plain-pointer
// host code (no LibTorch here or in the .cu); built only with nvcc and a CUDA LibTorch (MQA_WITH_KERNELS).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace mqa::kernels {

// The mask's leading dimension in bits for d_ff columns (cuBLASLt wants a multiple of 128), and its size in bytes
// for `rows` rows.
int64_t relu_mask_ld(int64_t d_ff);
int64_t relu_mask_bytes(int64_t rows, int64_t d_ff);

// The cuBLASLt workspace the two calls may use, in bytes.
constexpr size_t kReluGemmWorkspace = 32u << 20;

// h [rows, d_ff] = relu(x [rows, d] W1 [d_ff, d]^T + b1 [d_ff]) and its mask (relu_mask_bytes, 256-byte aligned).
// False (nothing written) when cuBLASLt has no algorithm for this epilogue and shape: the caller falls back.
bool gemm_bias_relu_mask(const void* x, const void* w1, const void* b1, void* h, void* mask, int64_t rows, int64_t d,
                         int64_t d_ff, void* workspace, cudaStream_t stream);

// dpre [rows, d_ff] = (g [rows, d] W2 [d, d_ff]) * mask and db1 [d_ff] = sum over rows of dpre (bf16, as LibTorch's
// bias gradient). False as above.
bool gemm_relu_grad_bias_grad(const void* g, const void* w2, const void* mask, void* dpre, void* db1, int64_t rows,
                              int64_t d, int64_t d_ff, void* workspace, cudaStream_t stream);

}  // namespace mqa::kernels
