// Beam search over the incremental decoding API (Transformer::start / step / reorder), after fairseq's
// SequenceGenerator, with the GNMT length penalty.
//
//   - Every source has beam_size rows; its beams share its cross-attention keys/values (DecodeState.cross_k/v).
//   - Step 0: only beam 0 of each source is live (the others start at -inf), so the beams do not duplicate.
//   - Each step takes the 2*beam_size best (hypothesis, token) extensions of a source by summed log-probability.
//     An extension by eos ranked within the first beam_size is finished: it joins the source's finished list with
//     score logprob / ((5 + len) / 6)^alpha (len counts eos). The best beam_size extensions by other tokens
//     continue.
//   - keep_greedy_path (beam_size > 1; off by default): each source has one more row, which follows the greedy path
//     (its most likely token every step) beside the beams; the beams never extend it, so they search as without it.
//     Its eos joins the finished list (unless the beams found the same hypothesis). The result is therefore never
//     below greedy search's nor below textbook beam search's. Textbook beam search loses the greedy path whenever
//     beam_size other prefixes are more likely at some step, and then can end below greedy: on the trained
//     quickstart model it did on 81 of 500 test sentences (experiments/decode/beam_vs_greedy.md).
//   - A source is done when its beams have finished beam_size hypotheses and its greedy row has finished or cannot beat
//     the best of them any more (its log-prob only falls; its length penalty is at most that of the longest
//     allowed output), or when no beam can continue (the length limit forces eos, see hypothesis.h). With
//     keep_greedy_path off (textbook): beam_size finished hypotheses, as fairseq's default.
//   - A done source leaves the batch: its rows and its cross-attention keys/values are dropped
//     (Transformer::reorder(rows, sources)).
//   - Result: the `nbest` best finished hypotheses of each source by score.
// With beam_size 1 this is exactly greedy search.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "mqa/config/decode_config.h"
#include "mqa/decode/hypothesis.h"
#include "mqa/model/transformer.h"

namespace mqa {

// src [B, S] long, right-padded with the model's pad id, on the model's device. Returns per source (row order) its
// n-best list, best first.
std::vector<NBest> beam_search(Transformer& model, const torch::Tensor& src, const SearchOptions& options);

// The search settings of a `decode:` config section (token ids keep their defaults).
SearchOptions search_options(const DecodeConfig& config);

}  // namespace mqa
