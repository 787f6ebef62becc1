#include "mqa/util/layer_norm_bf16.h"

#include "mqa/util/env_switch.h"

#ifdef MQA_WITH_KERNELS
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

#include "mqa/kernels/layer_norm_grad.h"
#endif

namespace mqa {

namespace {

KernelSwitch& layer_norm_kernels() {  // MQA_LAYER_NORM_KERNELS, or set_layer_norm_kernels_enabled in tests
  static KernelSwitch s("MQA_LAYER_NORM_KERNELS", "layer norm weight gradients on mqa's CUDA kernel; 0: LibTorch's");
  return s;
}

#ifdef MQA_WITH_KERNELS
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Forward: at::native_layer_norm, keeping its fp32 mean and rstd. Backward: the input gradient from
// at::native_layer_norm_backward, the weight and bias gradients from the kernel (summed in fp32, returned in the
// weight's dtype as LibTorch's backward does).
struct LayerNormWithWeightGradKernel : public torch::autograd::Function<LayerNormWithWeightGradKernel> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, double eps) {
    const int64_t d = x.size(-1);
    auto [y, mean, rstd] = at::native_layer_norm(x, {d}, weight, bias, eps);
    TORCH_CHECK(mean.scalar_type() == torch::kFloat32 && rstd.scalar_type() == torch::kFloat32,
                "layer_norm_bf16: the kernel needs LibTorch's fp32 mean and rstd, got ", mean.scalar_type());
    ctx->save_for_backward({x, weight, bias, mean, rstd});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &weight = saved[1], &bias = saved[2], &mean = saved[3], &rstd = saved[4];
    const int64_t d = x.size(-1), rows = x.numel() / d;
    auto dy = grad_out[0].to(x.scalar_type()).contiguous();
    auto grads = at::native_layer_norm_backward(dy, x, {d}, mean, rstd, weight, bias, {true, false, false});
    auto f32 = x.options().dtype(torch::kFloat32);
    auto dgamma = torch::empty({d}, f32), dbeta = torch::empty({d}, f32);
    auto workspace = torch::empty({kernels::layer_norm_weight_grad_workspace(rows, d)}, f32);
    kernels::layer_norm_weight_grad(dy.data_ptr(), x.data_ptr(), mean.contiguous().data_ptr<float>(),
                                    rstd.contiguous().data_ptr<float>(), rows, d, workspace.data_ptr<float>(),
                                    dgamma.data_ptr<float>(), dbeta.data_ptr<float>(),
                                    at::cuda::getCurrentCUDAStream().stream());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return {std::get<0>(grads), dgamma.to(weight.scalar_type()), dbeta.to(bias.scalar_type()), torch::Tensor()};
  }
};

// The kernel path: bf16 on the GPU, contiguous, with weight and bias, rows the kernel takes.
bool use_kernel(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  return layer_norm_kernels().on() && x.is_cuda() && x.scalar_type() == torch::kBFloat16 && x.is_contiguous() &&
         weight.defined() && bias.defined() && weight.requires_grad() && bias.requires_grad() &&
         kernels::layer_norm_weight_grad_supported(x.size(-1), x.data_ptr(), x.data_ptr());
}
#endif

}  // namespace

torch::Tensor layer_norm_bf16(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                              double eps) {
#ifdef MQA_WITH_KERNELS
  if (use_kernel(x, weight, bias)) return LayerNormWithWeightGradKernel::apply(x, weight, bias, eps);
#endif
  return torch::layer_norm(x, {x.size(-1)}, weight, bias, eps);
}

void set_layer_norm_kernels_enabled(bool on) { layer_norm_kernels().set(on); }
bool layer_norm_kernels_requested() { return layer_norm_kernels().requested(); }

}  // namespace mqa
