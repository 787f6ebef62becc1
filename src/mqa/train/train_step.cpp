#include "mqa/train/train_step.h"

#include <optional>

#include "mqa/train/autocast.h"
#include "mqa/train/fused_adamw.h"
#include "mqa/train/grad_clip.h"
#include "mqa/train/loss.h"
#include "mqa/train/optimizers.h"

namespace mqa {

TrainStep::TrainStep(Transformer model, torch::optim::Optimizer& optimizer, const TrainConfig& config,
                     const torch::Device& device, torch::ScalarType precision, std::shared_ptr<Distributed> dist)
    : model_(std::move(model)),
      optimizer_(optimizer),
      config_(config),
      device_(device),
      precision_(precision),
      dist_(dist ? std::move(dist) : Distributed::single()) {
  params_ = model_->parameters();
  AttentionImpl::set_fold_query_heads_enabled(config_.fold_query_heads);
  if (dist_->enabled() && config_.overlap_allreduce) {
    auto* d = dist_.get();
    reducer_ = std::make_unique<GradientReducer>(
        params_, config_.allreduce_bucket_bytes, [d](const torch::Tensor& flat) { return d->allreduce_async(flat); });
  }
}

TrainStep::Sums TrainStep::compute_gradients(const std::vector<Batch>& batches, int64_t step_tokens) {
  TORCH_CHECK(!batches.empty() && step_tokens > 0, "TrainStep: a step needs batches with target tokens");
  optimizer_.zero_grad();
  Sums sums;
  sums.loss = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat32).device(device_));
  sums.nll = sums.loss.clone();
  {
    // per_step: one bf16 copy of each weight for all batches of the step, dropped before the optimizer changes
    // the fp32 weights. per_batch: each batch's autocast region casts them again.
    std::optional<WeightCastCache> weight_copies;
    if (config_.weight_cast == "per_step") weight_copies.emplace(precision_);
    for (size_t i = 0; i < batches.size(); ++i) {
      const auto& b = batches[i];
      if (reducer_ && i + 1 == batches.size()) reducer_->arm();  // the last backward all-reduces as it goes
      LossSums l;
      {
        Autocast autocast(device_, precision_, config_.bf16_residual);
        auto src = b.src.defined() ? to_device(b.src) : torch::Tensor();
        auto logits = model_->forward(src, to_device(b.tgt_in));  // [B, T, V]
        l = label_smoothed_loss(logits, to_device(b.tgt_out), model_->pad_id(), config_.label_smoothing,
                                config_.loss_chunk);
      }
      (l.loss / static_cast<double>(step_tokens)).backward();
      sums.loss += l.loss.detach();
      sums.nll += l.nll.detach();
    }
  }
  if (reducer_)
    reducer_->finish();
  else
    // summed over ranks: each rank's part is already / step_tokens
    dist_->allreduce_gradients(params_, 1.0, config_.allreduce_bucket_bytes);
  sums.grad_norm = clip_grad_norm(params_, config_.clip_norm, config_.fused_optimizer);
  return sums;
}

torch::Tensor TrainStep::to_device(const torch::Tensor& t) const {
  // A copy from pageable host memory waits for the GPU to finish all queued work; from pinned memory it is queued
  // like a kernel (the caching host allocator keeps the pinned block until the copy is done).
  // Only a dense CPU tensor can be pinned; one already on a device (the benchmark makes its batches there) is
  // copied, if at all, as it is.
  if (device_.is_cuda() && t.is_cpu()) return t.pin_memory().to(device_, /*non_blocking=*/true);
  return t.to(device_);
}

bool TrainStep::updates_on_device_flag() const { return dynamic_cast<FusedAdamW*>(&optimizer_) != nullptr; }

void TrainStep::update(double lr, const torch::Tensor& skip_if) {
  set_lr(optimizer_, lr);
  if (!skip_if.defined()) {
    optimizer_.step();
    return;
  }
  auto* fused = dynamic_cast<FusedAdamW*>(&optimizer_);
  TORCH_CHECK(fused, "TrainStep::update: skip_if needs the fused AdamW (updates_on_device_flag)");
  fused->step_unless(skip_if);
}

}  // namespace mqa
