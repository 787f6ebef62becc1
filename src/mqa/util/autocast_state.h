// The thread's autocast switches (enabled, lower-precision dtype) per device type, spelt once for both LibTorch
// generations: 1.13 has device-less CUDA switches and separate CPU ones, LibTorch >= 2.4 takes the device type.
// train/autocast.h opens and closes autocast regions with these; the model asks what a region computes in.
#pragma once
#include <torch/torch.h>

namespace mqa {

bool autocast_enabled(c10::DeviceType device_type);
void set_autocast_enabled(c10::DeviceType device_type, bool on);
torch::ScalarType autocast_dtype(c10::DeviceType device_type);
void set_autocast_dtype(c10::DeviceType device_type, torch::ScalarType dtype);

// x cast to the autocast dtype when autocast is on for x's device and x is fp32; x itself otherwise. For an
// activation that several autocast ops read: one cast instead of one inside each of them.
torch::Tensor cast_for_autocast(const torch::Tensor& x);

// A weight as autocast computes with it: where autocast is on for its device and it is an fp32 leaf, its
// lower-precision copy from autocast's cache (at::autocast::cached_cast: made once, then reused until the
// outermost autocast region -- or a train/autocast.h WeightCastCache -- ends); the weight itself otherwise.
torch::Tensor autocast_weight(const torch::Tensor& w);

// layer(x), with the casts autocast would make done explicitly: x by cast_for_autocast, weight and bias by
// autocast_weight. Autocast's own linear takes the cache only where it registers linear for the device (LibTorch
// 2 on CUDA and CPU; not 1.13's CPU autocast, which casts the transposed weight view for addmm afresh each time);
// this takes it everywhere. Outside autocast: what layer(x) computes. Computed by ATen's linear (torch::linear),
// not by the C++ frontend's torch::nn::functional::linear that torch::nn::Linear calls: that one adds the bias of a
// 3-D input in a separate broadcast add after the GEMM (the feed-forward layers' 24 such adds were 12.1 ms, 5%, of
// the paper baseline's training step on an H100), where ATen's folds it into the GEMM (cuBLASLt's bias epilogue).
torch::Tensor autocast_linear(const torch::nn::Linear& layer, const torch::Tensor& x);

// relu(layer(x)) with the same casts, through util/linear_relu.h (the ReLU in the GEMM's epilogue on the GPU).
torch::Tensor autocast_linear_relu(const torch::nn::Linear& layer, const torch::Tensor& x);

// The residual stream in the autocast dtype (train.bf16_residual; thread-local, set for its region by
// train/autocast.h's Autocast). Autocast runs layer norm in fp32: it casts a bf16 input up and returns fp32, the
// residual adds then run in fp32, and every matmul after casts its input back down -- the fp32 <-> bf16 copies,
// fp32 adds and fp32 layer norms that were a third of a training step's kernel time (experiments/training-
// throughput/train_profile.md). With this on, the embeddings are cast once (autocast_residual) and layer norms
// read and write the autocast dtype (autocast_layer_norm), so the stream never leaves it; off, as autocast does.
bool autocast_low_precision_residual();
void set_autocast_low_precision_residual(bool on);

// x for the residual stream: cast to the autocast dtype when the low-precision residual is on (and autocast is on
// for x's device and x is fp32); x otherwise.
torch::Tensor autocast_residual(const torch::Tensor& x);

// norm(x) as the region computes it. With the low-precision residual on (and autocast on for x's device): in the
// autocast dtype -- x cast if fp32, weight and bias from autocast's cache of cast weights, mean and variance
// accumulated in fp32 inside the kernel -- with autocast's fp32 policy for layer norm bypassed. Otherwise norm(x).
torch::Tensor autocast_layer_norm(const torch::nn::LayerNorm& norm, const torch::Tensor& x);

}  // namespace mqa
