// The operations of a decode step that LibTorch's ops leave speed on the table for, each with two paths:
//   kernel path: the CUDA kernels of src/mqa/kernels/ (built when CMake finds nvcc and a CUDA LibTorch, bf16 only);
//   LibTorch path: plain tensor ops, the reference the kernels are tested against, and CPU's only path.
// `use_kernels(tensor)` says which one runs; every function below takes the same arguments on both paths and
// computes the same thing (to bf16 rounding). Internal to decode/ (engine.cpp and the searches).
#pragma once
#include <torch/torch.h>

#include "mqa/decode/kv_cache.h"

namespace mqa::decode_ops {

// Whether this binary has mqa's CUDA kernels (src/mqa/kernels, all built together: the decode step's and the
// training loss's).
bool kernels_built();
// Whether the kernel path runs for tensors like `t`: kernels built, t on CUDA, bf16, and not switched off.
bool use_kernels(const torch::Tensor& t);
// Switch the kernel path off (true) to run the LibTorch path on CUDA too: the kernel tests compare the two.
void force_reference(bool on);
// The kernel path's A/B switches (util/env_switch.h; unset: on): MQA_DECODE_SPLIT_MERGE=0 merges decode attention's
// position splits in a second kernel instead of in the last CTA of each row and head; MQA_DECODE_TENSOR_CORES=0 runs
// attention of 8 queries per key/value head (multi-query, h = 8) on the CUDA-core kernel instead of the tensor-core
// one; MQA_DECODE_NORM_BLOCK=0 runs residual + layer norm with a warp per row instead of a CTA per row;
// MQA_DECODE_BEAM_UPDATE=0 runs beam search's step update as tensor ops instead of one kernel (fused_beam_update).
// check_kernel_switches() reads them (a bad value throws; `mqa` asks at start); the setters override them (tests).
void check_kernel_switches();
void set_split_merge_in_kernel(bool on);
void set_tensor_core_attention(bool on);
void set_norm_block_per_row(bool on);
void set_fused_beam_update(bool on);

struct AttentionShape {
  int64_t heads = 1, kv_heads = 1, d_k = 1, d_v = 1;
  int64_t window = 0;  // self-attention: a position sees itself and the window - 1 before it; 0 = all
};

// Host-side bounds of the positions rows attend this step (the LibTorch path reads only [lo, hi); the kernels read
// each row's own range from the device).
struct HostRange {
  int64_t min_pos = 0, max_pos = 0;  // smallest and largest pos[r] this step
};

// Self-attention of one new position per row. qkv [N, h*d_k + g*d_k + g*d_v] holds this step's query, key and value
// of every row (the fused projection's output); the key and value are written into `cache` at pos[r] ([N] long), and
// row r attends positions max(0, pos[r] - window + 1) .. pos[r] of its own history: physical row table[r, p]
// ([N, max_len] int32) when `table` is defined (beam search on the kernel path), else row r; the write records
// table[r, pos[r]] = r. Returns [N, h*d_v].
torch::Tensor self_attention(const torch::Tensor& qkv, KVCache& cache, const torch::Tensor& pos, torch::Tensor& table,
                             const AttentionShape& shape, const HostRange& range);

// Cross-attention of N = B * R rows (R rows per source) over the keys and values of every layer computed once per
// source: kv [layers, B, S, g * (d_k + d_v)] (per position: g keys of d_k, then g values of d_v), this is layer
// `layer`. Layer-major, so that a source's positions of one layer are one contiguous block for the kernel to stream.
// q [N, h*d_k]; source b has lengths[b] ([B] long) valid positions, padding [B, S] bool (true = padded) says the same
// for the LibTorch path. Returns [N, h*d_v].
torch::Tensor cross_attention(const torch::Tensor& q, const torch::Tensor& kv, int64_t layer, int64_t layers,
                              const torch::Tensor& lengths, const torch::Tensor& padding, const AttentionShape& shape);

// LayerNorm(x + (r + bias)) with (gamma, beta); x [N, D], bias [D] or undefined. When `update_x`, x becomes
// x + (r + bias) (the residual stream; pre-norm). r undefined: LayerNorm(x). Returns the normalised rows [N, D].
torch::Tensor add_layernorm(torch::Tensor& x, const torch::Tensor& r, const torch::Tensor& bias,
                            const torch::Tensor& gamma, const torch::Tensor& beta, double eps, bool update_x);

// Token embedding * scale + position embedding of each row: tokens [N] long, pos [N] long -> [N, D].
torch::Tensor embed(const torch::Tensor& embedding, const torch::Tensor& positions, const torch::Tensor& tokens,
                    const torch::Tensor& pos, double scale);

// relu(x W1^T + b1) W2^T (bias and relu fused into the first product where LibTorch 2 offers it; the second bias is
// left to add_layernorm, whose kernel adds it for free where a GEMM epilogue would slow the product down).
torch::Tensor feed_forward(const torch::Tensor& x, const torch::Tensor& w1, const torch::Tensor& b1,
                           const torch::Tensor& w2);

// The greedy step's choice and state update, on the device (kernels/decode_kernels.h GreedyPickArgs says what it
// does). logits [N, V]; the state tensors are [N] (out: [max_steps, N]); eos_at / stop_at may be undefined.
struct GreedyState {
  torch::Tensor pos, start, eos_at, stop_at, done, logprob, length, next, out;
  int64_t pad = 0, bos = 2, eos = 3, min_len = 0;
};
void greedy_pick(const torch::Tensor& logits, GreedyState& s);
// Beam search's candidates of every row (kernels/decode_kernels.h BeamCandidatesArgs says what they are): logits
// [N, V], score [N] float, t [1] long (the step), eos_at [N] long or undefined. Returns {total, logprob} [N, count]
// float and token [N, count] long.
struct BeamCandidates {
  torch::Tensor total, logprob, token;
};
BeamCandidates beam_candidates(const torch::Tensor& logits, const torch::Tensor& score, const torch::Tensor& t,
                               const torch::Tensor& eos_at, int64_t count, int64_t pad, int64_t bos, int64_t eos,
                               int64_t min_len);

// Beam search's step after the candidates as one kernel (kernels/decode_kernels.h BeamUpdateArgs says what it
// computes; beam_search.cpp's tensor ops, ~75 small kernels a step, are its reference and the CPU's path). The
// tensors are beam_search.cpp's State and its batch's pos, table and tokens: K beams a source, R rows (K, or K + 1
// with the greedy row: scores [B, R]), `slots` finished slots (fin_* [B, slots + 1]).
struct BeamUpdateState {
  int64_t beams = 0, rows_per_source = 0, slots = 0, eos = 3;
  torch::Tensor pos, pen, longest_pen, scores, sums, done, greedy_open, fin_count, beams_finished, fin_score, fin_lp,
      fin_step, fin_row, fin_hash, hash, hist_tok, hist_par, table, tokens;
};
// Runs it and returns true; or returns false, having touched nothing, where it does not run: off the kernel path,
// switched off (MQA_DECODE_BEAM_UPDATE=0), without a table, or for K, R and C the kernel does not take.
bool fused_beam_update(const BeamCandidates& cand, BeamUpdateState& s);

// The state update of greedy_pick for a token chosen elsewhere (sampling): token [N] long, token_logprob [N] double.
void commit_choice(GreedyState& s, const torch::Tensor& token, const torch::Tensor& token_logprob);

}  // namespace mqa::decode_ops
