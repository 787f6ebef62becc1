#include "mqa/decode/cuda_graph.h"

#include <stdexcept>
#include <vector>

#ifdef MQA_WITH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace mqa {

bool graphs_supported(const torch::Device& device) {
#ifdef MQA_WITH_CUDA
  return device.is_cuda();
#else
  (void)device;
  return false;
#endif
}

void with_side_stream(const torch::Device& device, const std::function<void()>& fn) {
#ifdef MQA_WITH_CUDA
  if (device.is_cuda()) {
    torch::cuda::synchronize(device.index());
    auto stream = c10::cuda::getStreamFromPool(false, device.index());
    {
      c10::cuda::CUDAStreamGuard guard(stream);
      fn();
    }
    torch::cuda::synchronize(device.index());
    return;
  }
#endif
  (void)device;
  fn();
}

struct GraphSet::Impl {
#ifdef MQA_WITH_CUDA
  std::vector<std::unique_ptr<at::cuda::CUDAGraph>> graphs;
  decltype(at::cuda::graph_pool_handle()) pool;
#endif
};

GraphSet::GraphSet(const torch::Device& device) : impl_(std::make_unique<Impl>()) {
  if (!graphs_supported(device))
    throw std::runtime_error("GraphSet: CUDA graphs need a CUDA build and a CUDA device (set bench.cuda_graph=false)");
#ifdef MQA_WITH_CUDA
  impl_->pool = at::cuda::graph_pool_handle();
#endif
}

GraphSet::~GraphSet() = default;

void GraphSet::capture(const std::function<void()>& fn) {
#ifdef MQA_WITH_CUDA
  auto g = std::make_unique<at::cuda::CUDAGraph>();
  g->capture_begin(impl_->pool);
  try {
    fn();
  } catch (...) {
    try {
      g->capture_end();  // leave the stream out of capture mode before reporting the error
    } catch (...) {
    }
    throw;
  }
  g->capture_end();
  impl_->graphs.push_back(std::move(g));
#else
  (void)fn;
  throw std::runtime_error("GraphSet: built without CUDA");
#endif
}

void GraphSet::replay(size_t index) {
#ifdef MQA_WITH_CUDA
  if (index >= impl_->graphs.size())
    throw std::out_of_range("GraphSet: graph " + std::to_string(index) + " of " +
                            std::to_string(impl_->graphs.size()) + " captured");
  impl_->graphs[index]->replay();
#else
  (void)index;
  throw std::runtime_error("GraphSet: built without CUDA");
#endif
}

size_t GraphSet::size() const {
#ifdef MQA_WITH_CUDA
  return impl_->graphs.size();
#else
  return 0;
#endif
}

}  // namespace mqa
