#include "mqa/util/timer.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#ifdef MQA_WITH_CUDA
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#endif

namespace mqa {

Stats summarize(std::vector<double> values) {
  if (values.empty()) throw std::invalid_argument("summarize: expected at least one measurement, got none");
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  Stats s;
  s.n = static_cast<int64_t>(n);
  s.min = values.front();
  s.max = values.back();
  s.median = n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
  return s;
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

struct Timer::Impl {
  bool cuda = false;
  std::chrono::steady_clock::time_point t0;
#ifdef MQA_WITH_CUDA
  cudaEvent_t begin = nullptr, end = nullptr;
#endif
};

#ifdef MQA_WITH_CUDA
namespace {
void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string("Timer: ") + what + ": " + cudaGetErrorString(e));
}
}  // namespace
#endif

Timer::Timer(const torch::Device& device) : impl_(std::make_unique<Impl>()) {
  impl_->cuda = device.is_cuda();
#ifdef MQA_WITH_CUDA
  if (impl_->cuda) {
    check(cudaEventCreate(&impl_->begin), "cudaEventCreate");
    check(cudaEventCreate(&impl_->end), "cudaEventCreate");
  }
#else
  if (impl_->cuda) throw std::runtime_error("Timer: a CUDA device in a build without CUDA");
#endif
}

Timer::~Timer() {
#ifdef MQA_WITH_CUDA
  if (impl_->begin) cudaEventDestroy(impl_->begin);
  if (impl_->end) cudaEventDestroy(impl_->end);
#endif
}

void Timer::start() {
#ifdef MQA_WITH_CUDA
  if (impl_->cuda) {
    check(cudaEventRecord(impl_->begin, c10::cuda::getCurrentCUDAStream().stream()), "cudaEventRecord");
    return;
  }
#endif
  impl_->t0 = std::chrono::steady_clock::now();
}

double Timer::stop() {
#ifdef MQA_WITH_CUDA
  if (impl_->cuda) {
    check(cudaEventRecord(impl_->end, c10::cuda::getCurrentCUDAStream().stream()), "cudaEventRecord");
    check(cudaEventSynchronize(impl_->end), "cudaEventSynchronize");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, impl_->begin, impl_->end), "cudaEventElapsedTime");
    return ms;
  }
#endif
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - impl_->t0).count();
}

}  // namespace mqa
