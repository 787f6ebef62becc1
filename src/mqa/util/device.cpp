#include "mqa/util/device.h"

#include <torch/version.h>

#include <sstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#ifdef MQA_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <cuda_runtime_api.h>
#endif

namespace mqa {

std::string torch_version() { return TORCH_VERSION; }

torch::Device resolve_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda") {
    if (!torch::cuda::is_available())
      throw std::runtime_error(
          "device 'cuda' was asked for, but this build or machine has no CUDA device (mqa env says what it sees); "
          "use device: auto or cpu");
    return torch::Device(torch::kCUDA, 0);
  }
  if (name == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  throw std::runtime_error(fmt::format("unknown device '{}'; expected auto, cpu or cuda", name));
}

torch::ScalarType resolve_precision(const std::string& name, const torch::Device& device) {
  if (name == "fp32") return torch::kFloat32;
  if (name == "bf16") return torch::kBFloat16;
  if (name == "auto") return device.is_cuda() ? torch::kBFloat16 : torch::kFloat32;
  throw std::runtime_error(fmt::format("unknown precision '{}'; expected auto, fp32 or bf16", name));
}

std::string describe_environment() {
  std::ostringstream out;
  out << fmt::format("mqa {}\n", MQA_VERSION);
  out << fmt::format("LibTorch {} (TORCH_VERSION_MAJOR {}), C++ ABI {}\n", TORCH_VERSION, TORCH_VERSION_MAJOR,
                     _GLIBCXX_USE_CXX11_ABI);
#ifdef MQA_WITH_CUDA
  out << "built with CUDA: yes\n";
#else
  out << "built with CUDA: no (CPU-only LibTorch)\n";
#endif
#ifdef MQA_WITH_KERNELS
  out << "decode CUDA kernels (src/mqa/kernels): yes\n";
#else
  out << "decode CUDA kernels (src/mqa/kernels): no (the decoder runs LibTorch ops)\n";
#endif
  out << fmt::format("CPU threads: {} (intra-op), {} hardware\n", at::get_num_threads(),
                     std::thread::hardware_concurrency());
  out << "precisions on CPU: fp32, bf16 (slow; for tests)\n";
  const bool cuda = torch::cuda::is_available();
  out << fmt::format("CUDA available: {}\n", cuda ? "yes" : "no");
#ifdef MQA_WITH_CUDA
  if (cuda) {
    int version = 0;
    cudaRuntimeGetVersion(&version);
    out << fmt::format("CUDA runtime {}.{}\n", version / 1000, (version % 1000) / 10);
    for (int64_t i = 0; i < static_cast<int64_t>(torch::cuda::device_count()); ++i) {
      const cudaDeviceProp* p = at::cuda::getDeviceProperties(static_cast<c10::DeviceIndex>(i));
      size_t free_b = 0, total_b = 0;
      cudaSetDevice(static_cast<int>(i));
      cudaMemGetInfo(&free_b, &total_b);
      std::string modes = "fp32, tf32";
      if (p->major >= 8) modes += ", bf16";
      modes += ", fp16";
      if (p->major >= 9) modes += ", fp8 (hardware)";
      out << fmt::format("  cuda:{}: {}, compute capability {}.{}, {} SMs, memory {:.1f} GiB ({:.1f} GiB free)\n",
                         i, p->name, p->major, p->minor, p->multiProcessorCount, total_b / 1073741824.0,
                         free_b / 1073741824.0);
      out << fmt::format("          L2 {:.0f} MiB; precisions: {}\n", p->l2CacheSize / 1048576.0, modes);
    }
  }
#endif
  return out.str();
}

}  // namespace mqa
