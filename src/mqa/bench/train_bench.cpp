#include "mqa/bench/train_bench.h"

#include "mqa/bench/kernel_profile.h"
#include "mqa/train/fused_adamw.h"
#include "mqa/train/optimizers.h"
#include "mqa/train/train_step.h"

namespace mqa::bench {

TrainBenchResult run_train_bench(Transformer& model, const torch::Tensor& src, const torch::Tensor& tgt_in,
                                 const torch::Tensor& tgt_out, const TrainBenchOptions& o) {
  TORCH_CHECK(o.repeats >= 1, "run_train_bench: expected repeats >= 1");
  const auto device = tgt_in.device();
  const int64_t rows = tgt_in.size(0), accumulate = o.train.accumulate;
  TORCH_CHECK(accumulate >= 1 && rows % accumulate == 0, "run_train_bench: train.accumulate (", accumulate,
              ") must divide the batch's ", rows, " sentences");
  TrainBenchResult result;
  result.autocast = o.bf16_autocast && device.is_cuda();
  model->train();
  TrainConfig adam = o.train;
  adam.optimizer = "adam";
  adam.lr = o.lr;
  adam.weight_decay = 0;
  auto optimizer = make_optimizer(adam, model->parameters());
  result.optimizer = dynamic_cast<FusedAdamW*>(optimizer.get()) ? "Adam (fused)" : "Adam (LibTorch)";
  TrainStep step(model, *optimizer, adam, device, result.autocast ? torch::kBFloat16 : torch::kFloat32, nullptr);

  // The micro-batches of a step: the rows split in `accumulate` equal parts.
  std::vector<Batch> batches;
  const int64_t per = rows / accumulate;
  for (int64_t i = 0; i < accumulate; ++i) {
    Batch b;
    if (model->is_seq2seq()) b.src = src.narrow(0, i * per, per);
    b.tgt_in = tgt_in.narrow(0, i * per, per);
    b.tgt_out = tgt_out.narrow(0, i * per, per);
    batches.push_back(std::move(b));
  }
  const int64_t tokens = tgt_out.ne(model->pad_id()).sum().item<int64_t>();
  TORCH_CHECK(tokens > 0, "run_train_bench: the batch has no target tokens");

  auto train_step = [&] {
    auto sums = step.compute_gradients(batches, tokens);
    step.update(o.lr);
    return sums.loss / static_cast<double>(tokens);
  };

  Timer timer(device);
  std::vector<torch::Tensor> losses;
  std::vector<double> ms;
  for (int64_t i = 0; i < o.warmup; ++i) losses.push_back(train_step());
  for (int64_t i = 0; i < o.repeats; ++i) {
    timer.start();
    losses.push_back(train_step());
    ms.push_back(timer.stop());
  }
  synchronize(device);
  if (!o.profile_trace.empty()) profile_kernels(device, [&] { losses.push_back(train_step()); }, o.profile_trace);
  if (o.attention_kernels) {
    AttentionImpl::set_record_kernels(true);
    losses.push_back(train_step());
    AttentionImpl::set_record_kernels(false);
    result.attention_kernels = AttentionImpl::recorded_kernels();
  }
  for (auto& l : losses) result.losses.push_back(l.item<double>());  // after timing: .item() synchronizes
  result.step_ms = summarize(ms);
  return result;
}

}  // namespace mqa::bench
