#include "mqa/util/autocast_state.h"

#include "mqa/util/layer_norm_bf16.h"
#include "mqa/util/linear_relu.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <utility>

// LibTorch >= 2.4 takes the device type; the device-less CUDA switches of 1.13 were deprecated, then removed.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define MQA_AUTOCAST_BY_DEVICE_TYPE 1
#endif

namespace mqa {

namespace {
void check_supported(c10::DeviceType t) {
  TORCH_CHECK(t == c10::DeviceType::CUDA || t == c10::DeviceType::CPU, "autocast: unsupported device type ", t);
}
}  // namespace

bool autocast_enabled(c10::DeviceType t) {
  if (t != c10::DeviceType::CUDA && t != c10::DeviceType::CPU) return false;
#ifdef MQA_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::is_autocast_enabled(t);
#else
  return t == c10::DeviceType::CUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

void set_autocast_enabled(c10::DeviceType t, bool on) {
  check_supported(t);
#ifdef MQA_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_enabled(t, on);
#else
  if (t == c10::DeviceType::CUDA)
    at::autocast::set_enabled(on);
  else
    at::autocast::set_cpu_enabled(on);
#endif
}

torch::ScalarType autocast_dtype(c10::DeviceType t) {
  check_supported(t);
#ifdef MQA_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::get_autocast_dtype(t);
#else
  return t == c10::DeviceType::CUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
#endif
}

void set_autocast_dtype(c10::DeviceType t, torch::ScalarType dtype) {
  check_supported(t);
#ifdef MQA_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_dtype(t, dtype);
#else
  if (t == c10::DeviceType::CUDA)
    at::autocast::set_autocast_gpu_dtype(dtype);
  else
    at::autocast::set_autocast_cpu_dtype(dtype);
#endif
}

torch::Tensor cast_for_autocast(const torch::Tensor& x) {
  const auto t = x.device().type();
  if (x.scalar_type() != torch::kFloat32 || !autocast_enabled(t)) return x;
  return x.to(autocast_dtype(t));
}

torch::Tensor autocast_weight(const torch::Tensor& w) {
  const auto t = w.device().type();
  if (w.scalar_type() != torch::kFloat32 || !autocast_enabled(t)) return w;
  return at::autocast::cached_cast(autocast_dtype(t), w, t);
}

namespace {
// The weight and bias of `layer` as autocast computes with them (autocast_weight: themselves outside autocast).
std::pair<torch::Tensor, torch::Tensor> autocast_params(const torch::nn::Linear& layer) {
  const auto& bias = layer->bias;
  return {autocast_weight(layer->weight), bias.defined() ? autocast_weight(bias) : bias};
}
}  // namespace

torch::Tensor autocast_linear(const torch::nn::Linear& layer, const torch::Tensor& x) {
  auto [weight, bias] = autocast_params(layer);
  return torch::linear(cast_for_autocast(x), weight, bias);  // not F::linear: see autocast_state.h
}

torch::Tensor autocast_linear_relu(const torch::nn::Linear& layer, const torch::Tensor& x) {
  auto [weight, bias] = autocast_params(layer);
  return linear_relu(cast_for_autocast(x), weight, bias);
}

namespace {
thread_local bool low_precision_residual = false;
}  // namespace

bool autocast_low_precision_residual() { return low_precision_residual; }
void set_autocast_low_precision_residual(bool on) { low_precision_residual = on; }

torch::Tensor autocast_residual(const torch::Tensor& x) {
  return low_precision_residual ? cast_for_autocast(x) : x;
}

torch::Tensor autocast_layer_norm(const torch::nn::LayerNorm& norm, const torch::Tensor& x) {
  const auto t = x.device().type();
  if (!low_precision_residual || !autocast_enabled(t)) return norm.ptr()->forward(x);
  const auto& o = norm->options;
  auto y = cast_for_autocast(x);
  auto w = o.elementwise_affine() ? autocast_weight(norm->weight) : torch::Tensor();
  auto b = o.elementwise_affine() ? autocast_weight(norm->bias) : torch::Tensor();
  // Autocast's dispatch would cast y up to fp32 again: off for this one call.
  struct AutocastOff {
    c10::DeviceType type;
    explicit AutocastOff(c10::DeviceType t) : type(t) { set_autocast_enabled(type, false); }
    ~AutocastOff() { set_autocast_enabled(type, true); }
  } off(t);
  TORCH_CHECK(o.normalized_shape().size() == 1 && o.normalized_shape()[0] == y.size(-1),
              "autocast_layer_norm: normalises the last dimension only");
  return layer_norm_bf16(y, w, b, o.eps());
}

}  // namespace mqa
