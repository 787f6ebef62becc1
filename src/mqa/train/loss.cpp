#include "mqa/train/loss.h"

namespace mqa {

LossSums label_smoothed_loss(const torch::Tensor& logits, const torch::Tensor& target, int64_t pad_id,
                             double epsilon) {
  TORCH_CHECK(logits.dim() == 3 && target.dim() == 2 && logits.size(0) == target.size(0) &&
                  logits.size(1) == target.size(1),
              "label_smoothed_loss: expected logits [B, T, V] and target [B, T], got ", logits.sizes(), " and ",
              target.sizes());
  const int64_t V = logits.size(2);
  auto logp = torch::log_softmax(logits.to(torch::kFloat32), -1).reshape({-1, V});  // [B*T, V]
  auto tgt = target.reshape({-1});                                                  // [B*T]
  auto keep = tgt.ne(pad_id);                                                        // [B*T] bool
  auto nll = -logp.gather(1, tgt.unsqueeze(1)).squeeze(1);                           // [B*T]
  auto zero = torch::zeros({}, nll.options());
  nll = torch::where(keep, nll, zero);
  LossSums out;
  out.nll = nll.sum();
  out.tokens = keep.sum();
  if (epsilon > 0) {
    auto smooth = -logp.mean(1);  // [B*T]: mean over the vocabulary of -log p
    smooth = torch::where(keep, smooth, zero);
    out.loss = (1.0 - epsilon) * out.nll + epsilon * smooth.sum();
  } else {
    out.loss = out.nll;
  }
  return out;
}

}  // namespace mqa
