// Data-parallel training over LibTorch's c10d: ProcessGroupNCCL on CUDA, ProcessGroupGloo on CPU, launched by
// `torchrun --no-python --nproc-per-node N mqa train CONFIG` (torchrun sets RANK, WORLD_SIZE, LOCAL_RANK,
// MASTER_ADDR, MASTER_PORT). Without those variables everything here is a no-op for a single process.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace mqa {

class Distributed {
 public:
  // Reads torchrun's variables; creates the TCP store and the process group for `device` (NCCL for CUDA,
  // Gloo for CPU). A CUDA device becomes cuda:LOCAL_RANK (one GPU per rank) and the current CUDA device. Collectives time out after `timeout_s` seconds (MQA_DIST_TIMEOUT overrides), so a rank that
  // died ends the others with an error instead of a hang. Throws with a clear message on bad variables.
  static std::shared_ptr<Distributed> from_environment(const torch::Device& device, int timeout_s = 300);
  // A single-process context (world size 1).
  static std::shared_ptr<Distributed> single();
  // Whether this build has the process group of CPU ranks (Gloo: needs gloo's headers, which Debian's libgloo-dev
  // has and PyTorch's wheel lacks) and of CUDA ranks (NCCL: a CUDA LibTorch built with it).
  static bool has_gloo();
  static bool has_nccl();

  ~Distributed();
  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  int local_rank() const { return local_rank_; }
  bool enabled() const { return world_size_ > 1; }
  bool is_main() const { return rank_ == 0; }
  // Where this rank computes: the device given to from_environment, with the rank's GPU index on CUDA.
  const torch::Device& device() const { return device_; }

  // Makes every rank's parameters equal to rank 0's.
  void broadcast_parameters(const std::vector<torch::Tensor>& params);
  // Sums gradients over ranks in buckets of about `bucket_bytes` (one flattened all-reduce per bucket), then
  // multiplies them by `scale` (e.g. 1 / global token count). Parameters without gradients are skipped on every
  // rank alike.
  void allreduce_gradients(const std::vector<torch::Tensor>& params, double scale, int64_t bucket_bytes = 25 << 20);
  // Starts summing `t` over ranks in place (asynchronously: NCCL on its own stream, Gloo on its threads) and returns
  // the wait for it; `t` must stay untouched until then. A single process gets a no-op wait. For gradient buckets
  // reduced while backward runs (gradient_reducer.h).
  std::function<void()> allreduce_async(const torch::Tensor& t);
  // Sum of a scalar over ranks (token counts, losses).
  double allreduce_sum(double value);
  // Element-wise sum of a tensor over ranks, on device(): several scalars in one collective and without a host
  // sync (a single process gets `t` back as it is).
  torch::Tensor allreduce_sum(const torch::Tensor& t);
  // Every rank's `t` (same shape and dtype on all ranks) stacked in rank order: [world_size, ...t's shape], on t's
  // device. Values must be exact in float64 (bytes, integers below 2^53): it is built from one all-reduce.
  torch::Tensor all_gather(const torch::Tensor& t);
  void barrier();

 private:
  Distributed() = default;
  // Runs one collective, turning a peer's failure into an error that says what probably happened.
  void run_collective(const char* what, const std::function<void()>& fn);
  int rank_ = 0, world_size_ = 1, local_rank_ = 0;
  torch::Device device_{torch::kCPU};
  struct Group;
  std::unique_ptr<Group> group_;
};

}  // namespace mqa
