// torch::optim keys per-parameter state by the parameter's TensorImpl: as its address in text on LibTorch 1.x, as
// the pointer itself on 2.x. Optimizers of our own (Adafactor, FusedAdamW) index Optimizer::state_ with this.
#pragma once
#include <torch/torch.h>
#include <torch/version.h>

#include <sstream>
#include <string>

namespace mqa {

#if TORCH_VERSION_MAJOR >= 2
inline void* optimizer_state_key(const torch::Tensor& p) { return p.unsafeGetTensorImpl(); }
#else
inline std::string optimizer_state_key(const torch::Tensor& p) {
  std::ostringstream s;
  s << p.unsafeGetTensorImpl();
  return s.str();
}
#endif

}  // namespace mqa
