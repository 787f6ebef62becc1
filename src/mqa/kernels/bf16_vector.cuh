// 16-byte loads and stores of 8 bf16 values as floats, and warp reductions: what every decode kernel needs.
#pragma once
#include <cuda_bf16.h>

#include <cstdint>

namespace mqa::kernels {

using bf16 = __nv_bfloat16;
constexpr int kVec = 8;  // bf16 elements in one 16-byte load

__device__ __forceinline__ void load8(const bf16* p, float (&f)[kVec]) {
  const uint4 u = *reinterpret_cast<const uint4*>(p);
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 x = __bfloat1622float2(h[i]);
    f[2 * i] = x.x;
    f[2 * i + 1] = x.y;
  }
}

__device__ __forceinline__ void store8(bf16* p, const float (&f)[kVec]) {
  uint4 u;
  __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&u);
#pragma unroll
  for (int i = 0; i < 4; ++i) h[i] = __floats2bfloat162_rn(f[2 * i], f[2 * i + 1]);
  *reinterpret_cast<uint4*>(p) = u;
}

// The value bf16 arithmetic would have stored: LibTorch rounds every bf16 op's float result to bf16.
__device__ __forceinline__ float round_bf16(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }

__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

__device__ __forceinline__ float warp_max(float x) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}

constexpr float kLog2e = 1.4426950408889634f;

// 2^x in one instruction (MUFU.EX2, approximate; -inf gives 0). exp2f without fast math wraps it in a range
// reduction, and __expf(x) is this with a multiply in front.
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

__device__ __forceinline__ float max8(const float (&f)[kVec]) {
  float m = f[0];
#pragma unroll
  for (int e = 1; e < kVec; ++e) m = fmaxf(m, f[e]);
  return m;
}

// A running log-sum-exp as (max, sum of e^(x - max)), fed 8 values at a time (one rescale per 8, not per value) and
// merged across threads.
struct LogSumExp {
  float mx = -INFINITY, s = 0.f;
  // Adds f; returns their max.
  __device__ __forceinline__ float add8(const float (&f)[kVec]) {
    const float m = max8(f);
    if (m > mx) {
      s = mx == -INFINITY ? 0.f : s * fast_exp2((mx - m) * kLog2e);
      mx = m;
    }
    const float base = mx == -INFINITY ? 0.f : mx * kLog2e;  // every value -inf so far: each term 0
#pragma unroll
    for (int e = 0; e < kVec; ++e) s += fast_exp2(fmaf(f[e], kLog2e, -base));
    return m;
  }
  __device__ __forceinline__ void merge(const LogSumExp& o) {
    const float m = fmaxf(mx, o.mx);
    s = (mx == -INFINITY ? 0.f : s * fast_exp2((mx - m) * kLog2e)) +
        (o.mx == -INFINITY ? 0.f : o.s * fast_exp2((o.mx - m) * kLog2e));
    mx = m;
  }
  __device__ __forceinline__ LogSumExp shuffle_xor(int offset) const {
    LogSumExp o;
    o.mx = __shfl_xor_sync(0xffffffffu, mx, offset);
    o.s = __shfl_xor_sync(0xffffffffu, s, offset);
    return o;
  }
};

__host__ __device__ inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

}  // namespace mqa::kernels
