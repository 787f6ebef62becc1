// What the CUDA test files share: the relative error they compare kernels and paths by, and the small model
// configuration they run (2+2 layers, d_model 256, d_k = d_v 32, d_ff 512, no dropout, 128 positions).
#pragma once
#include <torch/torch.h>

#include <string>

#include "mqa/config/model_config.h"

namespace mqa::test {

// |a - b| / |b| over all elements, in fp64 (b's norm floored at 1e-30).
inline double relative_error(const torch::Tensor& a, const torch::Tensor& b) {
  auto fa = a.to(torch::kFloat64), fb = b.to(torch::kFloat64);
  return ((fa - fb).norm() / fb.norm().clamp_min(1e-30)).item<double>();
}

inline ModelConfig small_cuda_config(const std::string& type, int heads, int kv_heads, int window) {
  ModelConfig c;
  c.type = type;
  c.encoder_layers = 2;
  c.decoder_layers = 2;
  c.d_model = 256;
  c.heads = heads;
  c.kv_heads = kv_heads;
  c.d_k = 32;
  c.d_v = 32;
  c.d_ff = 512;
  c.window = window;
  c.dropout = 0;
  c.max_positions = 128;
  return c;
}

}  // namespace mqa::test
