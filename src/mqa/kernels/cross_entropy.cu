// Label-smoothed cross-entropy over bf16 logits (cross_entropy.h): one block per row, 16-byte loads, fp32
// arithmetic, an online log-sum-exp (running max and the sum of exp(z - max)) merged across the block.
#include <cmath>

#include "mqa/kernels/bf16_vector.cuh"
#include "mqa/kernels/cross_entropy.h"

namespace mqa::kernels {

namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

// A thread's (and, merged, a row's) log-sum-exp of z and sum of z.
struct RowSums {
  LogSumExp lse;
  float z = 0.f;
  __device__ void merge(const RowSums& o) {
    lse.merge(o.lse);
    z += o.z;
  }
};

__global__ void __launch_bounds__(kThreads)
    cross_entropy_forward_kernel(const bf16* logits, const int64_t* target, int64_t vocab, float* lse, float* nll,
                                 float* sum_logp) {
  const int64_t row = blockIdx.x;
  const bf16* x = logits + row * vocab;
  RowSums t;
  for (int64_t v = static_cast<int64_t>(threadIdx.x) * kVec; v < vocab; v += kThreads * kVec) {
    float f[kVec];
    load8(x + v, f);
    t.lse.add8(f);
    float z = 0.f;
#pragma unroll
    for (int e = 0; e < kVec; ++e) z += f[e];
    t.z += z;
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    RowSums other;
    other.lse = t.lse.shuffle_xor(o);
    other.z = __shfl_xor_sync(0xffffffffu, t.z, o);
    t.merge(other);
  }
  __shared__ RowSums warps[kWarps];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) warps[warp] = t;
  __syncthreads();
  if (threadIdx.x == 0) {
    RowSums r = warps[0];
    for (int w = 1; w < kWarps; ++w) r.merge(warps[w]);
    const float l = r.lse.mx + logf(r.lse.s);
    lse[row] = l;
    nll[row] = l - __bfloat162float(x[target[row]]);
    sum_logp[row] = r.z - static_cast<float>(vocab) * l;
  }
}

__global__ void __launch_bounds__(kThreads)
    cross_entropy_backward_kernel(const bf16* logits, const int64_t* target, int64_t pad_id, int64_t vocab,
                                  const float* lse, const float* grad_loss, const float* grad_nll, float eps,
                                  bf16* grad) {
  const int64_t row = blockIdx.x;
  const bf16* x = logits + row * vocab;
  bf16* g = grad + row * vocab;
  const int64_t y = target[row];
  const float keep = y == pad_id ? 0.f : 1.f;
  const float gl = *grad_loss, gn = *grad_nll;
  const float off = eps / static_cast<float>(vocab - 1);
  const float a = keep * (gl + gn), b = keep * gl * off, at_target = keep * (gl * (1.f - eps - off) + gn);
  const float l = lse[row];
  for (int64_t v = static_cast<int64_t>(threadIdx.x) * kVec; v < vocab; v += kThreads * kVec) {
    float f[kVec];
    load8(x + v, f);
#pragma unroll
    for (int e = 0; e < kVec; ++e) f[e] = a * __expf(f[e] - l) - b - (v + e == y ? at_target : 0.f);
    store8(g + v, f);
  }
}

}  // namespace

bool cross_entropy_supported(int64_t vocab, const void* logits, const void* grad) {
  return vocab >= 2 && vocab % kVec == 0 && aligned16(logits) && (grad == nullptr || aligned16(grad));
}

void cross_entropy_forward(const void* logits, const int64_t* target, int64_t rows, int64_t vocab, float* lse,
                           float* nll, float* sum_logp, cudaStream_t stream) {
  if (rows == 0) return;
  cross_entropy_forward_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
      static_cast<const bf16*>(logits), target, vocab, lse, nll, sum_logp);
}

void cross_entropy_backward(const void* logits, const int64_t* target, int64_t pad_id, int64_t rows, int64_t vocab,
                            const float* lse, const float* grad_loss, const float* grad_nll, float eps, void* grad,
                            cudaStream_t stream) {
  if (rows == 0) return;
  cross_entropy_backward_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
      static_cast<const bf16*>(logits), target, pad_id, vocab, lse, grad_loss, grad_nll, eps,
      static_cast<bf16*>(grad));
}

}  // namespace mqa::kernels
