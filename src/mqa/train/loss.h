// Label-smoothed cross-entropy over non-pad tokens (fairseq's form, with the smoothing mass spread over the whole
// vocabulary):
//
//   loss_t = (1 - eps) * nll_t + eps * mean_v(-log p_t(v)),    nll_t = -log p_t(y_t)
//
// summed over the non-pad target positions. eps = 0 gives the plain negative log-likelihood.
#pragma once
#include <torch/torch.h>

namespace mqa {

struct LossSums {
  torch::Tensor loss;    // [] fp32: sum of the label-smoothed loss over non-pad tokens (what is minimised)
  torch::Tensor nll;     // [] fp32: sum of -log p(target) over non-pad tokens (ln PPL = nll / tokens)
  torch::Tensor tokens;  // [] int64: number of non-pad target tokens
};

// logits [B, T, V] (any float type; computed in fp32), target [B, T] long with pad_id at padding.
LossSums label_smoothed_loss(const torch::Tensor& logits, const torch::Tensor& target, int64_t pad_id,
                             double epsilon);

}  // namespace mqa
