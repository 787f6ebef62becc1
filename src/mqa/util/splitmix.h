// splitmix64: a tiny, fast generator that yields the same sequence on every platform and standard library
// (std::shuffle and the std distributions are implementation-defined, which would make "same seed, same corpus /
// same batch order" depend on the compiler).
#pragma once
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace mqa {

struct SplitMix64 {
  uint64_t s;
  explicit SplitMix64(uint64_t seed) : s(seed) {}
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double real() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  size_t below(size_t n) { return static_cast<size_t>(real() * static_cast<double>(n)); }
  bool chance(double p) { return real() < p; }
  template <class T>
  void shuffle(std::vector<T>& v) {  // Fisher-Yates
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[next() % i]);
  }
};

}  // namespace mqa
