// The interface translate, eval and bench drive: a seq2seq search (greedy or beam) on a DecodeEngine. A search
// object keeps its batch buffers, device-side state and captured CUDA graph between calls, so that batches of the
// same shape (translate pads them to that end) replay the same graph; with keep_shapes, for several shapes at once.
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
  // Prepares searches of src's shape: allocates its buffers and (CUDA graphs) captures its step, by a search of src
  // run for two steps whose result is dropped. Later searches of that shape start at full speed while the shape is
  // held (keep_shapes).
  virtual void warm_up(const torch::Tensor& src) = 0;
  // How many batch shapes' buffers and graphs the search holds (shape_cache.h; default 1, the last one's).
  virtual void keep_shapes(size_t n) = 0;
};

// Greedy search for beam_size 1, beam search otherwise.
std::unique_ptr<Search> make_search(DecodeEngine& engine, const SearchOptions& options);

}  // namespace mqa
