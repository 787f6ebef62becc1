// CUDA kernels of the decode step (decode/engine.h), with plain-pointer launchers so that this header and the .cu
// files need neither LibTorch nor its CUDA headers. Built only when CMake finds nvcc and a CUDA LibTorch
// (MQA_WITH_KERNELS); decode/decode_ops.cpp wraps them for tensors and holds the LibTorch reference of each.
// Element type: bf16 (the engine's compute type on CUDA). Every launcher checks its arguments' limits with
// decode_kernels_support_*() first; callers fall back to the reference where those say no.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace mqa::kernels {

// One query position per row attending over a key/value cache (flash-decoding: each key/value head is read once for
// all the query heads and query rows that share it, the positions split over CTAs when rows x heads are too few to
// fill the GPU, partial results merged by the last CTA of each row and head, or by a second kernel).
//
// Query n in [0, kv_rows * rows_per_kv), head i in [0, heads) reads key/value row b = n / rows_per_kv and head
// j = i / (heads / kv_heads). Element (d) of
//   query       q   + n * q_row_stride + i * d_k + d
//   key         k   + b' * k_row_stride + j * k_head_stride + p * k_pos_stride + d   (b' = table[b, p] or b)
//   value       v   (same, with v's strides)
//   output      out + n * out_row_stride + i * d_v + d
// Positions attended by kv row b: self-attention (pos != null): max(0, pos[b] - window + 1) .. pos[b] (window 0 =
// from 0); the newest position pos[b] is read from k_new / v_new (+ b * new_row_stride + j * d) and written into the
// cache at (b, j, pos[b]) by the same launch, which also records table[b, pos[b]] = b (the row that wrote it). Cross-attention (pos == null): 0 .. lengths[b] - 1.
// A row with no position to attend gets zeros.
struct DecodeAttentionArgs {
  const void* q = nullptr;
  int64_t q_row_stride = 0;
  void* k = nullptr;
  int64_t k_row_stride = 0, k_head_stride = 0, k_pos_stride = 0;
  void* v = nullptr;
  int64_t v_row_stride = 0, v_head_stride = 0, v_pos_stride = 0;
  int kv_rows = 0, rows_per_kv = 1, heads = 0, kv_heads = 0, d_k = 0, d_v = 0;
  int max_len = 0;                    // positions the cache holds (the table's row length)
  const int64_t* pos = nullptr;       // [kv_rows], self-attention
  int window = 0;
  const int64_t* lengths = nullptr;   // [kv_rows], cross-attention
  int32_t* table = nullptr;           // [kv_rows, max_len] or null (self-attention writes table[b, pos[b]] = b)
  const void* k_new = nullptr;
  const void* v_new = nullptr;
  int64_t new_row_stride = 0;
  void* out = nullptr;
  int64_t out_row_stride = 0;
  float scale = 1.0f;                 // applied to q . k (1 / sqrt(d_k))
  int splits = 1;                     // CTAs per (row, head) along the positions (at most: short rows use fewer)
  float* workspace = nullptr;         // decode_attention_workspace_floats(args) floats when splits > 1
  // With splits > 1: [kv_rows * kv_heads] counters, zero before the launch (and zero again after it), with which the
  // last CTA of each (row, head) to finish finds out that it is last and merges the splits' partials itself; null:
  // a second kernel merges them. Launches that share counters must not run concurrently (one stream).
  int32_t* tickets = nullptr;
  // Groups of 8 or more queries per key/value head on the tensor-core kernel; false: on the CUDA-core kernel where
  // it takes them (up to 1024 output values per key/value head, e.g. 8 queries of d_v 128), else still tensor cores.
  bool tensor_cores = true;
};

// Whether the kernel handles these shapes (alignment of every pointer and stride to 8 elements, d_k and d_v
// multiples of 8 up to 256, at most 64 queries per key/value head).
bool decode_attention_supported(const DecodeAttentionArgs& a);
// A split count for rows x heads CTAs over at most `positions` positions on a GPU of `sms` multiprocessors.
int decode_attention_splits(int kv_rows, int kv_heads, int positions, int sms);
int64_t decode_attention_workspace_floats(const DecodeAttentionArgs& a);
void decode_attention(const DecodeAttentionArgs& a, cudaStream_t stream);

// sum = x + (r + bias) (each addition rounded to bf16, as LibTorch's bf16 ops round; the residual stream),
// ln = LayerNorm(sum) * gamma + beta; rows of `d` elements, contiguous. bias may be null (nothing added); r == null:
// sum = x (sum_out may then be null). sum_out may alias x. block_per_row: a CTA per row (a thread per 8 elements),
// else a warp per row (the kernel's first form: a batch of 128 rows then runs on 32 CTAs).
bool add_layernorm_supported(int64_t d);
void add_layernorm(const void* x, const void* r, const void* bias, void* sum_out, void* ln_out, const void* gamma,
                   const void* beta, int64_t rows, int64_t d, float eps, bool block_per_row, cudaStream_t stream);

// x[r] = embedding[tokens[r]] * scale + positions[pos[r]], rows of d elements.
void embed(const void* embedding, const void* positions, const int64_t* tokens, const int64_t* pos, void* x,
           int64_t rows, int64_t d, float scale, cudaStream_t stream);

// Greedy choice of every row, and the search state it updates, all on the device:
//   t = pos[r] - start[r] (the step); log-softmax over the whole vocabulary (the model's own distribution), then the
//   most likely token among the allowed ones: never pad or bos; never eos when t < min_len; only eos when
//   t >= eos_at[r] (the length limit wins over min_len). Rows not done: logprob[r] += its log-probability, out[t * rows + r] = token, next[r] = token; the
//   row is done when it chose eos (length[r] = t) or when t == stop_at[r] (length[r] = t + 1). Done rows feed eos.
//   pos[r] += 1 for every row.
struct GreedyPickArgs {
  const void* logits = nullptr;  // [rows, vocab] bf16, row stride logits_row_stride
  int64_t logits_row_stride = 0;
  int64_t rows = 0, vocab = 0;
  int64_t pad = 0, bos = 2, eos = 3, min_len = 0;
  int64_t* pos = nullptr;            // [rows]
  const int64_t* start = nullptr;    // [rows]
  const int64_t* eos_at = nullptr;   // [rows] or null
  const int64_t* stop_at = nullptr;  // [rows] or null
  bool* done = nullptr;              // [rows]
  double* logprob = nullptr;         // [rows]
  int64_t* length = nullptr;         // [rows]
  int64_t* next = nullptr;           // [rows]
  int64_t* out = nullptr;            // [max_steps, rows]
};
void greedy_pick(const GreedyPickArgs& a, cudaStream_t stream);

// Beam search's candidates, per row: the `count` most likely allowed tokens (allowed as in greedy_pick, t = *step)
// by the model's log-probability lp = logit - logsumexp(logits) (over the whole vocabulary), best first (ties: the
// lower token id), with total = score[r] + lp. Rows whose score is -inf give -inf totals.
struct BeamCandidatesArgs {
  const void* logits = nullptr;  // [rows, vocab] bf16, row stride logits_row_stride
  int64_t logits_row_stride = 0;
  int64_t rows = 0, vocab = 0, count = 0;
  int64_t pad = 0, bos = 2, eos = 3, min_len = 0;
  const int64_t* step = nullptr;    // [1]: the step t
  const int64_t* eos_at = nullptr;  // [rows] or null: eos forced from this step
  const float* score = nullptr;     // [rows]
  float* total = nullptr;           // [rows, count]
  float* logprob = nullptr;         // [rows, count]: lp of each candidate
  int64_t* token = nullptr;         // [rows, count]
};
bool beam_candidates_supported(int64_t count);
void beam_candidates(const BeamCandidatesArgs& a, cudaStream_t stream);

// Beam search's step after the candidates (beam_search.cpp's update: K beams per source, and with keep_greedy_path
// the greedy row after them, R = K + 1 rows), a CTA per source, in one launch where the tensor ops take ~75 small
// kernels. With t = pos[row] (every row's):
//   top: the best C of the source's K x C beam candidates by total (ties: the lower index k * C + c);
//   a top-K one that is eos (and finite) finishes a hypothesis, unless the source is done: into slot fin_count +
//   (finishing ones before it), slots past F - 1 dropped: fin_score = total / pen[t + 1], fin_lp = sums[parent] + lp
//   (double), fin_step = t, fin_row = the parent row, fin_hash = its history hash; fin_count += finished (at most F),
//   beams_finished += finished;
//   the first K of the C that are finite and not eos continue in rank order, then the others (dead: score -inf):
//   beam k takes its parent's table row, token (tokens, hist_tok[t]), parent row (hist_par[t]), score (total), sum
//   and hash (parent's * 1000003 + token + 1, mod 2^31 - 1);
//   the greedy row (R = K + 1) takes its best candidate; if that is eos (and the row open, the source not done) it
//   finishes a hypothesis too, unless a finished slot already holds its history hash at step t; it closes on eos,
//   and is settled when closed or when its total / max(pen[t + 2], longest_pen) is at most the best finished score;
//   done |= (beams_finished >= K and settled) or no beam candidate continues; pos += 1.
struct BeamUpdateArgs {
  int64_t sources = 0, beams = 0, rows_per_source = 0, count = 0;  // B, K, R, C (rows N = B * R)
  int64_t slots = 0;  // F: finished slots per source (the arrays have F + 1 columns)
  int64_t max_len = 0, eos = 3;
  const float* total = nullptr;    // [N, C] candidates (beam_candidates)
  const float* logprob = nullptr;  // [N, C]
  const int64_t* token = nullptr;  // [N, C]
  const float* pen = nullptr;      // [steps + 2] length penalty of a hypothesis of len tokens
  const float* longest_pen = nullptr;  // [B] length penalty of the longest output allowed (read with R = K + 1)
  int64_t* pos = nullptr;          // [N]
  float* scores = nullptr;         // [B, R]
  double* sums = nullptr;          // [B, R]
  bool* done = nullptr;            // [B]
  bool* greedy_open = nullptr;     // [B]
  int64_t* fin_count = nullptr;                            // [B]
  int64_t* beams_finished = nullptr;                       // [B]
  float* fin_score = nullptr;                              // [B, F + 1]
  double* fin_lp = nullptr;                                // [B, F + 1]
  int64_t *fin_step = nullptr, *fin_row = nullptr, *fin_hash = nullptr;  // [B, F + 1]
  int64_t* hash = nullptr;                                 // [N]
  int64_t *hist_tok = nullptr, *hist_par = nullptr;        // [steps, N]
  int32_t* table = nullptr;                                // [N, max_len]
  int64_t* tokens = nullptr;                               // [N]
};
// Whether the kernel takes K beams of C candidates in rows of R: K <= C <= 32, K * C <= 128, R = K or K + 1 <= 32.
bool beam_update_supported(int64_t beams, int64_t rows_per_source, int64_t count);
void beam_update(const BeamUpdateArgs& a, cudaStream_t stream);

}  // namespace mqa::kernels
