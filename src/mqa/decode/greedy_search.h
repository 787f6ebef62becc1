// Greedy search on the decode engine: one token per step, the most likely one, chosen on the device (with the
// kernel path, by one kernel that also updates every row's state), the loop replayed as a CUDA graph.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "mqa/decode/hypothesis.h"
#include "mqa/decode/sampling.h"
#include "mqa/decode/search.h"
#include "mqa/decode/shape_cache.h"
#include "mqa/model/transformer.h"

namespace mqa {

class GreedySearch : public Search {
 public:
  // Uses max_len_a/b, min_len, length_penalty (for the reported score) and bos/eos of `options`.
  GreedySearch(DecodeEngine& engine, const SearchOptions& options);
  ~GreedySearch() override;
  std::vector<NBest> search(const torch::Tensor& src, SearchTimings* timings = nullptr) override;
  void warm_up(const torch::Tensor& src) override;
  void keep_shapes(size_t n) override;

 private:
  struct State;
  // The search, stopped after step_limit steps when > 0 (warm_up).
  std::vector<NBest> run(const torch::Tensor& src, SearchTimings* timings, int64_t step_limit);
  DecodeEngine& engine_;
  SearchOptions options_;
  DecodeBatch batch_;
  std::unique_ptr<State> state_;
  std::unique_ptr<GraphSet> graph_;
  ShapeCache<State> shapes_;  // the buffers, state and graph of other shapes met (keep_shapes)
};

// One-shot seq2seq greedy search (an engine in options.precision for this call). src [B, S] long, right-padded, on
// the model's device. Returns one hypothesis per source, in row order.
std::vector<NBest> greedy_search(Transformer& model, const torch::Tensor& src, const SearchOptions& options);

// Language model: continues each prompt with its most likely token at every step (see sampling.h for the
// conventions; temperature, top_k and top_p of `options` are ignored).
std::vector<Continuation> lm_greedy(Transformer& model, const std::vector<std::vector<int64_t>>& prompts,
                                    const GenerateOptions& options);

}  // namespace mqa
