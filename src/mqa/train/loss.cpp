#include "mqa/train/loss.h"

#include <torch/version.h>

#include "mqa/util/env_switch.h"

#ifdef MQA_WITH_KERNELS
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

#include "mqa/kernels/cross_entropy.h"
#endif

namespace mqa {

namespace {

// MQA_LOSS_KERNELS, or set_loss_kernels_enabled in tests: an A/B of one build (scripts/training_throughput.sh
// benches both).
KernelSwitch& loss_kernels() {
  static KernelSwitch s("MQA_LOSS_KERNELS", "the training loss on mqa's fused CUDA kernels; 0: LibTorch's chunks");
  return s;
}

// Whether the chunked loss runs on the fused CUDA kernels (kernels/cross_entropy.h) for these logits [N, V]:
// built with them, enabled, bf16 on the GPU, contiguous, a vocabulary they take.
bool use_loss_kernels(const torch::Tensor& logits, const torch::Tensor& target) {
#ifdef MQA_WITH_KERNELS
  return loss_kernels().on() && logits.is_cuda() && logits.scalar_type() == torch::kBFloat16 &&
         logits.is_contiguous() && target.is_cuda() && target.scalar_type() == torch::kLong &&
         target.is_contiguous() &&
         kernels::cross_entropy_supported(logits.size(1), logits.data_ptr(), nullptr);
#else
  (void)logits, (void)target;
  return false;
#endif
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The smoothing term of every position from its log-probability sums: mean over the V - 1 non-target words of
// -log p = -(sum_v log p_v - log p_y) / (V - 1) = -(sum_v log p_v + nll) / (V - 1).
torch::Tensor non_target_mean_nll(const torch::Tensor& nll, const torch::Tensor& sum_logp, int64_t vocab) {
  return (sum_logp + nll) / -static_cast<double>(vocab - 1);
}

// loss and nll summed over kept rows: [] fp32 each.
std::pair<torch::Tensor, torch::Tensor> smoothed_sums(const torch::Tensor& nll, const torch::Tensor& sum_logp,
                                                      const torch::Tensor& keep, int64_t vocab, double eps) {
  auto zero = torch::zeros({}, nll.options());
  auto kept_nll = torch::where(keep, nll, zero);
  if (eps == 0) return {kept_nll.sum(), kept_nll.sum()};
  auto smooth = torch::where(keep, non_target_mean_nll(nll, sum_logp, vocab), zero);
  return {(1.0 - eps) * kept_nll.sum() + eps * smooth.sum(), kept_nll.sum()};
}

// Chunks of `chunk` rows of logits [N, V]: forward keeps nothing of a chunk but its rows' nll and sum of
// log-probabilities; backward recomputes each chunk's probabilities from the saved logits. Per chunk, a few
// passes over [C, V] fp32 that fit one chunk: forward cast + log_softmax + row sum, backward cast + softmax + one
// fused multiply-add + the cast of the gradient to the logits' dtype. Where use_loss_kernels says so, the fused
// kernels do both for all rows at once instead (forward also keeps each row's log-sum-exp for backward).
struct ChunkedSmoothedCrossEntropy : public torch::autograd::Function<ChunkedSmoothedCrossEntropy> {
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& logits, const torch::Tensor& target,
                               int64_t pad_id, double eps, int64_t chunk) {
    const int64_t n = logits.size(0), vocab = logits.size(1);
    auto f32 = logits.options().dtype(torch::kFloat32);
    auto nll = torch::empty({n}, f32);       // [N] -log p(target)
    auto sum_logp = torch::empty({n}, f32);  // [N] sum_v log p_v
    torch::Tensor lse;                       // [N] log sum_v exp z_v: kept for backward by the kernel path
#ifdef MQA_WITH_KERNELS
    if (use_loss_kernels(logits, target)) {
      lse = torch::empty({n}, f32);
      kernels::cross_entropy_forward(logits.data_ptr(), target.data_ptr<int64_t>(), n, vocab, lse.data_ptr<float>(),
                                     nll.data_ptr<float>(), sum_logp.data_ptr<float>(),
                                     at::cuda::getCurrentCUDAStream().stream());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
#endif
    if (!lse.defined())  // the LibTorch chunks
      for (int64_t start = 0; start < n; start += chunk) {
        const int64_t len = std::min(chunk, n - start);
        auto logp = torch::log_softmax(logits.narrow(0, start, len).to(torch::kFloat32), 1);  // [C, V]
        auto tgt = target.narrow(0, start, len).unsqueeze(1);                                 // [C, 1]
        nll.narrow(0, start, len).copy_(logp.gather(1, tgt).squeeze(1).neg());
        sum_logp.narrow(0, start, len).copy_(logp.sum(1));
      }
    auto [loss_sum, nll_sum] = smoothed_sums(nll, sum_logp, target.ne(pad_id), vocab, eps);
    ctx->save_for_backward({logits, target, lse});
    ctx->saved_data["pad_id"] = pad_id;
    ctx->saved_data["eps"] = eps;
    ctx->saved_data["chunk"] = chunk;
    return {loss_sum, nll_sum};
  }

  // d loss / d z = p - q (q: 1 - eps on the target, eps / (V - 1) elsewhere); d nll / d z = p - onehot(target).
  // With upstream gradients gl (loss) and gn (nll), per element v of a row (keep: 0 for a padded row, else 1):
  //   keep * ((gl + gn) p_v - gl eps/(V-1)) - [v = y] keep (gl (1 - eps - eps/(V-1)) + gn).
  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    auto saved = ctx->get_saved_variables();
    const auto& logits = saved[0];
    const auto& target = saved[1];
    const auto& lse = saved[2];  // defined when forward ran on the kernels
    const int64_t pad_id = ctx->saved_data["pad_id"].toInt();
    const double eps = ctx->saved_data["eps"].toDouble();
    const int64_t chunk = ctx->saved_data["chunk"].toInt();
    const int64_t n = logits.size(0), vocab = logits.size(1);
    auto gl = grad_out[0].to(torch::kFloat32), gn = grad_out[1].to(torch::kFloat32);  // [] each
    auto grad = torch::empty_like(logits);
#ifdef MQA_WITH_KERNELS
    if (lse.defined() && kernels::cross_entropy_supported(vocab, logits.data_ptr(), grad.data_ptr())) {
      auto gl_d = gl.contiguous(), gn_d = gn.contiguous();
      kernels::cross_entropy_backward(logits.data_ptr(), target.data_ptr<int64_t>(), pad_id, n, vocab,
                                      lse.data_ptr<float>(), gl_d.data_ptr<float>(), gn_d.data_ptr<float>(),
                                      static_cast<float>(eps), grad.data_ptr(),
                                      at::cuda::getCurrentCUDAStream().stream());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      return {grad, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
    }
#endif
    const double off = eps / static_cast<double>(vocab - 1);
    auto at_target = gl * (1.0 - eps - off) + gn;  // []
    for (int64_t start = 0; start < n; start += chunk) {
      const int64_t len = std::min(chunk, n - start);
      auto tgt = target.narrow(0, start, len).unsqueeze(1);     // [C, 1]
      auto keep = tgt.ne(pad_id).to(torch::kFloat32);           // [C, 1]
      auto p = torch::softmax(logits.narrow(0, start, len).to(torch::kFloat32), 1);  // [C, V]
      torch::addcmul_out(p, keep * (-off) * gl, p, keep * (gl + gn));  // in place: keep (gl+gn) p - keep gl off
      p.scatter_add_(1, tgt, keep * (-at_target));
      grad.narrow(0, start, len).copy_(p);
    }
    return {grad, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

void set_loss_kernels_enabled(bool on) { loss_kernels().set(on); }
bool loss_kernels_requested() { return loss_kernels().requested(); }

LossSums label_smoothed_loss(const torch::Tensor& logits, const torch::Tensor& target, int64_t pad_id,
                             double epsilon, int64_t chunk_tokens) {
  TORCH_CHECK(logits.dim() == 3 && target.dim() == 2 && logits.size(0) == target.size(0) &&
                  logits.size(1) == target.size(1),
              "label_smoothed_loss: expected logits [B, T, V] and target [B, T], got ", logits.sizes(), " and ",
              target.sizes());
  TORCH_CHECK(epsilon >= 0 && epsilon < 1, "label_smoothed_loss: epsilon must be in [0, 1), got ", epsilon);
  TORCH_CHECK(chunk_tokens >= 0, "label_smoothed_loss: chunk_tokens must be >= 0, got ", chunk_tokens);
  const int64_t V = logits.size(2);
  TORCH_CHECK(V >= 2 || epsilon == 0, "label_smoothed_loss: smoothing needs a vocabulary of 2 or more words");
  auto z = logits.reshape({-1, V});  // [B*T, V]
  auto tgt = target.reshape({-1});   // [B*T]
  auto keep = tgt.ne(pad_id);        // [B*T] bool
  LossSums out;
  out.tokens = keep.sum();
  if (chunk_tokens > 0) {
    auto sums = ChunkedSmoothedCrossEntropy::apply(z, tgt, pad_id, epsilon, chunk_tokens);
    out.loss = sums[0];
    out.nll = sums[1];
    return out;
  }
  auto logp = torch::log_softmax(z.to(torch::kFloat32), -1);  // [B*T, V] fp32
  auto nll = -logp.gather(1, tgt.unsqueeze(1)).squeeze(1);    // [B*T]
  auto [loss, nll_sum] = smoothed_sums(nll, logp.sum(1), keep, V, epsilon);
  out.loss = loss;
  out.nll = nll_sum;
  return out;
}

}  // namespace mqa
