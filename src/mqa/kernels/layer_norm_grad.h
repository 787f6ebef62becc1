// The weight and bias gradients of a bf16 layer norm (util/bf16_layer_norm.h), as one pass over dy and x at memory
// speed. LibTorch's GammaBetaBackward kernel took 300 us per call for [65536, 1024] bf16 rows on an H100 (32 calls,
// 9.6 ms, 4% of a training step of the paper's baseline; experiments/training-throughput/2026-12-06/
// train_profile.md) where reading dy and x is ~80 us. Plain-pointer launchers (no LibTorch here or in the .cu);
// built only with nvcc and a CUDA LibTorch (MQA_WITH_KERNELS).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace mqa::kernels {

// Whether the kernel takes rows of `cols` bf16 values at these pointers (cols a multiple of 8, 16-byte aligned).
bool layer_norm_weight_grad_supported(int64_t cols, const void* dy, const void* x);

// The fp32 scratch the kernel needs for `rows` x `cols`, in floats.
int64_t layer_norm_weight_grad_workspace(int64_t rows, int64_t cols);

// dgamma[c] = sum_r dy[r, c] (x[r, c] - mean[r]) rstd[r] and dbeta[c] = sum_r dy[r, c], summed in fp32, for bf16
// dy and x [rows, cols] (contiguous) and fp32 mean, rstd [rows] (what at::native_layer_norm saves); fp32 dgamma
// and dbeta [cols]. Partial sums over chunks of rows go to `workspace` (layer_norm_weight_grad_workspace floats),
// then a second kernel adds them up: no atomics, the same result on every run.
void layer_norm_weight_grad(const void* dy, const void* x, const float* mean, const float* rstd, int64_t rows,
                            int64_t cols, float* workspace, float* dgamma, float* dbeta, cudaStream_t stream);

}  // namespace mqa::kernels
