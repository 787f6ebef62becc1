#include "mqa/train/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "mqa/config/train_config.h"

namespace mqa {

constexpr double kPi = 3.14159265358979323846;

LrSchedule::LrSchedule(std::string name, double lr, int64_t warmup_steps, int64_t total_steps, double final_ratio)
    : name_(std::move(name)), lr_(lr), warmup_(warmup_steps), total_(total_steps), final_ratio_(final_ratio) {
  if (name_ != "inverse_sqrt" && name_ != "rsqrt_decay" && name_ != "constant" && name_ != "cosine")
    throw std::invalid_argument("train.schedule: unknown schedule '" + name_ +
                                "'; expected inverse_sqrt, rsqrt_decay, constant or cosine");
  if (warmup_ < 0) throw std::invalid_argument("train.warmup_steps: expected >= 0");
  if (name_ == "cosine" && total_ <= warmup_)
    throw std::invalid_argument("train.schedule: cosine decays from train.warmup_steps (" + std::to_string(warmup_) +
                                ") to train.max_steps (" + std::to_string(total_) +
                                "): expected max_steps > warmup_steps");
  if (final_ratio_ < 0 || final_ratio_ > 1)
    throw std::invalid_argument("train.final_lr_ratio: expected 0..1, got " + std::to_string(final_ratio_));
}

LrSchedule::LrSchedule(const TrainConfig& train)
    : LrSchedule(train.schedule, train.lr, train.warmup_steps, train.max_steps, train.final_lr_ratio) {}

double LrSchedule::at(int64_t step) const {
  const double s = static_cast<double>(std::max<int64_t>(step, 1));
  const double w = static_cast<double>(warmup_);
  if (name_ == "rsqrt_decay") return lr_ / std::sqrt(std::max(s, std::max(w, 1.0)));
  const double warm = (warmup_ > 0 && s < w) ? s / w : 1.0;
  if (name_ == "constant") return lr_ * warm;
  if (name_ == "cosine") {
    if (warmup_ > 0 && s < w) return lr_ * warm;
    const double progress = std::min(1.0, (s - w) / static_cast<double>(total_ - warmup_));
    return lr_ * (final_ratio_ + (1.0 - final_ratio_) * 0.5 * (1.0 + std::cos(kPi * progress)));
  }
  // inverse_sqrt
  if (warmup_ > 0 && s < w) return lr_ * warm;
  return warmup_ > 0 ? lr_ * std::sqrt(w / s) : lr_ / std::sqrt(s);
}

}  // namespace mqa
