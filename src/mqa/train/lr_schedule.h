// Learning-rate schedules (train.schedule), as pure functions of the optimizer step, so that resuming needs no
// schedule state beyond the step.
//
//   inverse_sqrt: linear warmup from 0 to lr over warmup steps, then lr * sqrt(warmup / step)   (Vaswani et al.)
//   rsqrt_decay:  lr / sqrt(max(step, warmup)): flat at lr/sqrt(warmup) while warming up, then 1/sqrt(step)
//                 decay (tensor2tensor's Adafactor runs, the schedule of Shazeer 2019)
//   constant:     linear warmup from 0 to lr over warmup steps, then lr
//
// Steps count from 1 (the first optimizer step uses step = 1). warmup = 0 means no warmup.
#pragma once
#include <cstdint>
#include <string>

namespace mqa {

struct TrainConfig;

class LrSchedule {
 public:
  LrSchedule(std::string name, double lr, int64_t warmup_steps);
  explicit LrSchedule(const TrainConfig& train);
  // The learning rate of optimizer step `step` (>= 1).
  double at(int64_t step) const;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  double lr_;
  int64_t warmup_;
};

}  // namespace mqa
