// Beam search on the decode engine, after fairseq's SequenceGenerator, with the GNMT length penalty. Every decision
// is taken on the device after each step (no host round trip inside the loop), so the loop replays as a CUDA graph.
//
//   - Every source has beam_size rows; its beams share its cross-attention keys/values.
//   - Step 0: only beam 0 of each source is live (the others start at -inf), so the beams do not duplicate.
//   - Each step takes the 2*beam_size best (hypothesis, token) extensions of a source by summed log-probability.
//     An extension by eos ranked within the first beam_size is finished: it joins the source's finished list with
//     score logprob / ((5 + len) / 6)^alpha (len counts eos). The best beam_size extensions by other tokens
//     continue. A source is done when it has beam_size finished hypotheses (fairseq's rule), or when no beam can
//     continue (the length limit forces eos, see hypothesis.h). Done sources keep their rows, idle, until every
//     source of the batch is done.
//   - keep_greedy_path (off by default; beam_size > 1): each source has one more row, which follows the greedy path
//     (its most likely token every step) beside the beams; the beams never extend it, so they search as without
//     it. Its eos joins the finished list unless the beams found the same hypothesis (same length and token
//     history, compared by a 64-bit hash of the history). The result is then never below greedy search's nor below
//     textbook beam search's; a source is done once its beams are and the greedy row has finished or cannot beat the
//     best finished hypothesis (its log-prob only falls; its length penalty is at most that of the longest output).
//   - Histories are not copied per step: each step records every row's token and parent row, and the finished
//     hypotheses are read back by following parents once the batch ends. The key/value caches follow their rows
//     through DecodeEngine::reorder (a row table on the kernel path, see kv_cache.h).
//   - Result: the `nbest` best finished hypotheses of each source by score.
// With beam_size 1 this is exactly greedy search.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "mqa/config/decode_config.h"
#include "mqa/decode/hypothesis.h"
#include "mqa/decode/search.h"
#include "mqa/decode/shape_cache.h"
#include "mqa/model/transformer.h"

namespace mqa {

class BeamSearch : public Search {
 public:
  BeamSearch(DecodeEngine& engine, const SearchOptions& options);
  ~BeamSearch() override;
  std::vector<NBest> search(const torch::Tensor& src, SearchTimings* timings = nullptr) override;
  void warm_up(const torch::Tensor& src) override;
  void keep_shapes(size_t n) override;

 private:
  struct State;
  // The search, stopped after step_limit steps when > 0 (warm_up).
  std::vector<NBest> run(const torch::Tensor& src, SearchTimings* timings, int64_t step_limit);
  void update(const torch::Tensor& logits);  // the device-side choice after a step
  DecodeEngine& engine_;
  SearchOptions options_;
  DecodeBatch batch_;
  std::unique_ptr<State> state_;
  std::unique_ptr<GraphSet> graph_;
  ShapeCache<State> shapes_;  // the buffers, state and graph of other shapes met (keep_shapes)
};

// One-shot beam search (an engine in options.precision for this call). src [B, S] long, right-padded with the
// model's pad id, on the model's device. Returns per source (row order) its n-best list, best first.
std::vector<NBest> beam_search(Transformer& model, const torch::Tensor& src, const SearchOptions& options);

// The search settings of a `decode:` config section (token ids keep their defaults).
SearchOptions search_options(const DecodeConfig& config);

}  // namespace mqa
