// Mixed precision for the forward pass: while an Autocast object lives, eligible ops (matmuls, linear layers) on
// `device` run in `dtype` (bf16) while the parameters stay fp32 (the master weights the optimizer updates).
// fp32 makes it a no-op. LibTorch 1.13 and 2.x spell the autocast switches differently; both are handled here.
#pragma once
#include <torch/torch.h>

namespace mqa {

class Autocast {
 public:
  Autocast(const torch::Device& device, torch::ScalarType dtype);
  ~Autocast();
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  bool active_ = false;
  bool cuda_ = false;
  bool prev_enabled_ = false;
  torch::ScalarType prev_dtype_ = torch::kFloat32;
};

}  // namespace mqa
