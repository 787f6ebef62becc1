#include "mqa/train/train_step.h"

#include <optional>

#include "mqa/train/autocast.h"
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
        Autocast autocast(device_, precision_);
        auto src = b.src.defined() ? b.src.to(device_) : torch::Tensor();
        auto logits = model_->forward(src, b.tgt_in.to(device_));  // [B, T, V]
        l = label_smoothed_loss(logits, b.tgt_out.to(device_), model_->pad_id(), config_.label_smoothing,
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

void TrainStep::update(double lr) {
  set_lr(optimizer_, lr);
  optimizer_.step();
}

}  // namespace mqa
