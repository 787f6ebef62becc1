#include "mqa/train/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "mqa/config/train_config.h"

namespace mqa {

LrSchedule::LrSchedule(std::string name, double lr, int64_t warmup_steps)
    : name_(std::move(name)), lr_(lr), warmup_(warmup_steps) {
  if (name_ != "inverse_sqrt" && name_ != "rsqrt_decay" && name_ != "constant")
    throw std::invalid_argument("train.schedule: unknown schedule '" + name_ +
                                "'; expected inverse_sqrt, rsqrt_decay or constant");
  if (warmup_ < 0) throw std::invalid_argument("train.warmup_steps: expected >= 0");
}

LrSchedule::LrSchedule(const TrainConfig& train) : LrSchedule(train.schedule, train.lr, train.warmup_steps) {}

double LrSchedule::at(int64_t step) const {
  const double s = static_cast<double>(std::max<int64_t>(step, 1));
  const double w = static_cast<double>(warmup_);
  if (name_ == "rsqrt_decay") return lr_ / std::sqrt(std::max(s, std::max(w, 1.0)));
  const double warm = (warmup_ > 0 && s < w) ? s / w : 1.0;
  if (name_ == "constant") return lr_ * warm;
  // inverse_sqrt
  if (warmup_ > 0 && s < w) return lr_ * warm;
  return warmup_ > 0 ? lr_ * std::sqrt(w / s) : lr_ / std::sqrt(s);
}

}  // namespace mqa
