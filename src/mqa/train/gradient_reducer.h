// Data-parallel gradient all-reduce overlapped with backward, as PyTorch's DDP reducer does it. The parameters are
// cut into buckets of about bucket_bytes in reverse registration order (the gradients of the last layers are ready
// first in backward). A hook after each parameter's gradient accumulation (a post hook on its AccumulateGrad node)
// counts it ready; when every gradient of a bucket is ready, the bucket is flattened and its all-reduce started
// asynchronously while backward goes on with the earlier layers. Buckets start in index order on every rank -- a
// collective must be issued in the same order everywhere -- so a ready bucket waits for the ones before it.
// finish() starts what is left, waits for every bucket and copies the sums back into .grad.
//
// With gradient accumulation only the last micro-batch's backward reduces: call arm() before that backward and
// finish() after it; backward passes of an unarmed reducer pass through. A parameter with no gradient at finish()
// contributes zeros to its bucket and keeps no gradient (as the all-reduce after backward skips it; all ranks use
// the same parameters in this project's models).
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <vector>

namespace mqa {

class GradientReducer {
 public:
  // Starts summing a flat tensor over ranks in place; returns the wait for it (Distributed::allreduce_async).
  using StartAllReduce = std::function<std::function<void()>(const torch::Tensor& flat)>;

  GradientReducer(std::vector<torch::Tensor> params, int64_t bucket_bytes, StartAllReduce start);
  ~GradientReducer();  // removes its hooks
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  void arm();
  void finish();

  int64_t buckets() const;
  // Buckets of the last armed backward whose all-reduce a gradient hook started, i.e. during backward; the others
  // were started by finish().
  int64_t started_during_backward() const;
  // Parameters whose gradients were ready when the first bucket started (less than all: it overlapped backward).
  int64_t ready_at_first_start() const;

  struct State;  // the buckets and their progress (gradient_reducer.cpp)

 private:
  std::shared_ptr<State> state_;  // shared with the hooks, which hold it weakly
};

}  // namespace mqa
