// A training step's statistics on their way from the device to the host: the summed loss and -log p(target), a
// non-finite flag and the gradient norm, copied as one tensor. On CUDA the copy is queued from pinned memory and an
// event marks its end, so the trainer can launch the next step first and read these when it needs them
// (train.deferred_stats): the host then never waits for the GPU between steps. Otherwise the copy is an ordinary
// one and read() returns at once.
#pragma once
#include <c10/core/Event.h>
#include <torch/torch.h>

#include <cstdint>
#include <optional>

namespace mqa {

struct StepStats {
  int64_t step = 0;    // the optimizer step these belong to
  int64_t tokens = 0;  // target tokens of the step, all ranks
  double lr = 0;
  double loss = 0, nll = 0;  // per target token
  double norm = 0;           // global gradient norm before clipping
  bool finite = true;        // loss and norm finite on every rank
};

class PendingStepStats {
 public:
  // `stats`: [4] on the device, [loss sum, nll sum, non-finite flag summed over ranks, gradient norm]. `queued`:
  // on CUDA, queue the copy and return at once; otherwise (or not on CUDA) copy now, waiting for the device.
  PendingStepStats(const torch::Tensor& stats, int64_t step, int64_t tokens, double lr, bool queued);
  int64_t step() const { return step_; }
  // Waits for a queued copy (only for it, not for later work) and divides the sums by the step's tokens.
  StepStats read() const;

 private:
  torch::Tensor host_;               // [4] float64
  std::optional<c10::Event> copied_;  // CUDA only
  int64_t step_, tokens_;
  double lr_;
};

}  // namespace mqa
