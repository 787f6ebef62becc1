// The buffers, device-side state and captured CUDA graph of every batch shape a search has met, so that a shape met
// again starts at once: no allocation, no eager first step, no capture. Translate warms up each batch shape it will
// meet before its first batch (Search::warm_up), vLLM's way of capturing its graphs at start-up, so that its timed
// region holds decoding only, as bench's does.
//
// A search works on its members batch, state and graph; select() parks them under their shape and brings back those
// of the wanted shape (or empty ones for a shape not held). At most `keep` shapes are held, the current one included
// (1 by default: the old behaviour, one shape at a time); past that the shape parked longest ago goes, and with it its
// GPU memory (the key/value caches, and the graph's pool).
#pragma once
#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <utility>

#include "mqa/decode/cuda_graph.h"
#include "mqa/decode/engine.h"

namespace mqa {

template <class State>
class ShapeCache {
 public:
  using Key = std::array<int64_t, 3>;  // sources, decoder steps, source width

  void set_keep(size_t keep) {
    keep_ = std::max<size_t>(1, keep);
    trim();
  }
  size_t parked() const { return parked_.size(); }

  // Makes (batch, state, graph) those of shape `key`. A new shape gets an empty state and no graph (the search then
  // builds them); the batch keeps its buffers only when they are the wanted shape's.
  void select(const Key& key, DecodeBatch& batch, std::unique_ptr<State>& state, std::unique_ptr<GraphSet>& graph) {
    if (held_ && key == current_) return;
    if (held_ && state) parked_.push_back({current_, Slot{std::move(batch), std::move(state), std::move(graph)}});
    batch = DecodeBatch();
    state.reset();
    graph.reset();
    for (auto it = parked_.begin(); it != parked_.end(); ++it) {
      if (it->first != key) continue;
      batch = std::move(it->second.batch);
      state = std::move(it->second.state);
      graph = std::move(it->second.graph);
      parked_.erase(it);
      break;
    }
    current_ = key;
    held_ = true;
    trim();
  }

 private:
  struct Slot {
    DecodeBatch batch;
    std::unique_ptr<State> state;
    std::unique_ptr<GraphSet> graph;
  };
  void trim() {
    while (!parked_.empty() && parked_.size() + 1 > keep_) parked_.pop_front();
  }

  size_t keep_ = 1;
  bool held_ = false;
  Key current_{};
  std::deque<std::pair<Key, Slot>> parked_;
};

}  // namespace mqa
