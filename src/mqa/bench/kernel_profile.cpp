#include "mqa/bench/kernel_profile.h"

#include <torch/version.h>

#include <stdexcept>

#include "mqa/util/timer.h"

#if defined(MQA_WITH_CUDA) && TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/autograd/profiler_kineto.h>
#define MQA_KINETO 1
#endif

namespace mqa::bench {

bool kernel_profiler_available(const torch::Device& device) {
#ifdef MQA_KINETO
  return device.is_cuda();
#else
  (void)device;
  return false;
#endif
}

void profile_kernels(const torch::Device& device, const std::function<void()>& work, const std::string& trace_path) {
  if (!kernel_profiler_available(device))
    throw std::runtime_error("--profile: kernel profiling needs a CUDA device and a LibTorch >= 2 build with CUDA "
                             "(this run: " + device.str() + ", LibTorch " + TORCH_VERSION + ")");
#ifdef MQA_KINETO
  namespace prof = torch::autograd::profiler;
  using torch::profiler::impl::ActivityType;
  const torch::profiler::impl::ProfilerConfig config(torch::profiler::impl::ProfilerState::KINETO);
  const std::set<ActivityType> activities{ActivityType::CPU, ActivityType::CUDA};
  synchronize(device);
  prof::prepareProfiler(config, activities);
  prof::enableProfiler(config, activities);
  try {
    work();
    synchronize(device);
  } catch (...) {
    prof::disableProfiler();
    throw;
  }
  prof::disableProfiler()->save(trace_path);
#else
  (void)work;
  (void)trace_path;
#endif
}

}  // namespace mqa::bench
