#include "mqa/train/autocast.h"

#include <ATen/autocast_mode.h>

#include "mqa/util/autocast_state.h"

namespace mqa {

namespace {
// As Python's torch.autocast.__exit__: the cache of cast weights lives until the outermost region closes.
void leave_region() {
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
}
}  // namespace

Autocast::Autocast(const torch::Device& device, torch::ScalarType dtype, bool low_precision_residual) {
  if (dtype == torch::kFloat32) return;
  TORCH_CHECK(device.is_cuda() || device.is_cpu(), "autocast: unsupported device ", device);
  active_ = true;
  type_ = device.type();
  prev_enabled_ = autocast_enabled(type_);
  prev_dtype_ = autocast_dtype(type_);
  set_autocast_enabled(type_, true);
  set_autocast_dtype(type_, dtype);
  prev_low_precision_residual_ = autocast_low_precision_residual();
  set_autocast_low_precision_residual(low_precision_residual);
  at::autocast::increment_nesting();
}

Autocast::~Autocast() {
  if (!active_) return;
  leave_region();
  set_autocast_low_precision_residual(prev_low_precision_residual_);
  set_autocast_enabled(type_, prev_enabled_);
  set_autocast_dtype(type_, prev_dtype_);
}

WeightCastCache::WeightCastCache(torch::ScalarType dtype) : active_(dtype != torch::kFloat32) {
  if (active_) at::autocast::increment_nesting();
}

WeightCastCache::~WeightCastCache() {
  if (active_) leave_region();
}

}  // namespace mqa
