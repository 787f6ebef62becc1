// Label-smoothed cross-entropy over non-pad tokens, in the form of the paper's code base (tensor2tensor's
// smoothing_cross_entropy): the target distribution puts 1 - eps on the target word and eps / (V - 1) on each of
// the V - 1 other words, and the loss is the cross-entropy against it,
//
//   loss_t = (1 - eps) * nll_t + eps * mean_{v != y_t} (-log p_t(v)),    nll_t = -log p_t(y_t)
//
// summed over the non-pad target positions. (tensor2tensor also subtracts the constant entropy of that target
// distribution "for readability"; we do not: the loss here is the cross-entropy itself. Not PyTorch's
// label_smoothing either, which spreads eps / V over all V words, the target included.) eps = 0 gives the plain
// negative log-likelihood. Its gradient with respect to the logits of position t is p_t - q_t, q_t the target
// distribution above.
//
// Computation (chunk_tokens): 0 materialises log-probabilities of all positions, [tokens, V] in fp32 -- the
// reference. > 0 works on chunks of that many positions at a time, in fp32 per chunk only, and recomputes them in
// backward (a custom autograd function): the logits stay in their own dtype (bf16 under autocast) and no fp32
// [tokens, V] tensor exists, forward or backward. Both give the same sums up to float summation order. On the GPU
// with bf16 logits the chunked form runs on fused kernels (kernels/cross_entropy.h, when built): one read of the
// logits forward (a log-sum-exp per row), one read and one write backward, all rows at once.
#pragma once
#include <torch/torch.h>

namespace mqa {

struct LossSums {
  torch::Tensor loss;    // [] fp32: sum of the label-smoothed loss over non-pad tokens (what is minimised)
  torch::Tensor nll;     // [] fp32: sum of -log p(target) over non-pad tokens (ln PPL = nll / tokens)
  torch::Tensor tokens;  // [] int64: number of non-pad target tokens
};

// logits [B, T, V] (any float type; computed in fp32), target [B, T] long with pad_id at padding. Both sums are
// differentiable with respect to the logits.
LossSums label_smoothed_loss(const torch::Tensor& logits, const torch::Tensor& target, int64_t pad_id,
                             double epsilon, int64_t chunk_tokens = 0);

// A process-wide switch to leave the fused loss kernels (built with all of mqa's kernels: decode_ops::kernels_built)
// for the LibTorch chunks (tests compare the two; on by default).
void set_loss_kernels_enabled(bool on);
// What MQA_LOSS_KERNELS asks for (unset or 1: the kernels, 0: the chunks; anything else throws, naming it). Read once;
// `mqa` reads it before any command, so that a bad value stops every command, with or without the kernels built.
bool loss_kernels_requested();

}  // namespace mqa
