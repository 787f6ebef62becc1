#include "mqa/train/autocast.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

// LibTorch >= 2.4 takes the device type; the device-less CUDA switches of 1.13 were deprecated, then removed.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define MQA_AUTOCAST_BY_DEVICE_TYPE 1
#endif

namespace mqa {

namespace {

bool autocast_enabled(bool cuda) {
#ifdef MQA_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::is_autocast_enabled(cuda ? at::kCUDA : at::kCPU);
#else
  return cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

void set_autocast_enabled(bool cuda, bool on) {
#ifdef MQA_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_enabled(cuda ? at::kCUDA : at::kCPU, on);
#else
  if (cuda)
    at::autocast::set_enabled(on);
  else
    at::autocast::set_cpu_enabled(on);
#endif
}

torch::ScalarType autocast_dtype(bool cuda) {
#ifdef MQA_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::get_autocast_dtype(cuda ? at::kCUDA : at::kCPU);
#else
  return cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
#endif
}

void set_autocast_dtype(bool cuda, torch::ScalarType dtype) {
#ifdef MQA_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_dtype(cuda ? at::kCUDA : at::kCPU, dtype);
#else
  if (cuda)
    at::autocast::set_autocast_gpu_dtype(dtype);
  else
    at::autocast::set_autocast_cpu_dtype(dtype);
#endif
}

}  // namespace

Autocast::Autocast(const torch::Device& device, torch::ScalarType dtype) {
  if (dtype == torch::kFloat32) return;
  TORCH_CHECK(device.is_cuda() || device.is_cpu(), "autocast: unsupported device ", device);
  active_ = true;
  cuda_ = device.is_cuda();
  prev_enabled_ = autocast_enabled(cuda_);
  prev_dtype_ = autocast_dtype(cuda_);
  set_autocast_enabled(cuda_, true);
  set_autocast_dtype(cuda_, dtype);
  at::autocast::increment_nesting();
}

Autocast::~Autocast() {
  if (!active_) return;
  // As Python's torch.autocast.__exit__: the cache of casted weights lives for the outermost region only.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast_enabled(cuda_, prev_enabled_);
  set_autocast_dtype(cuda_, prev_dtype_);
}

}  // namespace mqa
