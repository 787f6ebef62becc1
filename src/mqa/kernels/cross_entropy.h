// The training loss's CUDA kernels (train/loss.h): label-smoothed cross-entropy over bf16 logits [rows, vocab] in
// one read of the logits forward and one read + one write backward, with nothing of [rows, vocab] in fp32. The
// LibTorch path it replaces casts each chunk of logits to fp32 and runs log_softmax, gather, sum forward and cast,
// softmax, multiply-add, scatter and cast backward: ~10 passes over fp32 [chunk, vocab]. Plain-pointer launchers
// (no LibTorch in this header or the .cu); built only with nvcc and a CUDA LibTorch (MQA_WITH_KERNELS), wrapped
// and tested against the LibTorch path by train/loss.cpp.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace mqa::kernels {

// Whether the kernels take this vocabulary (a multiple of 8, for 16-byte loads) and these pointers (16-byte
// aligned logits and gradient, contiguous rows).
bool cross_entropy_supported(int64_t vocab, const void* logits, const void* grad);

// Per row r (z = logits row r, y = target[r]): lse[r] = log sum_v exp(z_v), nll[r] = lse[r] - z_y,
// sum_logp[r] = sum_v z_v - vocab * lse[r] (the sum of the row's log-probabilities). fp32 outputs of rows elements.
void cross_entropy_forward(const void* logits, const int64_t* target, int64_t rows, int64_t vocab, float* lse,
                           float* nll, float* sum_logp, cudaStream_t stream);

// The gradient of loss = sum_r keep_r ((1 - eps) nll_r + eps * mean of -log p over the V - 1 other words) scaled by
// *grad_loss, plus nll summed over kept rows scaled by *grad_nll (both fp32 scalars on the device: no host sync),
// keep_r = (target[r] != pad_id), into bf16 grad [rows, vocab]:
//   grad_rv = keep_r ((gl + gn) p_rv - gl eps / (V - 1)) - [v = y_r] keep_r (gl (1 - eps - eps / (V - 1)) + gn)
// with p_rv = exp(z_rv - lse[r]).
void cross_entropy_backward(const void* logits, const int64_t* target, int64_t pad_id, int64_t rows, int64_t vocab,
                            const float* lse, const float* grad_loss, const float* grad_nll, float eps, void* grad,
                            cudaStream_t stream);

}  // namespace mqa::kernels
