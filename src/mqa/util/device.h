// Choosing where and in what precision to compute, and describing the machine (`mqa env`).
#pragma once
#include <torch/torch.h>

#include <string>

namespace mqa {

// "auto" | "cpu" | "cuda"; asking for cuda on a machine without it is an error that says so.
torch::Device resolve_device(const std::string& name);

// "auto" | "fp32" | "bf16" for compute on `device`: auto is bf16 on CUDA (autocast, fp32 master weights), fp32 on CPU.
torch::ScalarType resolve_precision(const std::string& name, const torch::Device& device);

// LibTorch version, build flags, CUDA devices with memory, and the precisions each supports. Human-readable.
std::string describe_environment();

// "1.13.1" or "2.11.0": the LibTorch this binary was built against.
std::string torch_version();

}  // namespace mqa
