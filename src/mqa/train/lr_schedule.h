// Learning-rate schedules (train.schedule), as pure functions of the optimizer step, so that resuming needs no
// schedule state beyond the step.
//
//   inverse_sqrt: linear warmup from 0 to lr over warmup steps, then lr * sqrt(warmup / step)   (Vaswani et al.)
//   rsqrt_decay:  lr / sqrt(max(step, warmup)): flat at lr/sqrt(warmup) while warming up, then 1/sqrt(step)
//                 decay (tensor2tensor's Adafactor runs, the schedule of Shazeer 2019)
//   constant:     linear warmup from 0 to lr over warmup steps, then lr
//   cosine:       linear warmup from 0 to lr, then half a cosine from lr down to lr * final_ratio at total steps
//                 (train.max_steps), flat after (nanoGPT's): a run of a fixed step budget ends annealed, so rows
//                 trained for the same budget are compared at their best for it, not mid-decay
//
// Steps count from 1 (the first optimizer step uses step = 1). warmup = 0 means no warmup.
#pragma once
#include <cstdint>
#include <string>

namespace mqa {

struct TrainConfig;

class LrSchedule {
 public:
  // total_steps and final_ratio matter to cosine only (total_steps must exceed warmup_steps there).
  LrSchedule(std::string name, double lr, int64_t warmup_steps, int64_t total_steps = 0, double final_ratio = 0.1);
  explicit LrSchedule(const TrainConfig& train);
  // The learning rate of optimizer step `step` (>= 1).
  double at(int64_t step) const;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  double lr_;
  int64_t warmup_;
  int64_t total_;
  double final_ratio_;
};

}  // namespace mqa
