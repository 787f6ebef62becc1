#include "mqa/train/step_stats.h"

#include <c10/core/impl/VirtualGuardImpl.h>

#include <cmath>
#include <thread>

namespace mqa {

PendingStepStats::PendingStepStats(const torch::Tensor& stats, int64_t step, int64_t tokens, double lr, bool queued)
    : step_(step), tokens_(tokens), lr_(lr) {
  TORCH_CHECK(stats.numel() == 4, "PendingStepStats: expected [loss, nll, non-finite flag, norm]");
  auto doubles = stats.to(torch::kFloat64);
  if (!queued || !doubles.is_cuda()) {
    host_ = doubles.to(torch::kCPU);
    return;
  }
  // non_blocking from CUDA to the CPU gives a pinned tensor that the copy fills when the stream reaches it.
  host_ = doubles.to(torch::kCPU, /*non_blocking=*/true);
  const c10::impl::VirtualGuardImpl guard(c10::DeviceType::CUDA);
  copied_.emplace(c10::DeviceType::CUDA);
  copied_->record(guard.getStream(doubles.device()));
}

StepStats PendingStepStats::read() const {
  // c10::Event has no blocking wait in LibTorch 1.13; the copy is normally done long before (a step ago).
  if (copied_)
    while (!copied_->query()) std::this_thread::yield();
  const double* v = host_.data_ptr<double>();
  StepStats s;
  s.step = step_, s.tokens = tokens_, s.lr = lr_;
  s.loss = v[0] / static_cast<double>(tokens_);
  s.nll = v[1] / static_cast<double>(tokens_);
  s.norm = v[3];
  s.finite = std::isfinite(s.loss) && std::isfinite(s.norm) && v[2] == 0;
  return s;
}

}  // namespace mqa
