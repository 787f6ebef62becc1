#include "mqa/util/linear_relu.h"

#include <torch/version.h>

#include <atomic>
#include <iostream>

#include "mqa/util/env_switch.h"

#ifdef MQA_WITH_RELU_GEMM  // the CUDA kernels with cuBLASLt (CMakeLists.txt)
#include <ATen/cuda/CUDAContext.h>

#include "mqa/kernels/relu_gemm.h"
#endif

namespace mqa {

namespace {

KernelSwitch& relu_epilogue() {  // MQA_RELU_EPILOGUE, or set_relu_epilogue_enabled in tests
  static KernelSwitch s("MQA_RELU_EPILOGUE", "the feed-forward ReLU in its GEMMs' cuBLASLt epilogues; 0: ReLU kernels");
  return s;
}

std::atomic<int64_t> fallbacks{0};

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

// The gradients of a linear layer's input x [..., in] (as x_sizes), weight and bias from the gradient g [rows, out]
// of its output and x's rows x2 [rows, in]; those of inputs first, first + 1 and first + 2 of ctx's function, each
// only where that input needs one. bias_grad: the bias's, where a GEMM epilogue has summed it already.
variable_list linear_grads(AutogradContext* ctx, size_t first, const torch::Tensor& g, const torch::Tensor& x2,
                           const torch::Tensor& weight, const torch::Tensor& bias_grad = {}) {
  variable_list grads(3);
  if (ctx->needs_input_grad(first)) grads[0] = g.mm(weight).view(ctx->saved_data["x_sizes"].toIntVector());
  if (ctx->needs_input_grad(first + 1)) grads[1] = g.t().mm(x2);
  if (ctx->needs_input_grad(first + 2)) grads[2] = bias_grad.defined() ? bias_grad : g.sum(0);
  return grads;
}

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
    // ReLU's gradient from its output, as LibTorch's ReluBackward does; then linear's.
    return linear_grads(ctx, 0, at::threshold_backward(grad_out[0].reshape(y.sizes()), y, 0), x2, weight);
  }
};

#ifdef MQA_WITH_RELU_GEMM
void report_fallback(const char* gemm, int64_t rows, int64_t d, int64_t d_ff) {
  if (fallbacks++ == 0)
    std::cerr << "mqa: cuBLASLt has no algorithm for the feed-forward " << gemm << " epilogue (" << rows << " x " << d
              << " x " << d_ff << "): LibTorch's kernels instead (reported once)\n";
}

// The whole feed-forward layer with kernels/relu_gemm.h's epilogues: forward writes h and the ReLU's mask in the
// first GEMM; backward applies the mask and sums db1 in the GEMM that computes g W2. Where cuBLASLt has no
// algorithm, that GEMM falls back to LibTorch's ops (h is saved either way: the second GEMM's weight gradient
// needs it).
struct FeedForwardReLU : public torch::autograd::Function<FeedForwardReLU> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& w1,
                               const torch::Tensor& b1, const torch::Tensor& w2, const torch::Tensor& b2) {
    auto x2 = x.reshape({-1, x.size(-1)});
    const int64_t rows = x2.size(0), d = x2.size(1), d_ff = w1.size(0);
    auto h = torch::empty({rows, d_ff}, x.options());
    auto mask = torch::empty({kernels::relu_mask_bytes(rows, d_ff)}, x.options().dtype(torch::kUInt8));
    auto workspace = torch::empty({static_cast<int64_t>(kernels::kReluGemmWorkspace)}, mask.options());
    const bool fused = kernels::gemm_bias_relu_mask(x2.data_ptr(), w1.data_ptr(), b1.data_ptr(), h.data_ptr(),
                                                    mask.data_ptr(), rows, d, d_ff, workspace.data_ptr(),
                                                    at::cuda::getCurrentCUDAStream().stream());
    if (!fused) {
      report_fallback("bias + ReLU", rows, d, d_ff);
      h = addmm_relu(x2, w1, b1);
    }
    ctx->save_for_backward({x2, w1, w2, h, fused ? mask : torch::Tensor()});
    ctx->saved_data["x_sizes"] = x.sizes().vec();
    return at::addmm(b2, h, w2.t()).view(with_last(x, w2.size(0)));
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    auto saved = ctx->get_saved_variables();
    const auto &x2 = saved[0], &w1 = saved[1], &w2 = saved[2], &h = saved[3], &mask = saved[4];
    const int64_t rows = h.size(0), d_ff = h.size(1), d_out = w2.size(0);
    auto g = grad_out[0].reshape({rows, d_out}).to(h.scalar_type()).contiguous();
    torch::Tensor dpre, db1;  // the gradient of h's pre-activation, and of b1 where the epilogue summed it
    if (mask.defined()) {
      dpre = torch::empty_like(h);
      db1 = torch::empty({d_ff}, h.options());
      auto workspace = torch::empty({static_cast<int64_t>(kernels::kReluGemmWorkspace)}, mask.options());
      if (!kernels::gemm_relu_grad_bias_grad(g.data_ptr(), w2.data_ptr(), mask.data_ptr(), dpre.data_ptr(),
                                             db1.data_ptr(), rows, d_out, d_ff, workspace.data_ptr(),
                                             at::cuda::getCurrentCUDAStream().stream())) {
        report_fallback("ReLU gradient + bias gradient", rows, d_out, d_ff);
        dpre = db1 = torch::Tensor();
      }
    }
    if (!dpre.defined()) dpre = at::threshold_backward(g.mm(w2), h, 0);
    auto first = linear_grads(ctx, 0, dpre, x2, w1, db1);
    torch::Tensor dw2, db2;  // the second layer's; its input's gradient is dpre's GEMM above
    if (ctx->needs_input_grad(3)) dw2 = g.t().mm(h);
    if (ctx->needs_input_grad(4)) db2 = g.sum(0);
    return {first[0], first[1], first[2], dw2, db2};
  }
};
#endif

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

bool feed_forward_relu_fused(const torch::Tensor& x, const torch::Tensor& w1, const torch::Tensor& b1,
                             const torch::Tensor& w2, const torch::Tensor& b2) {
#ifdef MQA_WITH_RELU_GEMM
  auto bf16_contiguous = [](const torch::Tensor& t) {
    return t.defined() && t.is_cuda() && t.scalar_type() == torch::kBFloat16 && t.is_contiguous();
  };
  return relu_epilogue().on() && needs_grad({&x, &w1, &b1, &w2, &b2}) && x.dim() >= 2 && x.numel() > 0 &&
         bf16_contiguous(x) && bf16_contiguous(w1) && bf16_contiguous(b1) && bf16_contiguous(w2) &&
         bf16_contiguous(b2);
#else
  (void)x, (void)w1, (void)b1, (void)w2, (void)b2;
  return false;
#endif
}

torch::Tensor feed_forward_relu(const torch::Tensor& x, const torch::Tensor& w1, const torch::Tensor& b1,
                                const torch::Tensor& w2, const torch::Tensor& b2) {
#ifdef MQA_WITH_RELU_GEMM
  if (feed_forward_relu_fused(x, w1, b1, w2, b2)) return FeedForwardReLU::apply(x, w1, b1, w2, b2);
#endif
  return torch::linear(linear_relu(x, w1, b1), w2, b2);
}

bool relu_gemm_built() {
#ifdef MQA_WITH_RELU_GEMM
  return true;
#else
  return false;
#endif
}

int64_t relu_epilogue_fallbacks() { return fallbacks.load(); }
void set_relu_epilogue_enabled(bool on) { relu_epilogue().set(on); }
bool relu_epilogue_requested() { return relu_epilogue().requested(); }

}  // namespace mqa
