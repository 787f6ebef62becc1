#include "mqa/bench/train_bench.h"

#include "mqa/bench/kernel_profile.h"
#include "mqa/train/autocast.h"

namespace mqa::bench {

TrainBenchResult run_train_bench(Transformer& model, const torch::Tensor& src, const torch::Tensor& tgt_in,
                                 const torch::Tensor& tgt_out, const TrainBenchOptions& o) {
  TORCH_CHECK(o.repeats >= 1, "run_train_bench: expected repeats >= 1");
  const auto device = tgt_in.device();
  TrainBenchResult result;
  result.autocast = o.bf16_autocast && device.is_cuda();
  model->train();
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(o.lr));
  const auto loss_options = torch::nn::functional::CrossEntropyFuncOptions().ignore_index(model->pad_id());

  auto train_step = [&] {
    optimizer.zero_grad();
    torch::Tensor loss;
    {
      Autocast autocast(device, result.autocast ? torch::kBFloat16 : torch::kFloat32);
      auto logits = model->forward(model->is_seq2seq() ? src : torch::Tensor(), tgt_in);  // [B, T, V]
      loss = torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}).to(torch::kFloat32),
                                                  tgt_out.reshape({-1}), loss_options);
    }
    loss.backward();
    optimizer.step();
    return loss.detach();
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
  for (auto& l : losses) result.losses.push_back(l.item<double>());  // after timing: .item() synchronizes
  result.step_ms = summarize(ms);
  return result;
}

}  // namespace mqa::bench
