// The decode attention's divisions by run-time counts (heads per key/value head, key/value heads, 16-byte chunks of a
// head) go through FastDivisor's multiply and shift on the GPU; the same arithmetic runs here on the host.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "mqa/kernels/fast_divisor.h"

namespace {

using mqa::kernels::FastDivisor;

// Numerators where a multiply-and-shift division goes wrong first: around every multiple of d, and the ends of the
// 31-bit range.
std::vector<int32_t> probes(int32_t d) {
  std::vector<int32_t> n;
  for (int32_t x = 0; x < 4096; ++x) n.push_back(x);
  for (int64_t k = 1; k * d < (int64_t{1} << 31); k = k < 64 ? k + 1 : k * 3 + 1)
    for (int64_t delta : {-1, 0, 1}) {
      const int64_t x = k * d + delta;
      if (x >= 0 && x < (int64_t{1} << 31)) n.push_back(static_cast<int32_t>(x));
    }
  for (int64_t x = (int64_t{1} << 31) - 4096; x < (int64_t{1} << 31); ++x) n.push_back(static_cast<int32_t>(x));
  return n;
}

TEST(FastDivisor, EqualsIntegerDivisionForEveryDivisorUpTo4096AndLargeOnes) {
  std::vector<int32_t> divisors;
  for (int32_t d = 1; d <= 4096; ++d) divisors.push_back(d);
  for (int32_t d : {65535, 65536, 65537, 1 << 20, (1 << 20) + 1, 999983, (1 << 30) - 1, 1 << 30, (1 << 30) + 1,
                    2147483647})
    divisors.push_back(d);
  int64_t checked = 0;
  for (int32_t d : divisors) {
    const FastDivisor f(d);
    for (int32_t n : probes(d)) {
      ASSERT_EQ(f.div(n), n / d) << n << " / " << d;
      ASSERT_EQ(f.mod(n), n % d) << n << " % " << d;
      ++checked;
    }
  }
  EXPECT_GT(checked, int64_t{4096} * 4096);
}

TEST(FastDivisor, DivisorOneIsTheIdentity) {
  const FastDivisor one(1);
  EXPECT_EQ(one.mul, 0u);
  for (int32_t n : {0, 1, 17, 2147483647}) {
    EXPECT_EQ(one.div(n), n);
    EXPECT_EQ(one.mod(n), 0);
  }
}

}  // namespace
