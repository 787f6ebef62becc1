// The decode step's small kernels (decode_kernels.h): embedding lookup, residual add fused with layer norm, and the
// greedy choice fused with the search state's update. Each replaces several LibTorch kernels of the step.
#include <algorithm>
#include <cmath>

#include "mqa/kernels/bf16_vector.cuh"
#include "mqa/decode/history_hash.h"
#include "mqa/kernels/decode_kernels.h"

namespace mqa::kernels {

namespace {

constexpr int kNormMaxThreads = 256;  // threads per block of add_layernorm
constexpr int kNormWarpRows = 4;      // rows per block of add_layernorm with a warp per row
constexpr int kNormMaxVecs = 8;       // 16-byte vectors per thread: d <= 32 * 8 * 8 = 2048 with a warp per row
constexpr int kPickThreads = 512;

// Sum over the `row_threads` threads of one row (a warp, or every warp of a block that holds one row).
__device__ __forceinline__ float row_sum(float x, int row_threads, float* partials) {
  x = warp_sum(x);
  if (row_threads == 32) return x;
  const int warp = threadIdx.x / 32, warps = row_threads / 32;
  if (threadIdx.x % 32 == 0) partials[warp] = x;
  __syncthreads();
  float total = 0.f;
  for (int w = 0; w < warps; ++w) total += partials[w];
  __syncthreads();  // partials are reused by the next sum
  return total;
}

// `row_threads` threads per row: 32 (a warp per row, blockDim.x / 32 rows per block), or a whole block per row
// (blockDim.x = row_threads, up to kNormMaxThreads), which spreads a small batch's rows over more multiprocessors.
// Every global read is issued before the first reduction, so one memory latency covers them all. Vecs: 16-byte
// vectors per thread (a compile-time count keeps the row in registers).
template <int Vecs>
__global__ void add_layernorm_kernel(const bf16* x, const bf16* r, const bf16* bias, bf16* sum_out, bf16* ln_out,
                                     const bf16* gamma, const bf16* beta, int64_t rows, int d, float eps,
                                     int row_threads) {
  __shared__ float partials[kNormMaxThreads / 32];
  const int t = threadIdx.x % row_threads;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / row_threads) + threadIdx.x / row_threads;
  // Only a warp per row may leave early: a block per row reaches the reductions' barriers with all its threads.
  if (row >= rows) return;
  const int nv = d / kVec;
  float y[Vecs][kVec], g[Vecs][kVec], bb[Vecs][kVec];
  float sum = 0.f;
#pragma unroll
  for (int k = 0; k < Vecs; ++k) {
    const int vi = t + row_threads * k;
    if (vi < nv) {
      load8(x + row * d + vi * kVec, y[k]);
      load8(gamma + vi * kVec, g[k]);
      load8(beta + vi * kVec, bb[k]);
      if (r) {
        float rv[kVec];
        load8(r + row * d + vi * kVec, rv);
        if (bias) {
          float bv[kVec];
          load8(bias + vi * kVec, bv);
#pragma unroll
          for (int e = 0; e < kVec; ++e) rv[e] = round_bf16(rv[e] + bv[e]);
        }
#pragma unroll
        for (int e = 0; e < kVec; ++e) y[k][e] = round_bf16(y[k][e] + rv[e]);
      }
#pragma unroll
      for (int e = 0; e < kVec; ++e) sum += y[k][e];
    }
  }
  const float mean = row_sum(sum, row_threads, partials) / d;
  float sq = 0.f;
#pragma unroll
  for (int k = 0; k < Vecs; ++k)
    if (t + row_threads * k < nv)
#pragma unroll
      for (int e = 0; e < kVec; ++e) sq += (y[k][e] - mean) * (y[k][e] - mean);
  const float rstd = rsqrtf(row_sum(sq, row_threads, partials) / d + eps);
#pragma unroll
  for (int k = 0; k < Vecs; ++k) {
    const int vi = t + row_threads * k;
    if (vi < nv) {
      if (sum_out && r) store8(sum_out + row * d + vi * kVec, y[k]);
      float o[kVec];
#pragma unroll
      for (int e = 0; e < kVec; ++e) o[e] = (y[k][e] - mean) * rstd * g[k][e] + bb[k][e];
      store8(ln_out + row * d + vi * kVec, o);
    }
  }
}

__global__ void embed_kernel(const bf16* embedding, const bf16* positions, const int64_t* tokens, const int64_t* pos,
                             bf16* x, int64_t rows, int d, float scale) {
  const int nv = d / kVec;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= rows * nv) return;
  const int64_t row = idx / nv;
  const int vi = static_cast<int>(idx % nv);
  float e[kVec], p[kVec], o[kVec];
  load8(embedding + tokens[row] * d + vi * kVec, e);
  load8(positions + pos[row] * d + vi * kVec, p);
  // As LibTorch computes it in bf16: (embedding * scale) rounded, then + position, rounded.
#pragma unroll
  for (int k = 0; k < kVec; ++k) o[k] = round_bf16(e[k] * scale) + p[k];
  store8(x + row * d + vi * kVec, o);
}

// Calls fn(v0, f) for this thread's share of a row of bf16 logits, 8 at a time: f = logits v0 .. v0 + 7, each thread's
// chunks in ascending order; 16-byte loads where the row allows them, else one at a time with -inf past the row's
// end (a -inf is never picked and adds nothing to a log-sum-exp).
template <int Threads, typename F>
__device__ __forceinline__ void for_each_logit8(const bf16* x, int64_t vocab, bool vec, F&& fn) {
#pragma unroll 4
  for (int64_t v = threadIdx.x * kVec; v < vocab; v += Threads * kVec) {
    float f[kVec];
    if (vec) {
      load8(x + v, f);
    } else {
#pragma unroll
      for (int e = 0; e < kVec; ++e) f[e] = v + e < vocab ? __bfloat162float(x[v + e]) : -INFINITY;
    }
    fn(v, f);
  }
}

// Whether token v may be chosen at step t (forced: only end-of-sentence; no_eos: anything but).
struct Allowed {
  int64_t pad, bos, eos;
  bool forced, no_eos;
  __device__ bool operator()(int64_t v) const {
    return v != pad && v != bos && (forced ? v == eos : !(no_eos && v == eos));
  }
  // Whether every token of v0 .. v0 + 7 may be chosen, for certain: the step is not forced and none of the three
  // special ids is among them (a chunk that holds one takes the per-token test).
  __device__ bool all8(int64_t v0) const {
    auto outside = [v0](int64_t id) { return id < v0 || id >= v0 + kVec; };
    return !forced && outside(pad) && outside(bos) && outside(eos);
  }
};

// A row's log-sum-exp and its most likely allowed token (ties: the lower id), merged across the threads of a block.
struct Pick {
  LogSumExp lse;
  float best = -INFINITY;
  int index = 0;  // a token id (vocabularies are far below 2^31)
  __device__ void merge(const Pick& o) {
    lse.merge(o.lse);
    if (o.best > best || (o.best == best && o.index < index)) best = o.best, index = o.index;
  }
  __device__ Pick shuffle_xor(int offset) const {
    Pick o;
    o.lse = lse.shuffle_xor(offset);
    o.best = __shfl_xor_sync(0xffffffffu, best, offset);
    o.index = __shfl_xor_sync(0xffffffffu, index, offset);
    return o;
  }
};

// 4 blocks a multiprocessor: 32 registers (ptxas; 40 without the bound, 3 blocks).
__global__ void __launch_bounds__(kPickThreads, 4) greedy_pick_kernel(const GreedyPickArgs a) {
  const int64_t row = blockIdx.x;
  const bf16* x = static_cast<const bf16*>(a.logits) + row * a.logits_row_stride;
  const int64_t t = a.pos[row] - a.start[row];
  const Allowed allowed{a.pad, a.bos, a.eos, a.eos_at && t >= a.eos_at[row], t < a.min_len};
  Pick p;
  p.index = static_cast<int>(a.vocab);
  // Per 8 logits: one max, one rescale, 8 exponentials; the tokens looked at only where the 8's max beats the best so
  // far (strictly: a thread's chunks ascend, so a tie keeps the lower id). Per logit, as before, the pick took 78 us a
  // step at B 1024 (V 32000, H100); this way 51 (experiments/table2/NOTES.md, item 21). Where all 8 tokens may be
  // chosen (all but the chunks of the three special ids), the best is the first of the 8 equal to their max, found
  // without branches: per token, an allowed() test and a branch made the kernel bound by its integer instructions
  // (Nsight Compute: 72% of the ALU pipe, half of each warp's lanes idle; item 35).
  auto consider = [&](int64_t v0, const float (&f)[kVec]) {
    const float m = p.lse.add8(f);
    if (!(m > p.best)) return;  // (a NaN max too)
    if (allowed.all8(v0)) {
      int first = kVec - 1;
#pragma unroll
      for (int e = kVec - 2; e >= 0; --e) first = f[e] == m ? e : first;
      p.best = m, p.index = static_cast<int>(v0) + first;
      return;
    }
#pragma unroll
    for (int e = 0; e < kVec; ++e)
      if (f[e] > p.best && allowed(v0 + e)) p.best = f[e], p.index = static_cast<int>(v0 + e);
  };
  const bool vec = a.vocab % kVec == 0 && a.logits_row_stride % kVec == 0 && aligned16(a.logits);
  for_each_logit8<kPickThreads>(x, a.vocab, vec, consider);
  for (int o = 16; o > 0; o >>= 1) p.merge(p.shuffle_xor(o));
  __shared__ Pick warps[kPickThreads / 32];
  if (threadIdx.x % 32 == 0) warps[threadIdx.x / 32] = p;
  __syncthreads();
  if (threadIdx.x != 0) return;
  for (int w = 1; w < kPickThreads / 32; ++w) p.merge(warps[w]);

  if (a.done[row]) {
    a.next[row] = a.eos;
  } else {
    const int64_t token = p.index;
    a.logprob[row] += static_cast<double>(p.best) - (static_cast<double>(p.lse.mx) + log(static_cast<double>(p.lse.s)));
    a.out[t * a.rows + row] = token;
    a.next[row] = token;
    if (token == a.eos) {
      a.done[row] = true;
      a.length[row] = t;
    } else if (a.stop_at && t >= a.stop_at[row]) {
      a.done[row] = true;
      a.length[row] = t + 1;
    }
  }
  a.pos[row] += 1;
}

constexpr int kCandThreads = 256;
constexpr int kMaxCandidates = 16;

// A thread's list of the best candidates so far, best first. Every index into it is a compile-time constant (the
// loops unroll), so that it lives in registers: a list indexed at run time goes to local memory, which made this
// kernel the slowest of a beam step (297 us of 1237 at B 128 x beam 4, V 32000; experiments/table2/decode_profile.md).
// Whether candidate (v, i) ranks before (w, k): the larger value, and of equal values the lower index (a token id, or
// a position among a source's candidates). The one order of every selection in this file.
__device__ __forceinline__ bool ranks_before(float v, int i, float w, int k) { return v > w || (v == w && i < k); }

template <int C>
struct TopList {
  float val[C];
  int idx[C];  // token ids (vocabularies are far below 2^31)
  __device__ void clear(int none) {
#pragma unroll
    for (int i = 0; i < C; ++i) val[i] = -INFINITY, idx[i] = none;
  }
  __device__ void insert(float v, int i) {
    if (!ranks_before(v, i, val[C - 1], idx[C - 1])) return;  // the common case once the list has filled
#pragma unroll
    for (int j = 0; j < C; ++j)
      if (ranks_before(v, i, val[j], idx[j])) {  // v goes here; the one it displaces moves down
        const float tv = val[j];
        const int ti = idx[j];
        val[j] = v, idx[j] = i, v = tv, i = ti;
      }
  }
  __device__ void pop_front(int none) {
#pragma unroll
    for (int j = 0; j + 1 < C; ++j) val[j] = val[j + 1], idx[j] = idx[j + 1];
    val[C - 1] = -INFINITY, idx[C - 1] = none;
  }
};

// The best C of a warp's lists, best first, into out_val / out_idx (written by lane 0): C rounds in which the lanes
// agree on the best of their heads by shuffles and its owner pops it. A token is in one lane's list only, so a real
// candidate has one owner; the empty entries (-inf, none) may be popped by several lanes at once, harmlessly.
template <int C>
__device__ __forceinline__ void warp_best(TopList<C>& list, int none, float* out_val, int* out_idx) {
#pragma unroll
  for (int n = 0; n < C; ++n) {
    float v = list.val[0];
    int i = list.idx[0];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(0xffffffffu, v, o);
      const int oi = __shfl_xor_sync(0xffffffffu, i, o);
      if (ranks_before(ov, oi, v, i)) v = ov, i = oi;
    }
    if (list.idx[0] == i && list.val[0] == v) list.pop_front(none);
    if (threadIdx.x % 32 == 0) out_val[n] = v, out_idx[n] = i;
  }
}

// The best C allowed tokens of a row by per-thread lists merged across the block (the kernel's first form, now its
// fallback): into top_val / top_idx, best first, (-inf, none) past the allowed ones. Slow where it runs: while a
// thread's list fills, almost every logit of almost every lane enters the insert, and the warp runs it.
template <int C>
__device__ void best_by_lists(const bf16* x, int64_t vocab, bool vec, const Allowed& allowed, int none,
                              float* top_val, int* top_idx) {
  TopList<C> best;
  best.clear(none);
  for_each_logit8<kCandThreads>(x, vocab, vec, [&](int64_t v0, const float(&f)[kVec]) {
    if (max8(f) < best.val[C - 1]) return;
#pragma unroll
    for (int e = 0; e < kVec; ++e)
      if (allowed(v0 + e)) best.insert(f[e], static_cast<int>(v0 + e));
  });
  constexpr int kWarps = kCandThreads / 32;
  __shared__ float warp_val[kWarps * C];
  __shared__ int warp_idx[kWarps * C];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  warp_best(best, none, warp_val + warp * C, warp_idx + warp * C);
  __syncthreads();
  if (warp == 0) {
    best.clear(none);
    for (int e = lane; e < kWarps * C; e += 32) best.insert(warp_val[e], warp_idx[e]);
    warp_best(best, none, top_val, top_idx);
  }
  __syncthreads();
}

constexpr int kFoundCapacity = 1024;  // allowed logits at or above the threshold that the fast path takes

// One CTA per row: the row's log-sum-exp and its best C allowed tokens in two passes over the row (the second from
// L2). Pass 1: the log-sum-exp, and each thread's largest allowed logit; the C-th largest of those is a threshold
// that at least C allowed logits reach, so the best C are among the logits at or above it. Pass 2: those (a few times
// C of them, unless many tie) into a shared list, then each one's rank in it. Branch-light where per-thread lists
// (best_by_lists, still the path when more than kFoundCapacity logits reach the threshold) made every warp run an
// insert for almost every logit: 87.8 us a step at B 128 x beam 4, V 32000 (experiments/table2/NOTES.md, item 49).
template <int C>
__global__ void __launch_bounds__(kCandThreads) beam_candidates_kernel(const BeamCandidatesArgs a) {
  const int64_t row = blockIdx.x;
  const bf16* x = static_cast<const bf16*>(a.logits) + row * a.logits_row_stride;
  const int64_t t = *a.step;
  const Allowed allowed{a.pad, a.bos, a.eos, a.eos_at && t >= a.eos_at[row], t < a.min_len};
  const bool vec = a.vocab % kVec == 0 && a.logits_row_stride % kVec == 0 && aligned16(a.logits);
  const int none = static_cast<int>(a.vocab);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  constexpr int kWarps = kCandThreads / 32;

  // Pass 1.
  LogSumExp lse;
  float own = -INFINITY;  // this thread's largest allowed logit
  for_each_logit8<kCandThreads>(x, a.vocab, vec, [&](int64_t v0, const float(&f)[kVec]) {
    const float m = lse.add8(f);
    if (allowed.all8(v0)) {
      own = fmaxf(own, m);
      return;
    }
#pragma unroll
    for (int e = 0; e < kVec; ++e)
      if (allowed(v0 + e)) own = fmaxf(own, f[e]);
  });
  for (int o = 16; o > 0; o >>= 1) lse.merge(lse.shuffle_xor(o));
  __shared__ LogSumExp warp_lse[kWarps];
  __shared__ float lse_shared, threshold;
  __shared__ float maxima[kCandThreads];
  __shared__ int found;
  if (lane == 0) warp_lse[warp] = lse;
  maxima[threadIdx.x] = own;
  if (threadIdx.x == 0) found = 0;
  __syncthreads();
  if (warp == 0) {
    // The threshold: C rounds of the warp's largest remaining maximum (each lane holds kCandThreads / 32 of them).
    constexpr int kPer = kCandThreads / 32;
    float m[kPer];
#pragma unroll
    for (int k = 0; k < kPer; ++k) m[k] = maxima[lane + 32 * k];
    float theta = -INFINITY;
#pragma unroll 1
    for (int n = 0; n < C; ++n) {
      float lb = m[0];
      int slot = 0;
#pragma unroll
      for (int k = 1; k < kPer; ++k)
        if (m[k] > lb) lb = m[k], slot = k;
      float wb = lb;
      int wl = lane;
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, wb, o);
        const int ol = __shfl_xor_sync(0xffffffffu, wl, o);
        if (ranks_before(ov, ol, wb, wl)) wb = ov, wl = ol;
      }
      if (lane == wl) {
#pragma unroll
        for (int k = 0; k < kPer; ++k)
          if (k == slot) m[k] = -INFINITY;
      }
      theta = wb;
    }
    if (lane == 0) {
      for (int w = 1; w < kWarps; ++w) lse.merge(warp_lse[w]);
      lse_shared = lse.mx + logf(lse.s);
      threshold = theta;
    }
  }
  __syncthreads();

  // Pass 2.
  __shared__ float found_val[kFoundCapacity];
  __shared__ int found_idx[kFoundCapacity];
  const float theta = threshold;
  for_each_logit8<kCandThreads>(x, a.vocab, vec, [&](int64_t v0, const float(&f)[kVec]) {
    if (max8(f) < theta) return;  // all but a few chunks
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      if (f[e] >= theta && allowed(v0 + e)) {
        const int k = atomicAdd(&found, 1);
        if (k < kFoundCapacity) found_val[k] = f[e], found_idx[k] = static_cast<int>(v0 + e);
      }
    }
  });
  __syncthreads();
  __shared__ float top_val[C];
  __shared__ int top_idx[C];
  const int n = found;
  if (n > kFoundCapacity) {
    best_by_lists<C>(x, a.vocab, vec, allowed, none, top_val, top_idx);
  } else {
    // Each found logit's rank by (value descending, token ascending): the best C land in top_*; fewer than C
    // allowed tokens leave (-inf, none) after them.
    for (int e = threadIdx.x; e < n; e += kCandThreads) {
      const float v = found_val[e];
      const int i = found_idx[e];
      int rank = 0;
      for (int j = 0; j < n; ++j) rank += ranks_before(found_val[j], found_idx[j], v, i);
      if (rank < C) top_val[rank] = v, top_idx[rank] = i;
    }
    for (int r = n + threadIdx.x; r < C; r += kCandThreads) top_val[r] = -INFINITY, top_idx[r] = none;
    __syncthreads();
  }
  if (threadIdx.x < a.count) {
    const float lp = top_val[threadIdx.x] - lse_shared;
    const int64_t o = row * a.count + threadIdx.x;
    a.logprob[o] = lp;
    a.total[o] = a.score[row] + lp;
    a.token[o] = top_idx[threadIdx.x] < a.vocab ? top_idx[threadIdx.x] : a.eos;
  }
}

}  // namespace

bool beam_candidates_supported(int64_t count) { return count >= 1 && count <= kMaxCandidates; }

void beam_candidates(const BeamCandidatesArgs& a, cudaStream_t stream) {
  const auto blocks = static_cast<unsigned>(a.rows);
  if (a.count <= 8)
    beam_candidates_kernel<8><<<blocks, kCandThreads, 0, stream>>>(a);
  else
    beam_candidates_kernel<16><<<blocks, kCandThreads, 0, stream>>>(a);
}

namespace {

constexpr int kUpdateThreads = 128;       // beam_update: a thread per candidate of the source's K x C (<= 128)
constexpr int kUpdateTableStage = 4096;   // table entries staged in shared memory per pass of the reorder

__global__ void __launch_bounds__(kUpdateThreads) beam_update_kernel(const BeamUpdateArgs a) {
  __shared__ float top_val[32];
  __shared__ int top_at[32];     // index k * C + c among the source's beams' candidates
  __shared__ int parent_of[32];  // row r's parent row, within the source
  __shared__ int32_t stage[kUpdateTableStage];
  const int K = static_cast<int>(a.beams), R = static_cast<int>(a.rows_per_source), C = static_cast<int>(a.count);
  const int KC = K * C, tid = threadIdx.x;
  const int64_t b = blockIdx.x, row0 = b * R, N = a.sources * R, F = a.slots;
  const int64_t t = a.pos[row0];  // (read by every thread before the barrier that precedes the pos update)
  const float* total = a.total + row0 * C;  // the beams' rows come first: candidate k * C + c is row0 + k's c-th
  const float kInf = INFINITY;

  // 1. Each candidate's rank among the source's (value descending, ties: the lower index); the top C by rank.
  if (tid < KC) {
    const float v = total[tid];
    int rank = 0;
    for (int j = 0; j < KC; ++j) rank += ranks_before(total[j], j, v, tid);
    if (rank < C) top_val[rank] = v, top_at[rank] = tid;
  }
  __syncthreads();

  // 2. Warp 0, a lane per top candidate i (rank order): finish, or continue as beam q; then the greedy row.
  if (tid < 32) {
    const int i = tid;
    const bool live = i < C;
    const unsigned below = (1u << i) - 1u, lanes = C == 32 ? ~0u : (1u << C) - 1u;
    int from = 0;
    int64_t tok = -1, row = row0, parent_hash = 0;
    float val = -kInf;
    double sum = 0.0;
    if (live) {
      const int at = top_at[i];
      from = at / C;
      row = row0 + from;
      val = top_val[i];
      tok = a.token[row0 * C + at];
      sum = a.sums[row] + static_cast<double>(a.logprob[row0 * C + at]);
      parent_hash = a.hash[row];
    }
    const bool finite = live && val > -kInf, is_eos = finite && tok == a.eos;
    const bool done = a.done[b];
    bool greedy_open = a.greedy_open[b];
    const int64_t fin_count = a.fin_count[b];
    const bool fin_now = is_eos && i < K && !done;
    const unsigned fin_mask = __ballot_sync(~0u, fin_now);
    const bool cont = finite && !is_eos;
    const unsigned cont_mask = __ballot_sync(~0u, cont);
    const int n_fin = __popc(fin_mask), n_cont = __popc(cont_mask);
    const int q = cont ? __popc(cont_mask & below) : n_cont + __popc(~cont_mask & lanes & below);
    // The greedy row's old values, before any write (R > K).
    const int64_t g_row = row0 + K;
    const float g_lp = R > K ? a.logprob[g_row * C] : 0.f, g_total = R > K ? a.scores[g_row] + g_lp : -kInf;
    const double g_sum = R > K ? a.sums[g_row] + static_cast<double>(g_lp) : 0.0;
    const int64_t g_tok = R > K ? a.token[g_row * C] : 0, g_hash = R > K ? a.hash[g_row] : 0;
    __syncwarp();  // every old value (scores, sums, hash, done, fin_count, greedy_open) read before the writes below
    auto finish = [&](int64_t slot, float score, double lp, int64_t from_row, int64_t hash) {
      if (slot >= F) return;  // (the tensor ops write these into column F, which nothing reads)
      const int64_t at = b * (F + 1) + slot;
      a.fin_score[at] = score / a.pen[t + 1];
      a.fin_lp[at] = lp;
      a.fin_step[at] = t;
      a.fin_row[at] = from_row;
      a.fin_hash[at] = hash;
    };
    if (fin_now) finish(fin_count + __popc(fin_mask & below), val, sum, row, parent_hash);
    auto extend = [&](int r, int parent, int64_t token, float score, double s, int64_t hash) {
      parent_of[r] = parent;
      a.scores[row0 + r] = score;
      a.sums[row0 + r] = s;
      a.tokens[row0 + r] = token;
      a.hash[row0 + r] = (hash * history_hash::kMultiplier + token + 1) % history_hash::kModulus;
      a.hist_tok[t * N + row0 + r] = token;
      a.hist_par[t * N + row0 + r] = row0 + parent;
    };
    if (live && q < K) extend(q, from, tok, cont ? val : -kInf, sum, parent_hash);
    int64_t count = fin_count + n_fin < F ? fin_count + n_fin : F;
    bool settled = !greedy_open;
    if (R > K) {
      // The greedy row's best candidate ends a hypothesis with eos unless a beam ended the same history this step;
      // the row is settled once it cannot beat the best finished hypothesis.
      __syncwarp();  // the beams' finished slots written
      const bool g_eos = greedy_open && !done && g_tok == a.eos;
      bool dup = false;
      for (int64_t j = i; j < count; j += 32) {
        const int64_t at = b * (F + 1) + j;
        dup = dup || (a.fin_hash[at] == g_hash && a.fin_step[at] == t);
      }
      const bool add = g_eos && !__any_sync(~0u, dup);
      if (add && i == 0) finish(count, g_total, g_sum, g_row, g_hash);
      __syncwarp();
      count = count + add < F ? count + add : F;
      greedy_open = greedy_open && !g_eos;
      float best = -kInf;
      for (int64_t j = i; j < F; j += 32) best = fmaxf(best, a.fin_score[b * (F + 1) + j]);
      best = warp_max(best);
      const float longest = fmaxf(a.pen[t + 2], a.longest_pen[b]);
      settled = !greedy_open || g_total / longest <= best;
      if (i == 0) extend(K, K, g_tok, greedy_open ? g_total : -kInf, g_sum, g_hash);
    }
    if (i == 0) {
      const int64_t finished = a.beams_finished[b] + n_fin;
      a.beams_finished[b] = finished;
      a.fin_count[b] = count;
      a.greedy_open[b] = greedy_open;
      a.done[b] = done || (finished >= K && settled) || n_cont == 0;
    }
  }
  __syncthreads();

  // 3. Every row takes its parent's table row (all within the source: staged through shared memory), then pos + 1.
  const int per_pass = kUpdateTableStage / R;
  int32_t* table = a.table + row0 * a.max_len;
  for (int64_t p0 = 0; p0 < a.max_len; p0 += per_pass) {
    const int n = static_cast<int>(a.max_len - p0 < per_pass ? a.max_len - p0 : per_pass);
    for (int e = tid; e < R * n; e += kUpdateThreads) stage[e] = table[(e / n) * a.max_len + p0 + e % n];
    __syncthreads();
    for (int e = tid; e < R * n; e += kUpdateThreads)
      table[(e / n) * a.max_len + p0 + e % n] = stage[parent_of[e / n] * n + e % n];
    __syncthreads();
  }
  if (tid < R) a.pos[row0 + tid] = t + 1;
}

}  // namespace

bool beam_update_supported(int64_t beams, int64_t rows_per_source, int64_t count) {
  return beams >= 1 && beams <= count && count <= 32 && beams * count <= kUpdateThreads &&
         (rows_per_source == beams || rows_per_source == beams + 1) && rows_per_source <= 32;
}

void beam_update(const BeamUpdateArgs& a, cudaStream_t stream) {
  beam_update_kernel<<<static_cast<unsigned>(a.sources), kUpdateThreads, 0, stream>>>(a);
}

bool add_layernorm_supported(int64_t d) { return d % kVec == 0 && d <= 32 * kNormMaxVecs * kVec; }

void add_layernorm(const void* x, const void* r, const void* bias, void* sum_out, void* ln_out, const void* gamma,
                   const void* beta, int64_t rows, int64_t d, float eps, bool block_per_row, cudaStream_t stream) {
  // A block per row: a thread per vector of the row, up to kNormMaxThreads (longer rows: several per thread).
  const int vectors = static_cast<int>(d / kVec);
  const int row_threads = block_per_row ? std::min(kNormMaxThreads, (vectors + 31) / 32 * 32) : 32;
  const int rows_per_block = block_per_row ? 1 : kNormWarpRows;
  const int per_thread = (vectors + row_threads - 1) / row_threads;
  const auto blocks = static_cast<unsigned>((rows + rows_per_block - 1) / rows_per_block);
  auto launch = [&](auto kernel) {
    kernel<<<blocks, rows_per_block * row_threads, 0, stream>>>(
        static_cast<const bf16*>(x), static_cast<const bf16*>(r), static_cast<const bf16*>(bias),
        static_cast<bf16*>(sum_out), static_cast<bf16*>(ln_out), static_cast<const bf16*>(gamma),
        static_cast<const bf16*>(beta), rows, static_cast<int>(d), eps, row_threads);
  };
  if (per_thread <= 1) launch(add_layernorm_kernel<1>);
  else if (per_thread <= 2) launch(add_layernorm_kernel<2>);
  else if (per_thread <= 4) launch(add_layernorm_kernel<4>);
  else launch(add_layernorm_kernel<kNormMaxVecs>);
}

void embed(const void* embedding, const void* positions, const int64_t* tokens, const int64_t* pos, void* x,
           int64_t rows, int64_t d, float scale, cudaStream_t stream) {
  const int64_t n = rows * (d / kVec);
  const unsigned threads = 256;
  embed_kernel<<<static_cast<unsigned>((n + threads - 1) / threads), threads, 0, stream>>>(
      static_cast<const bf16*>(embedding), static_cast<const bf16*>(positions), tokens, pos, static_cast<bf16*>(x), rows,
      static_cast<int>(d), scale);
}

void greedy_pick(const GreedyPickArgs& a, cudaStream_t stream) {
  greedy_pick_kernel<<<static_cast<unsigned>(a.rows), kPickThreads, 0, stream>>>(a);
}

}  // namespace mqa::kernels
