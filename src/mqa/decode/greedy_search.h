// Greedy search over the incremental decoding API (Transformer::start / step / reorder): one token per step, the
// most likely one, with the cached keys/values of earlier positions; finished sentences leave the batch.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "mqa/decode/hypothesis.h"
#include "mqa/decode/sampling.h"
#include "mqa/model/transformer.h"

namespace mqa {

// Seq2seq. src [B, S] long, right-padded with the model's pad id, on the model's device. Uses max_len_a/b,
// length_penalty (for the reported score), bos/eos and drop_finished of `options`; beam_size and nbest are ignored.
// Returns one hypothesis per source, in row order.
std::vector<NBest> greedy_search(Transformer& model, const torch::Tensor& src, const SearchOptions& options);

// Language model: continues each prompt with its most likely token at every step (see sampling.h for the
// conventions; temperature, top_k and top_p of `options` are ignored).
std::vector<Continuation> lm_greedy(Transformer& model, const std::vector<std::vector<int64_t>>& prompts,
                                    const GenerateOptions& options);

}  // namespace mqa
