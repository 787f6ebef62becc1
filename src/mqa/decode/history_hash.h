// The hash of a beam-search row's history (beam_search.cpp, and the fused update in kernels/step_kernels.cu), by which
// the greedy row's finished hypothesis is told from a beam's: h' = (h * kMultiplier + token + 1) mod kModulus
// (products stay below 2^62). Free of LibTorch and CUDA headers, for both.
#pragma once
#include <cstdint>

namespace mqa::history_hash {
constexpr int64_t kMultiplier = 1000003, kModulus = 2147483647;
}  // namespace mqa::history_hash
