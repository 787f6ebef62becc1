// The two numbers of a decode step (METHOD.md, "two numbers first"): the fewest bytes it must move through device
// memory and the floating-point operations it must do, the device's measured ceilings for each (copy bandwidth,
// matrix-product rate), and the floor they give. Also the FLOP count of a training step, for MFU.
#pragma once
#include <torch/torch.h>

#include <string>

#include "mqa/config/model_config.h"

namespace mqa::bench {

struct DecodeShape {
  ModelConfig model;
  int64_t vocab = 0;
  int64_t batch = 1;       // sources B
  int64_t beams = 1;       // rows N = B * beams
  int64_t source_len = 1;  // S
  int64_t target_len = 1;  // T generated tokens per source
  int64_t elem_bytes = 2;  // bytes per weight / cache element (bf16: 2)
};

// Per decode step, averaged over the T steps of a generation. The floor counts weight_bytes + self_kv_read_bytes +
// cross_kv_read_bytes + cache_write_bytes; reorder_bytes (beam search moving cache rows, read + write) is reported
// beside it but left out: an indirection through row indices would avoid it.
struct DecodeCost {
  int64_t step_params = 0;         // weights one step reads: decoder layers (not the cross-attention K/V
                                   // projections, applied once per source), final norm, output projection V x D
  double weight_bytes = 0;         // step_params once per step, whatever the number of rows
  double self_kv_read_bytes = 0;   // N x layers x g x (d_k + d_v) x positions attended (window-limited), averaged
  double cross_kv_read_bytes = 0;  // B x layers x g x (d_k + d_v) x S: once per source, shared by its beams
  double cache_write_bytes = 0;    // N x layers x g x (d_k + d_v)
  double reorder_bytes = 0;        // beams > 1: 2 x N x layers x g x (d_k + d_v) x positions kept, averaged
  double attended = 0;             // positions a query attends in self-attention, averaged over the steps
  double flops = 0;                // 2 x step_params x N + attention (2 x N x h x (d_k + d_v) x (attended + S))
  double bytes() const { return weight_bytes + self_kv_read_bytes + cross_kv_read_bytes + cache_write_bytes; }
};
DecodeCost decode_step_cost(const DecodeShape& shape);

// Weights read by one decode step (see DecodeCost::step_params).
int64_t decoder_step_params(const ModelConfig& model, int64_t vocab);

// FLOPs of one training step (forward + backward = 3 x forward) over B sentences of S source and T target tokens:
// 2 x (matrix weights) per token through each matrix product (encoder weights over source tokens, cross-attention
// K/V projections over source tokens, decoder weights and the V x D output projection over target tokens) plus
// attention scores and weighted sums (encoder and cross-attention over all S keys; decoder self-attention over the
// causal, window-limited keys only).
double train_step_flops(const ModelConfig& model, int64_t vocab, int64_t batch, int64_t source_len,
                        int64_t target_len);

// Ceilings measured on the running device: a large device-to-device copy (bytes read + written per second) and a
// large square matrix product in `dtype` (FLOPs per second), each the median of `repeats` timings after warm-up,
// on random data.
struct Ceilings {
  double copy_bytes_per_s = 0;
  double matmul_flops_per_s = 0;
  int64_t copy_bytes = 0;  // bytes moved per timed copy (read + write)
  int64_t matmul_n = 0;
  std::string dtype;
};
Ceilings measure_ceilings(const torch::Device& device, torch::ScalarType dtype, int repeats = 5);

// The dense matrix-product rate the vendor's datasheet gives for a device (by the name CUDA reports) in `dtype`, in
// FLOPs per second, for MFU as PaLM defines it (against the hardware's peak); 0 where this table does not know the
// device or dtype. The measured ceiling above is what a large GEMM reaches on the card as it runs (clocks, power):
// on H100s 750-808 TFLOP/s of the datasheet's 989 (experiments/training-throughput/README.md), and it varies run to
// run by several percent, so `mqa bench train` reports MFU against both.
double datasheet_matmul_flops_per_s(const std::string& device_name, torch::ScalarType dtype);

struct Floor {
  double bytes_s = 0, flops_s = 0;
  double seconds() const { return bytes_s > flops_s ? bytes_s : flops_s; }
  const char* bound() const { return bytes_s >= flops_s ? "memory" : "compute"; }
};
Floor floor_of(double bytes, double flops, const Ceilings& c);

}  // namespace mqa::bench
