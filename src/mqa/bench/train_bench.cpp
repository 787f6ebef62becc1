#include "mqa/bench/train_bench.h"

#include <torch/version.h>

#include "mqa/bench/kernel_profile.h"

#if defined(MQA_WITH_CUDA) && TORCH_VERSION_MAJOR >= 2
#include <ATen/autocast_mode.h>
#define MQA_BENCH_AUTOCAST 1
#endif

namespace mqa::bench {

namespace {
// bf16 autocast on CUDA for the scope of one forward pass. The autocast cache holds bf16 copies of the weights
// made during the pass; it is cleared on leaving, so the next step casts the updated weights.
class AutocastScope {
 public:
  explicit AutocastScope(bool on) : on_(on) {
#ifdef MQA_BENCH_AUTOCAST
    if (on_) {
      at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
      at::autocast::set_autocast_enabled(at::kCUDA, true);
    }
#endif
  }
  ~AutocastScope() {
#ifdef MQA_BENCH_AUTOCAST
    if (on_) {
      at::autocast::set_autocast_enabled(at::kCUDA, false);
      at::autocast::clear_cache();
    }
#endif
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool on_;
};

bool autocast_available(const torch::Device& device) {
#ifdef MQA_BENCH_AUTOCAST
  return device.is_cuda();
#else
  (void)device;
  return false;
#endif
}
}  // namespace

TrainBenchResult run_train_bench(Transformer& model, const torch::Tensor& src, const torch::Tensor& tgt_in,
                                 const torch::Tensor& tgt_out, const TrainBenchOptions& o) {
  TORCH_CHECK(o.repeats >= 1, "run_train_bench: expected repeats >= 1");
  const auto device = tgt_in.device();
  TrainBenchResult result;
  result.autocast = o.bf16_autocast && autocast_available(device);
  model->train();
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(o.lr));
  const auto loss_options = torch::nn::functional::CrossEntropyFuncOptions().ignore_index(model->pad_id());

  auto train_step = [&] {
    optimizer.zero_grad();
    torch::Tensor loss;
    {
      AutocastScope autocast(result.autocast);
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
