// The interface translate, eval and bench drive: a seq2seq search (greedy or beam) on a DecodeEngine. A search
// object keeps its batch buffers, device-side state and captured CUDA graph between calls, so that consecutive
// batches of the same shape (translate pads them to that end) replay the same graph.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "mqa/decode/engine.h"
#include "mqa/decode/hypothesis.h"

namespace mqa {

// Where a search's time went (filled when asked for; the device is synchronised at each boundary).
struct SearchTimings {
  double encode_ms = 0;  // encoder + every layer's cross-attention keys/values
  double decode_ms = 0;  // the decoder steps
  int64_t steps = 0;     // decoder steps run
  bool graph = false;    // whether steps were replayed from a captured CUDA graph
};

class Search {
 public:
  virtual ~Search() = default;
  // src [B, S] long, right-padded with the model's pad id, on the engine's device. Returns per source (row order)
  // its n-best list, best first.
  virtual std::vector<NBest> search(const torch::Tensor& src, SearchTimings* timings = nullptr) = 0;
};

// Greedy search for beam_size 1, beam search otherwise.
std::unique_ptr<Search> make_search(DecodeEngine& engine, const SearchOptions& options);

}  // namespace mqa
