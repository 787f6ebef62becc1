// n / d and n % d for a divisor d known only at run time, by a multiply-high and a shift (Granlund and Montgomery,
// "Division by invariant integers using multiplication", 1994; the form of CUTLASS's FastDivmod). A 32-bit integer
// division is ~20 instructions on the GPU; the decode attention's short launches are bound by the latency of their
// instructions, and their setup divided by head counts and chunk counts a dozen times a thread (experiments/table2/
// NOTES.md, items 35 and 37). Exact for 0 <= n < 2^31 and 1 <= d < 2^31 (checked on the host: tests/test_fast_divisor.cpp).
#pragma once
#include <cstdint>

#ifdef __CUDACC__
#define MQA_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define MQA_HOST_DEVICE inline
#endif

namespace mqa::kernels {

struct FastDivisor {
  int32_t d = 1;
  uint32_t mul = 0;    // ceil(2^(31 + l) / d) with l = ceil(log2 d); 0 for d = 1 (n / 1 = n)
  uint32_t shift = 0;  // l - 1

  FastDivisor() = default;
  explicit FastDivisor(int32_t divisor) : d(divisor) {
    if (d <= 1) return;  // d = 1 (d < 1 is the caller's error: kept from dividing by zero here, n / d = n)
    uint32_t l = 0;
    while ((1u << l) < static_cast<uint32_t>(d)) ++l;
    mul = static_cast<uint32_t>(((uint64_t{1} << (31 + l)) + static_cast<uint64_t>(d) - 1) / static_cast<uint64_t>(d));
    shift = l - 1;
  }

  MQA_HOST_DEVICE int32_t div(int32_t n) const {
#ifdef __CUDA_ARCH__
    const uint32_t hi = __umulhi(static_cast<uint32_t>(n), mul);
#else
    const auto hi = static_cast<uint32_t>((static_cast<uint64_t>(static_cast<uint32_t>(n)) * mul) >> 32);
#endif
    return mul ? static_cast<int32_t>(hi >> shift) : n;
  }
  MQA_HOST_DEVICE int32_t mod(int32_t n) const { return n - div(n) * d; }
};

}  // namespace mqa::kernels

#undef MQA_HOST_DEVICE
