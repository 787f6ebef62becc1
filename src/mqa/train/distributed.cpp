#include "mqa/train/distributed.h"

#include <torch/version.h>

#include <cstdlib>
#include <stdexcept>

#include <fmt/format.h>

#include <c10/core/impl/VirtualGuardImpl.h>
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if __has_include(<gloo/context.h>)
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#define MQA_HAVE_GLOO 1
#endif
#if defined(MQA_WITH_CUDA) && defined(USE_C10D_NCCL) && __has_include(<nccl.h>)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#define MQA_HAVE_NCCL 1
#endif

namespace mqa {

// LibTorch 2 split process groups into backends; collectives are called on the backend object.
#if TORCH_VERSION_MAJOR >= 2
using CommBackend = c10d::Backend;
#else
using CommBackend = c10d::ProcessGroup;
#endif

struct Distributed::Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<CommBackend> comm;
};

namespace {
int env_int(const char* name, int fallback, bool required) {
  const char* v = std::getenv(name);
  if (!v || !*v) {
    if (required) throw std::runtime_error(fmt::format("distributed run: environment variable {} is not set "
                                                       "(launch with torchrun, which sets it)", name));
    return fallback;
  }
  char* end = nullptr;
  long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < 0)
    throw std::runtime_error(fmt::format("distributed run: {}='{}' is not a non-negative integer", name, v));
  return static_cast<int>(x);
}
}  // namespace

std::shared_ptr<Distributed> Distributed::single() { return std::shared_ptr<Distributed>(new Distributed()); }

Distributed::~Distributed() = default;

std::shared_ptr<Distributed> Distributed::from_environment(const torch::Device& device, int timeout_s) {
  auto d = std::shared_ptr<Distributed>(new Distributed());
  d->device_ = device;
  d->world_size_ = env_int("WORLD_SIZE", 1, false);
  if (d->world_size_ <= 1) return d;
  d->rank_ = env_int("RANK", 0, true);
  d->local_rank_ = env_int("LOCAL_RANK", d->rank_, false);
  if (d->rank_ >= d->world_size_)
    throw std::runtime_error(fmt::format("distributed run: RANK {} is not below WORLD_SIZE {}", d->rank_, d->world_size_));
  if (device.is_cuda()) {
    // One GPU per rank; made current so that NCCL and the caching allocator do not all start on GPU 0. The
    // virtual guard reaches the CUDA runtime without CUDA headers.
    d->device_ = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(d->local_rank_));
    c10::impl::VirtualGuardImpl(c10::DeviceType::CUDA).setDevice(d->device_);
  }
  const char* addr = std::getenv("MASTER_ADDR");
  if (!addr || !*addr) throw std::runtime_error("distributed run: MASTER_ADDR is not set (launch with torchrun)");
  const int port = env_int("MASTER_PORT", 0, true);
  timeout_s = env_int("MQA_DIST_TIMEOUT", timeout_s, false);
  const auto timeout = std::chrono::milliseconds(1000LL * timeout_s);

  d->group_ = std::make_unique<Group>();
  if (const char* file = std::getenv("MQA_DIST_STORE_FILE")) {
    // A shared file instead of a TCP store: for ranks of one host where TCP rendezvous is unavailable or slow
    // (some sandboxes); the file must not exist before the job starts.
    d->group_->store = c10::make_intrusive<c10d::FileStore>(file, d->world_size_);
  } else {
    c10d::TCPStoreOptions opts;
    opts.port = static_cast<std::uint16_t>(port);
    // torchrun's agent already serves a store on MASTER_PORT and says so with TORCHELASTIC_USE_AGENT_STORE: then
    // every rank is a client of it (as PyTorch's env:// init does); otherwise rank 0 serves.
    const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
    const bool agent_store = agent && std::string(agent) == "True";
    opts.isServer = !agent_store && d->rank_ == 0;
    if (opts.isServer) opts.numWorkers = d->world_size_;
    opts.timeout = timeout;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(addr, opts);
    d->group_->store = c10::make_intrusive<c10d::PrefixStore>("mqa", tcp);  // keys apart from the agent's
  }
  d->group_->store->setTimeout(timeout);

  if (device.is_cuda()) {
#ifdef MQA_HAVE_NCCL
    auto o = c10d::ProcessGroupNCCL::Options::create();
    o->timeout = timeout;
    d->group_->comm = c10::make_intrusive<c10d::ProcessGroupNCCL>(d->group_->store, d->rank_, d->world_size_, o);
#else
    throw std::runtime_error("distributed CUDA training needs LibTorch built with NCCL (USE_C10D_NCCL); this build "
                             "has none");
#endif
  } else {
#ifdef MQA_HAVE_GLOO
    auto o = c10d::ProcessGroupGloo::Options::create();
    o->timeout = timeout;
    // GLOO_SOCKET_IFNAME picks the network interface, as in PyTorch; otherwise Gloo uses this host's name.
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"))
      o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else
      o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    d->group_->comm = c10::make_intrusive<c10d::ProcessGroupGloo>(d->group_->store, d->rank_, d->world_size_, o);
#else
    throw std::runtime_error("distributed CPU training needs Gloo headers (Debian: libgloo-dev)");
#endif
  }
  return d;
}

bool Distributed::has_gloo() {
#ifdef MQA_HAVE_GLOO
  return true;
#else
  return false;
#endif
}

bool Distributed::has_nccl() {
#ifdef MQA_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

void Distributed::run_collective(const char* what, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format(
        "rank {} of {}: {} failed: {} -- another rank probably crashed or was killed (see its log); stopping",
        rank_, world_size_, what, e.what()));
  }
}

void Distributed::broadcast_parameters(const std::vector<torch::Tensor>& params) {
  if (!enabled()) return;
  torch::NoGradGuard no_grad;
  run_collective("broadcast of parameters", [&] {
    for (const auto& p : params) {
      std::vector<torch::Tensor> t{p.detach()};
      group_->comm->broadcast(t)->wait();
    }
  });
}

void Distributed::allreduce_gradients(const std::vector<torch::Tensor>& params, double scale, int64_t bucket_bytes) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (!enabled()) {
    if (scale != 1.0)
      for (auto& g : grads) g.mul_(scale);
    return;
  }
  // Buckets of consecutive gradients of one dtype: one all-reduce per bucket instead of one per tensor.
  size_t i = 0;
  while (i < grads.size()) {
    size_t j = i;
    int64_t bytes = 0;
    while (j < grads.size() && grads[j].scalar_type() == grads[i].scalar_type() &&
           (j == i || bytes + grads[j].numel() * grads[j].element_size() <= bucket_bytes)) {
      bytes += grads[j].numel() * grads[j].element_size();
      ++j;
    }
    std::vector<torch::Tensor> bucket(grads.begin() + i, grads.begin() + j);
    auto flat = torch::cat([&] {
      std::vector<torch::Tensor> v;
      for (auto& g : bucket) v.push_back(g.reshape(-1));
      return v;
    }());
    run_collective("gradient all-reduce", [&] {
      std::vector<torch::Tensor> t{flat};
      group_->comm->allreduce(t)->wait();
    });
    if (scale != 1.0) flat.mul_(scale);
    int64_t offset = 0;
    for (auto& g : bucket) {
      g.copy_(flat.narrow(0, offset, g.numel()).view_as(g));
      offset += g.numel();
    }
    i = j;
  }
}

std::function<void()> Distributed::allreduce_async(const torch::Tensor& t) {
  if (!enabled()) return [] {};
  std::vector<torch::Tensor> tensors{t};
  decltype(group_->comm->allreduce(tensors)) work;
  run_collective("gradient all-reduce", [&] { work = group_->comm->allreduce(tensors); });
  return [this, work, tensors] { run_collective("gradient all-reduce", [&] { work->wait(); }); };
}

double Distributed::allreduce_sum(double value) {
  if (!enabled()) return value;
  auto t = torch::tensor({value}, torch::TensorOptions(device_).dtype(torch::kFloat64));
  run_collective("all-reduce", [&] {
    std::vector<torch::Tensor> v{t};
    group_->comm->allreduce(v)->wait();
  });
  return t.item<double>();
}

torch::Tensor Distributed::allreduce_sum(const torch::Tensor& t) {
  if (!enabled()) return t;
  auto sum = t.detach().to(device_).clone().contiguous();
  run_collective("all-reduce", [&] {
    std::vector<torch::Tensor> v{sum};
    group_->comm->allreduce(v)->wait();
  });
  return sum;
}

torch::Tensor Distributed::all_gather(const torch::Tensor& t) {
  std::vector<int64_t> shape{world_size_};
  for (auto d : t.sizes()) shape.push_back(d);
  if (!enabled()) return t.unsqueeze(0);
  // Zeros everywhere but this rank's row, summed: every rank ends with every row (no all-gather needed from
  // either backend, and float64 carries bytes and small integers exactly).
  auto rows = torch::zeros(shape, torch::TensorOptions(device_).dtype(torch::kFloat64));
  rows[rank_].copy_(t.detach().to(device_, torch::kFloat64));
  return allreduce_sum(rows).to(t.device(), t.scalar_type());
}

void Distributed::barrier() {
  if (!enabled()) return;
  run_collective("barrier", [&] { group_->comm->barrier()->wait(); });
}

}  // namespace mqa
