// Batches by token budget, bucketed by length, shuffled per epoch from a seed, resumable, sharded by rank.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mqa/data/dataset.h"

namespace mqa {

// One batch, ready for the model. Token conventions are the model's (model/transformer.h).
struct Batch {
  torch::Tensor src;      // [B, S] int64, right-padded with pad_id; undefined for lm
  torch::Tensor tgt_in;   // [B, T] int64: [bos, y1 .. yn] (lm: x0 .. x_{T-1}), pad_id at padding
  torch::Tensor tgt_out;  // [B, T] int64: [y1 .. yn, eos] (lm: x1 .. x_T), pad_id at padding
  int64_t src_tokens = 0; // non-pad source tokens
  int64_t tgt_tokens = 0; // non-pad tgt_out tokens (what the loss counts)
  std::vector<int64_t> example_ids;  // dataset indices of the rows, in row order
};

struct BatchOptions {
  int64_t batch_tokens = 4096;  // max over sides of rows x longest row (padding included)
  bool shuffle = true;          // training: shuffled buckets; evaluation: corpus order by length
  uint64_t seed = 1;
  int rank = 0, world_size = 1; // data-parallel shard: rank r takes every world_size-th batch
};

class BatchIterator {
 public:
  BatchIterator(std::shared_ptr<const Dataset> data, const BatchOptions& options);
  // The next batch of the current epoch, or nullopt when the epoch is over; the call after that starts the next
  // epoch (with a new shuffle).
  std::optional<Batch> next();
  int64_t epoch() const;
  // Serialised position (epoch, batch index, seed): restore() continues with exactly the batches that would have
  // come next.
  std::string state() const;
  void restore(const std::string& state);
  // Number of batches in one epoch of this rank.
  int64_t batches_per_epoch() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace mqa
