// Batches by token budget, bucketed by length, shuffled per epoch from a seed, resumable, sharded by rank.
//
// How an epoch is cut (batching.cpp):
//   training (shuffle = true): the examples are shuffled (from seed and epoch), split into pools of ~100 batches'
//     worth, each pool is sorted by length and cut greedily into batches, and the batch order is shuffled. Every
//     example appears exactly once per epoch (world_size 1), and the same seed and epoch give the same batches.
//   evaluation (shuffle = false): all examples sorted by length (ties in corpus order) and cut the same way; every
//     example exactly once, in a fixed order.
// Token budget: rows x longest row must not exceed batch_tokens on either side, counting padding and the bos/eos
//   the target side gets (source: S = longest source; target: T = longest target + 1). The one exception is an
//   example that alone exceeds the budget: it forms a batch of one (drop such examples with data.max_len).
// Sharding: with K batches in an epoch, rank r takes batches r, r + W, r + 2W, ...; every rank gets the same
//   number. Training drops the last K mod W batches of the (shuffled, so different each epoch) order; evaluation
//   wraps around instead (the first batches are repeated), so that no example is lost; with W = 1 nothing changes.
// epoch() counts from 0; after next() has returned nullopt, epoch() is already the next epoch.
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
  int num_workers = 0;          // > 0: batches are built ahead by one background thread (data.num_workers)
  int prefetch = 8;             // batches built ahead when num_workers > 0
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
  // Number of batches in one epoch of this rank (the current epoch's: pools differ slightly between epochs).
  int64_t batches_per_epoch() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace mqa
