#include "mqa/util/linear_relu.h"

#include <torch/version.h>

#include "mqa/util/env_switch.h"

namespace mqa {

namespace {

KernelSwitch& relu_epilogue() {  // MQA_RELU_EPILOGUE, or set_relu_epilogue_enabled in tests
  static KernelSwitch s("MQA_RELU_EPILOGUE", "the feed-forward ReLU in its first GEMM's epilogue; 0: a ReLU kernel");
  return s;
}

// relu(x W^T + b) as one _addmm_activation on x's rows.
torch::Tensor addmm_relu(const torch::Tensor& x2, const torch::Tensor& weight, const torch::Tensor& bias) {
  return at::_addmm_activation(bias, x2, weight.t(), 1, 1, /*use_gelu=*/false);
}

std::vector<int64_t> with_last(const torch::Tensor& x, int64_t last) {
  auto sizes = x.sizes().vec();
  sizes.back() = last;
  return sizes;
}

bool needs_grad(std::initializer_list<const torch::Tensor*> ts) {
  if (!c10::GradMode::is_enabled()) return false;
  for (const auto* t : ts)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct LinearReLU : public torch::autograd::Function<LinearReLU> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias) {
    auto x2 = x.reshape({-1, x.size(-1)});
    auto y = addmm_relu(x2, weight, bias);
    ctx->save_for_backward({x2, weight, y});
    ctx->saved_data["x_sizes"] = x.sizes().vec();
    return y.view(with_last(x, weight.size(0)));
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    auto saved = ctx->get_saved_variables();
    const auto &x2 = saved[0], &weight = saved[1], &y = saved[2];
    // ReLU's gradient from its output, as LibTorch's ReluBackward does; then linear's (x, weight, bias).
    auto g = at::threshold_backward(grad_out[0].reshape(y.sizes()), y, 0);
    variable_list grads(3);
    if (ctx->needs_input_grad(0)) grads[0] = g.mm(weight).view(ctx->saved_data["x_sizes"].toIntVector());
    if (ctx->needs_input_grad(1)) grads[1] = g.t().mm(x2);
    if (ctx->needs_input_grad(2)) grads[2] = g.sum(0);
    return grads;
  }
};

}  // namespace

bool linear_relu_fused(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
#if TORCH_VERSION_MAJOR >= 2
  const auto t = x.scalar_type();
  return relu_epilogue().on() && bias.defined() && x.is_cuda() && c10::isFloatingType(t) &&
         weight.scalar_type() == t && bias.scalar_type() == t && x.dim() >= 2 && x.numel() > 0;
#else
  (void)x, (void)weight, (void)bias;
  return false;  // cuBLASLt's ReLU epilogue came to _addmm_activation with LibTorch 2 (CPU builds: no gain)
#endif
}

torch::Tensor linear_relu_epilogue(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  TORCH_CHECK(bias.defined(), "linear_relu_epilogue: needs a bias");
  if (needs_grad({&x, &weight, &bias})) return LinearReLU::apply(x, weight, bias);
  return addmm_relu(x.reshape({-1, x.size(-1)}), weight, bias).view(with_last(x, weight.size(0)));  // no graph
}

torch::Tensor linear_relu(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  if (linear_relu_fused(x, weight, bias)) return linear_relu_epilogue(x, weight, bias);
  return torch::relu(torch::linear(x, weight, bias));  // ATen's linear: the bias in the GEMM (autocast_state.h)
}

void set_relu_epilogue_enabled(bool on) { relu_epilogue().set(on); }
bool relu_epilogue_requested() { return relu_epilogue().requested(); }

}  // namespace mqa
