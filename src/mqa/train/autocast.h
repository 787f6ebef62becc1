// Mixed precision for the forward pass: while an Autocast object lives, eligible ops (matmuls, linear layers) on
// `device` run in `dtype` (bf16) while the parameters stay fp32 (the master weights the optimizer updates).
// fp32 makes it a no-op. LibTorch 1.13 and 2.x spell the autocast switches differently (util/autocast_state.h).
//
// The bf16 copies of the weights: autocast casts an fp32 leaf parameter once and keeps the copy in its cache
// (at::autocast::cached_cast) until the outermost autocast region closes. With one Autocast per micro-batch every
// micro-batch casts every weight again. A WeightCastCache held over a whole optimizer step keeps the outermost
// region open across the step's micro-batches (train.weight_cast = per_step), so each weight is cast once per step
// and the copies are dropped when it ends, before the optimizer changes the fp32 weights they were made from.
// Gradients still flow through the cast into the fp32 parameters' .grad, accumulated in fp32.
#pragma once
#include <torch/torch.h>

namespace mqa {

class Autocast {
 public:
  // low_precision_residual: the residual stream and layer norms in `dtype` too (util/autocast_state.h,
  // train.bf16_residual); no effect for fp32.
  Autocast(const torch::Device& device, torch::ScalarType dtype, bool low_precision_residual = false);
  ~Autocast();
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  bool active_ = false;
  c10::DeviceType type_ = c10::DeviceType::CPU;
  bool prev_enabled_ = false;
  torch::ScalarType prev_dtype_ = torch::kFloat32;
  bool prev_low_precision_residual_ = false;
};

// Keeps autocast's cache of cast weights alive from construction to destruction (see above). Inactive for fp32.
class WeightCastCache {
 public:
  explicit WeightCastCache(torch::ScalarType dtype);
  ~WeightCastCache();
  WeightCastCache(const WeightCastCache&) = delete;
  WeightCastCache& operator=(const WeightCastCache&) = delete;

 private:
  bool active_ = false;
};

}  // namespace mqa
