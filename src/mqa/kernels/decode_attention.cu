// Decode attention (decode_kernels.h): one query position per row over a bf16 key/value cache, flash-decoding style.
// Two kernels, chosen by Q, the queries that share a key/value head (rows_per_kv * heads / kv_heads):
//   - Q >= 8 (multi-query, large groups, beams sharing cross-attention): decode_attention_kernel, on the tensor cores;
//   - Q < 8 (multi-head): few_queries_kernel, on the CUDA cores, which keeps more CTAs per multiprocessor in flight
//     (measured on an H200: at batch 1024, 2048 positions, multi-head decoding ran at 45% of the bandwidth floor with
//     the tensor-core kernel, whose 16-row blocks were 15/16 padding, and at 75% with this one).
//   (DecodeAttentionArgs::tensor_cores false, MQA_DECODE_TENSOR_CORES=0: few_queries_kernel for Q = 8 too.)
//
// decode_attention_kernel: one CTA of 128 threads (4 warps) per (key/value row b, key/value head j, split s) holds the Q = rows_per_kv *
// heads/kv_heads queries that read this head (multi-query: all h heads, and in cross-attention all beams of the
// source), padded to blocks of 16 rows, and walks its share of the positions in tiles of 64 keys:
//   1. the tile's keys and values are copied into shared memory in one burst of 16-byte asynchronous copies (every
//      key and value vector is read from memory once, for all Q queries);
//   2. scores S = Q K^T on the tensor cores (WMMA 16x16x16, bf16 in, fp32 out);
//   3. online softmax per query (a warp per query, base 2), the probabilities P rounded to bf16;
//   4. O += P V on the tensor cores, O kept in shared memory in fp32 (rescaled per query between tiles).
// Head widths that are not a multiple of 16 are zero-padded in shared memory. With splits > 1 each CTA writes its
// unnormalised partial (max, sum, O) to the workspace, and the last of a row and head's CTAs to finish merges them
// (merge_if_last; without tickets, combine_kernel does, launched after); with one split the CTA writes the output.
#include <cuda_pipeline.h>
#include <mma.h>

#include <cmath>

#include "mqa/kernels/bf16_vector.cuh"
#include "mqa/kernels/decode_kernels.h"

namespace mqa::kernels {

namespace {

namespace wmma = nvcuda::wmma;

constexpr int kThreads = 128, kWarps = kThreads / 32;
constexpr int kTile = 64;        // keys per tile of the tensor-core kernel
constexpr int kMinSplitPositions = 64;  // positions a split gets at least
constexpr int kMaxQueries = 64;  // query rows per CTA (4 blocks of 16)
constexpr float kLog2e = 1.4426950408889634f;

struct Range {
  int64_t lo, hi;
};

// Positions [lo, hi) that key/value row b attends.
__device__ __forceinline__ Range attended(const DecodeAttentionArgs& a, int b) {
  if (a.pos) {
    const int64_t p = a.pos[b];
    const int64_t lo = a.window > 0 ? (p - a.window + 1 > 0 ? p - a.window + 1 : 0) : 0;
    return {lo, p + 1};
  }
  return {0, a.lengths[b]};
}

// This CTA's share of row b's positions: [lo, hi) of split `split` (possibly empty).
__device__ __forceinline__ Range split_range(const DecodeAttentionArgs& a, int b, int split) {
  const Range range = attended(a, b);
  const int64_t len = range.hi > range.lo ? range.hi - range.lo : 0;
  const int64_t per_split = (len + a.splits - 1) / a.splits;
  const int64_t lo = range.lo + split * per_split;
  return {lo, lo + per_split < range.hi ? lo + per_split : range.hi};
}

// Self-attention: the new position's key and value go into the cache (and its writer, row b, into the table), by
// split 0's CTAs. Every CTA reads that position from k_new / v_new instead, so no CTA reads what another writes.
__device__ __forceinline__ void write_newest(const DecodeAttentionArgs& a, int b, int j, int split) {
  if (!a.k_new || split != 0) return;
  const int64_t newest = a.pos[b];
  bf16* kd = static_cast<bf16*>(a.k) + b * a.k_row_stride + j * a.k_head_stride + newest * a.k_pos_stride;
  bf16* vd = static_cast<bf16*>(a.v) + b * a.v_row_stride + j * a.v_head_stride + newest * a.v_pos_stride;
  const bf16* ks = static_cast<const bf16*>(a.k_new) + b * a.new_row_stride + j * a.d_k;
  const bf16* vs = static_cast<const bf16*>(a.v_new) + b * a.new_row_stride + j * a.d_v;
  for (int e = threadIdx.x * kVec; e < a.d_k; e += blockDim.x * kVec)
    *reinterpret_cast<uint4*>(kd + e) = *reinterpret_cast<const uint4*>(ks + e);
  for (int e = threadIdx.x * kVec; e < a.d_v; e += blockDim.x * kVec)
    *reinterpret_cast<uint4*>(vd + e) = *reinterpret_cast<const uint4*>(vs + e);
  if (a.table && j == 0 && threadIdx.x == 0) a.table[static_cast<int64_t>(b) * a.max_len + newest] = b;
}

// Query qi of the CTA of key/value row b, head j (qi = r * group + i_local): query row n = b * rows_per_kv + r, head
// i = j * group + i_local; g = n * heads + i, its index among the launch's queries.
struct QueryIndex {
  int64_t n;
  int i;
  size_t g;
};
__device__ __forceinline__ QueryIndex query_index(const DecodeAttentionArgs& a, int b, int j, int qi) {
  const int group = a.heads / a.kv_heads;
  const int64_t n = static_cast<int64_t>(b) * a.rows_per_kv + qi / group;
  const int i = j * group + qi % group;
  return {n, i, static_cast<size_t>(n) * a.heads + i};
}

// The workspace with splits > 1: each split's unnormalised partial output [splits, queries, d_v], then its running
// max and sum [splits, queries, 2] (queries: all of the launch's).
__device__ __forceinline__ size_t launch_queries(const DecodeAttentionArgs& a) {
  return static_cast<size_t>(a.kv_rows) * a.rows_per_kv * a.heads;
}
__device__ __forceinline__ float* partial_of(const DecodeAttentionArgs& a, int split, size_t g) {
  return a.workspace + (static_cast<size_t>(split) * launch_queries(a) + g) * a.d_v;
}
__device__ __forceinline__ float* max_sum_of(const DecodeAttentionArgs& a, int split, size_t g) {
  const size_t nq = launch_queries(a);
  return a.workspace + static_cast<size_t>(a.splits) * nq * a.d_v + (static_cast<size_t>(split) * nq + g) * 2;
}

// Values vc * 8 .. vc * 8 + 7 of query q's output, v unnormalised, with the query's running max m and sum l: with one
// split, v / l into the output; with several, this split's partial (and, with the first chunk, m and l) into the
// workspace.
__device__ __forceinline__ void emit_chunk(const DecodeAttentionArgs& a, const QueryIndex& q, int split, int vc,
                                           const float (&v)[kVec], float m, float l) {
  if (a.splits == 1) {
    const float inv = l > 0.f ? 1.f / l : 0.f;
    float o[kVec];
#pragma unroll
    for (int e = 0; e < kVec; ++e) o[e] = v[e] * inv;
    store8(static_cast<bf16*>(a.out) + q.n * a.out_row_stride + static_cast<int64_t>(q.i) * a.d_v + vc * kVec, o);
    return;
  }
  float* w = partial_of(a, split, q.g) + vc * kVec;
#pragma unroll
  for (int e = 0; e < kVec; ++e) w[e] = v[e];
  if (vc == 0) {
    float* ml = max_sum_of(a, split, q.g);
    ml[0] = m;
    ml[1] = l;
  }
}

// Merges the splits' partials of the `queries` queries of key/value row b, head j into their outputs:
// out = sum_s w_s O_s with w_s = 2^(m_s - M) / sum_s' 2^(m_s' - M) l_s' (M = max_s m_s), first a thread per query
// for its weights (into `weights`, queries x splits floats of shared memory), then a thread per 4 output values,
// whose split partials are independent 16-byte loads. Loads bypass L1 (__ldcg): other CTAs wrote the partials.
__device__ void merge_partials(const DecodeAttentionArgs& a, int b, int j, int queries, float* weights) {
  for (int qi = threadIdx.x; qi < queries; qi += blockDim.x) {
    const size_t g = query_index(a, b, j, qi).g;
    float* w = weights + qi * a.splits;
    float mx = -INFINITY;
    for (int s = 0; s < a.splits; ++s) mx = fmaxf(mx, __ldcg(max_sum_of(a, s, g)));
    float total = 0.f;
    for (int s = 0; s < a.splits; ++s) {
      const float* ml = max_sum_of(a, s, g);
      const float ms = __ldcg(ml);
      w[s] = ms == -INFINITY ? 0.f : exp2f(ms - mx);
      total += w[s] * __ldcg(ml + 1);
    }
    const float inv = total > 0.f ? 1.f / total : 0.f;  // no position attended: zeros
    for (int s = 0; s < a.splits; ++s) w[s] *= inv;
  }
  __syncthreads();
  const int chunks = a.d_v / 4;
  for (int e = threadIdx.x; e < queries * chunks; e += blockDim.x) {
    const int qi = e / chunks, c = e % chunks;
    const QueryIndex q = query_index(a, b, j, qi);
    const float* w = weights + qi * a.splits;
    float4 o = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int s = 0; s < a.splits; ++s) {
      if (w[s] == 0.f) continue;
      const float4 p = __ldcg(reinterpret_cast<const float4*>(partial_of(a, s, q.g)) + c);
      o.x += w[s] * p.x, o.y += w[s] * p.y, o.z += w[s] * p.z, o.w += w[s] * p.w;
    }
    __nv_bfloat162 h[2] = {__floats2bfloat162_rn(o.x, o.y), __floats2bfloat162_rn(o.z, o.w)};
    *reinterpret_cast<uint2*>(static_cast<bf16*>(a.out) + q.n * a.out_row_stride +
                              static_cast<int64_t>(q.i) * a.d_v + c * 4) = *reinterpret_cast<const uint2*>(h);
  }
}

// After a CTA wrote its partials (splits > 1, tickets given): the last CTA of its (row b, head j) to get here merges
// them (merge_partials, in `scratch`: the CTA's shared memory, no longer needed) and resets the ticket. The fences make
// every CTA's partials visible before its ticket is taken (the threadFenceReduction pattern of CUDA's samples).
__device__ void merge_if_last(const DecodeAttentionArgs& a, int b, int j, int queries, float* scratch) {
  __shared__ bool last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(a.tickets + blockIdx.x, 1) == a.splits - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();
  merge_partials(a, b, j, queries, scratch);
  if (threadIdx.x == 0) a.tickets[blockIdx.x] = 0;  // ready for the next launch (a CUDA graph replays this one)
}

int round16(int x) { return (x + 15) / 16 * 16; }

// Shared-memory layout (element counts; every region starts 128-byte aligned, every row padded so that WMMA tiles
// start 32-byte aligned and rows fall into different banks).
struct Layout {
  int queries = 0, qrows = 0;  // Q and Q rounded up to 16
  int dk = 0, dv = 0;          // d_k, d_v rounded up to 16
  int ldq = 0, ldk = 0, ldv = 0, lds = 0, ldp = 0, ldo = 0;
  size_t q_off = 0, k_off = 0, v_off = 0, s_off = 0, p_off = 0, o_off = 0, ml_off = 0, bytes = 0;
};

Layout layout_of(const DecodeAttentionArgs& a) {
  Layout L;
  const int group = a.kv_heads > 0 ? a.heads / a.kv_heads : 0;
  L.queries = a.rows_per_kv * group;
  L.qrows = round16(L.queries);
  L.dk = round16(a.d_k), L.dv = round16(a.d_v);
  L.ldq = L.dk + 8, L.ldk = L.dk + 8, L.ldv = L.dv + 8;  // bf16
  L.lds = kTile + 4, L.ldo = L.dv + 4;                    // fp32
  L.ldp = kTile + 8;                                      // bf16
  size_t at = 0;
  auto take = [&](size_t bytes) {
    const size_t off = at;
    at = (at + bytes + 127) / 128 * 128;
    return off;
  };
  L.q_off = take(sizeof(bf16) * L.qrows * L.ldq);
  L.k_off = take(sizeof(bf16) * kTile * L.ldk);
  L.v_off = take(sizeof(bf16) * kTile * L.ldv);
  L.s_off = take(sizeof(float) * L.qrows * L.lds);
  L.p_off = take(sizeof(bf16) * L.qrows * L.ldp);
  L.o_off = take(sizeof(float) * L.qrows * L.ldo);
  L.ml_off = take(sizeof(float) * 3 * L.qrows);
  L.bytes = at;
  return L;
}

__global__ void __launch_bounds__(kThreads) decode_attention_kernel(const DecodeAttentionArgs a, const Layout L) {
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* Qs = reinterpret_cast<bf16*>(smem + L.q_off);   // [qrows, ldq]
  bf16* Ks = reinterpret_cast<bf16*>(smem + L.k_off);   // [kTile, ldk]
  bf16* Vs = reinterpret_cast<bf16*>(smem + L.v_off);   // [kTile, ldv]
  float* S = reinterpret_cast<float*>(smem + L.s_off);  // [qrows, lds] scores
  bf16* P = reinterpret_cast<bf16*>(smem + L.p_off);    // [qrows, ldp] probabilities
  float* O = reinterpret_cast<float*>(smem + L.o_off);  // [qrows, ldo] weighted values, unnormalised
  float* m = reinterpret_cast<float*>(smem + L.ml_off);  // [qrows] running max (base 2)
  float* l = m + L.qrows;                                 // [qrows] running sum
  float* alpha = l + L.qrows;                             // [qrows] rescale of this tile

  const int b = blockIdx.x / a.kv_heads, j = blockIdx.x % a.kv_heads, split = blockIdx.y;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const bf16* K = static_cast<const bf16*>(a.k);
  const bf16* V = static_cast<const bf16*>(a.v);
  const bf16* k_new = static_cast<const bf16*>(a.k_new);
  const bf16* v_new = static_cast<const bf16*>(a.v_new);
  const Range share = split_range(a, b, split);
  const int64_t s_lo = share.lo, s_hi = share.hi;
  const int64_t newest = a.pos ? a.pos[b] : -1;
  write_newest(a, b, j, split);

  // Zero what must read as zeros: the queries (padding rows and columns), the keys' and values' padding columns (when
  // d is not a multiple of 16), the probabilities' padding rows, and the accumulated output. Then the queries, row qi
  // holding query_index(qi).
  {
    const uint4 zero = make_uint4(0, 0, 0, 0);
    auto clear = [&](size_t from, size_t to) {
      for (size_t e = from / 16 + tid; e < to / 16; e += kThreads) reinterpret_cast<uint4*>(smem)[e] = zero;
    };
    clear(L.q_off, L.k_off);
    if (L.dk != a.d_k || L.dv != a.d_v) clear(L.k_off, L.s_off);
    clear(L.p_off, L.ml_off);
  }
  __syncthreads();
  const bf16* Q = static_cast<const bf16*>(a.q);
  const int qchunks = a.d_k / kVec;
  for (int idx = tid; idx < L.queries * qchunks; idx += kThreads) {
    const int qi = idx / qchunks, c = idx % qchunks;
    const QueryIndex q = query_index(a, b, j, qi);
    *reinterpret_cast<uint4*>(Qs + qi * L.ldq + c * kVec) =
        *reinterpret_cast<const uint4*>(Q + q.n * a.q_row_stride + static_cast<int64_t>(q.i) * a.d_k + c * kVec);
  }
  for (int qi = tid; qi < L.qrows; qi += kThreads) {
    m[qi] = -INFINITY;
    l[qi] = 0.f;
  }

  const float scale = a.scale * kLog2e;
  const int kchunks = a.d_k / kVec, vchunks = a.d_v / kVec;
  const int qblocks = L.qrows / 16;
  for (int64_t t0 = s_lo; t0 < s_hi; t0 += kTile) {
    const int tile_keys = static_cast<int>(s_hi - t0 < kTile ? s_hi - t0 : kTile);
    // 1. Keys and values of the tile into shared memory (rows past the tile's end as zeros).
    for (int idx = tid; idx < kTile * (kchunks + vchunks); idx += kThreads) {
      const bool is_v = idx >= kTile * kchunks;
      const int e = is_v ? idx - kTile * kchunks : idx;
      const int chunks = is_v ? vchunks : kchunks;
      const int x = e / chunks, c = e % chunks;
      bf16* dst = is_v ? Vs + x * L.ldv + c * kVec : Ks + x * L.ldk + c * kVec;
      if (x >= tile_keys) {
        *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
        continue;
      }
      const int64_t p = t0 + x;
      const bf16* src;
      if (p == newest) {
        src = (is_v ? v_new + j * a.d_v : k_new + j * a.d_k) + b * a.new_row_stride;
      } else {
        const int64_t row = a.table ? a.table[static_cast<int64_t>(b) * a.max_len + p] : b;
        src = is_v ? V + row * a.v_row_stride + j * a.v_head_stride + p * a.v_pos_stride
                   : K + row * a.k_row_stride + j * a.k_head_stride + p * a.k_pos_stride;
      }
      __pipeline_memcpy_async(dst, src + c * kVec, 16);
    }
    __pipeline_commit();
    // While this tile arrives: the next tile's rows into L2 (256 bytes = 2 lines of each key and value vector).
    if (t0 + kTile < s_hi) {
      const int x = tid / 2, line = tid % 2;  // 128 threads: 64 keys x 2 lines
      const int64_t p = t0 + kTile + x;
      if (p < s_hi && p != newest) {
        const int64_t row = a.table ? a.table[static_cast<int64_t>(b) * a.max_len + p] : b;
        const bf16* kp = K + row * a.k_row_stride + j * a.k_head_stride + p * a.k_pos_stride + line * 64;
        const bf16* vp = V + row * a.v_row_stride + j * a.v_head_stride + p * a.v_pos_stride + line * 64;
        asm volatile("prefetch.global.L2 [%0];" ::"l"(kp));
        asm volatile("prefetch.global.L2 [%0];" ::"l"(vp));
      }
    }
    __pipeline_wait_prior(0);
    __syncthreads();

    // 2. Scores: S[qrows, 64] = Q K^T, a warp per (query block, 16-key block).
    for (int pair = warp; pair < qblocks * (kTile / 16); pair += kWarps) {
      const int qb = pair / (kTile / 16), kb = pair % (kTile / 16);
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.f);
      for (int kk = 0; kk < L.dk; kk += 16) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> qa;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> kb_frag;
        wmma::load_matrix_sync(qa, Qs + qb * 16 * L.ldq + kk, L.ldq);
        wmma::load_matrix_sync(kb_frag, Ks + kb * 16 * L.ldk + kk, L.ldk);
        wmma::mma_sync(acc, qa, kb_frag, acc);
      }
      wmma::store_matrix_sync(S + qb * 16 * L.lds + kb * 16, acc, L.lds, wmma::mem_row_major);
    }
    __syncthreads();

    // 3. Online softmax, a warp per query.
    for (int qi = warp; qi < L.queries; qi += kWarps) {
      float s[kTile / 32];
      float mt = -INFINITY;
#pragma unroll
      for (int u = 0; u < kTile / 32; ++u) {
        const int x = lane + 32 * u;
        s[u] = x < tile_keys ? S[qi * L.lds + x] * scale : -INFINITY;
        mt = fmaxf(mt, s[u]);
      }
      mt = warp_max(mt);
      const float m_old = m[qi], m_new = fmaxf(m_old, mt);
      float sum = 0.f;
#pragma unroll
      for (int u = 0; u < kTile / 32; ++u) {
        const float pv = s[u] == -INFINITY ? 0.f : exp2f(s[u] - m_new);
        P[qi * L.ldp + lane + 32 * u] = __float2bfloat16_rn(pv);
        sum += pv;
      }
      sum = warp_sum(sum);
      if (lane == 0) {
        const float al = m_old == -INFINITY ? 0.f : exp2f(m_old - m_new);
        alpha[qi] = al;
        l[qi] = l[qi] * al + sum;
        m[qi] = m_new;
      }
    }
    __syncthreads();
    for (int e = tid; e < L.queries * L.dv; e += kThreads) O[(e / L.dv) * L.ldo + e % L.dv] *= alpha[e / L.dv];
    __syncthreads();

    // 4. O[qrows, dv] += P V, a warp per (query block, 16-column block).
    for (int pair = warp; pair < qblocks * (L.dv / 16); pair += kWarps) {
      const int qb = pair / (L.dv / 16), cb = pair % (L.dv / 16);
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      float* o = O + qb * 16 * L.ldo + cb * 16;
      wmma::load_matrix_sync(acc, o, L.ldo, wmma::mem_row_major);
#pragma unroll
      for (int kk = 0; kk < kTile; kk += 16) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> pa;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> vb;
        wmma::load_matrix_sync(pa, P + qb * 16 * L.ldp + kk, L.ldp);
        wmma::load_matrix_sync(vb, Vs + kk * L.ldv + cb * 16, L.ldv);
        wmma::mma_sync(acc, pa, vb, acc);
      }
      wmma::store_matrix_sync(o, acc, L.ldo, wmma::mem_row_major);
    }
    __syncthreads();
  }
  __syncthreads();  // (no tile at all: the initial m and l)

  // Output: O / l per query (splits = 1), or the unnormalised partial with its max and sum.
  for (int e = tid; e < L.queries * vchunks; e += kThreads) {
    const int qi = e / vchunks, vc = e % vchunks;
    float v[kVec];
#pragma unroll
    for (int k = 0; k < kVec; ++k) v[k] = O[qi * L.ldo + vc * kVec + k];
    emit_chunk(a, query_index(a, b, j, qi), split, vc, v, m[qi], l[qi]);
  }
  if (a.splits > 1 && a.tickets) merge_if_last(a, b, j, L.queries, reinterpret_cast<float*>(smem));
}

// few_queries_kernel: one CTA of 128 threads per (b, j, s) holds the Q queries in shared memory (pre-scaled, fp32)
// and walks its positions in tiles of 128 / qsplit keys: (1) a thread per key (and per group of up to QPT queries)
// reads the key once, 16 bytes at a time, and dots it with its queries; (2) online softmax, a warp per query; (3) each
// thread owns 8 output elements of CPT query chunks (or, with fewer chunks than threads, one chunk and every KL-th key
// of the tile, the KL partial sums added at the end).
// Launch geometry shared by the host checks and the launch.
struct FewPlan {
  int queries = 0;  // Q, per CTA
  int qpt = 1;      // queries per thread in the score phase (template)
  int qsplit = 1;   // groups of qpt queries (a power of two): keys per tile = kThreads / qsplit
  int cpt = 1;      // output chunks of 8 values per thread (template)
  size_t smem = 0;  // bytes of dynamic shared memory
};

FewPlan few_plan_of(const DecodeAttentionArgs& a) {
  FewPlan p;
  const int group = a.kv_heads > 0 ? a.heads / a.kv_heads : 0;
  p.queries = a.rows_per_kv * group;
  p.qpt = 1;  // 1, 2 or 4 (the instantiations of launch_few): more queries go to more groups of threads
  while (p.qpt < p.queries && p.qpt < 4) p.qpt *= 2;
  const int groups = (p.queries + p.qpt - 1) / p.qpt;
  p.qsplit = 1;
  while (p.qsplit < groups) p.qsplit *= 2;
  const int chunks = p.queries * (a.d_v / kVec);
  p.cpt = 1;
  while (p.cpt * kThreads < chunks) p.cpt *= 2;
  const int kt = kThreads / (p.qsplit > 0 ? p.qsplit : 1);
  p.smem = sizeof(float) * (static_cast<size_t>(p.queries) * a.d_k + 2 * kt + static_cast<size_t>(p.queries) * kt +
                            3 * p.queries + kThreads * kVec);
  return p;
}

template <int QPT, int CPT>
__global__ void __launch_bounds__(kThreads) few_queries_kernel(const DecodeAttentionArgs a, int queries, int qsplit) {
  extern __shared__ float4 smem4[];
  const int kt = kThreads / qsplit;  // keys per tile
  const int b = blockIdx.x / a.kv_heads, j = blockIdx.x % a.kv_heads, split = blockIdx.y;
  float* qs = reinterpret_cast<float*>(smem4);                            // [Q, d_k] queries * scale * log2(e)
  const bf16** vrow = reinterpret_cast<const bf16**>(qs + queries * a.d_k);  // [kt] value vector of each key
  float* sc = reinterpret_cast<float*>(vrow + kt);                        // [Q, kt] scores, then probabilities
  float* m = sc + queries * kt;                                           // [Q] running max
  float* l = m + queries;                                                 // [Q] running sum
  float* alpha = l + queries;                                             // [Q] rescale of the running sums
  float* red = alpha + queries;                                           // [kThreads * 8] key-lane sums

  const bf16* K = static_cast<const bf16*>(a.k);
  const bf16* V = static_cast<const bf16*>(a.v);
  const bf16* k_new = static_cast<const bf16*>(a.k_new);
  const bf16* v_new = static_cast<const bf16*>(a.v_new);
  const Range share = split_range(a, b, split);
  const int64_t s_lo = share.lo, s_hi = share.hi;
  const int64_t newest = a.pos ? a.pos[b] : -1;
  write_newest(a, b, j, split);

  // Query qi's row and head: query_index.
  const float qscale = a.scale * kLog2e;
  const bf16* Q = static_cast<const bf16*>(a.q);
  for (int idx = threadIdx.x; idx < queries * a.d_k; idx += kThreads) {
    const int qi = idx / a.d_k, d = idx % a.d_k;
    const QueryIndex q = query_index(a, b, j, qi);
    qs[idx] = __bfloat162float(Q[q.n * a.q_row_stride + static_cast<int64_t>(q.i) * a.d_k + d]) * qscale;
  }
  for (int qi = threadIdx.x; qi < queries; qi += kThreads) {
    m[qi] = -INFINITY;
    l[qi] = 0.f;
  }
  __syncthreads();

  const int vchunks = a.d_v / kVec;
  const int chunks = queries * vchunks;
  const int lanes = chunks >= kThreads ? 1 : kThreads / chunks;  // KL: threads sharing one output chunk
  float acc[CPT][kVec];
#pragma unroll
  for (int c = 0; c < CPT; ++c)
#pragma unroll
    for (int e = 0; e < kVec; ++e) acc[c][e] = 0.f;

  const int qgroup = threadIdx.x / kt, key = threadIdx.x % kt, q0 = qgroup * QPT;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int64_t t0 = s_lo; t0 < s_hi; t0 += kt) {
    // 1. Scores of this tile's keys.
    const int64_t p = t0 + key;
    const bool valid = p < s_hi;
    float s[QPT];
#pragma unroll
    for (int qq = 0; qq < QPT; ++qq) s[qq] = 0.f;
    if (valid) {
      const bf16 *kp, *vp;
      if (p == newest) {
        kp = k_new + b * a.new_row_stride + j * a.d_k;
        vp = v_new + b * a.new_row_stride + j * a.d_v;
      } else {
        const int64_t row = a.table ? a.table[static_cast<int64_t>(b) * a.max_len + p] : b;
        kp = K + row * a.k_row_stride + j * a.k_head_stride + p * a.k_pos_stride;
        vp = V + row * a.v_row_stride + j * a.v_head_stride + p * a.v_pos_stride;
      }
      if (qgroup == 0) vrow[key] = vp;
      if (q0 < queries) {
#pragma unroll 4
        for (int c = 0; c < a.d_k; c += kVec) {
          float kf[kVec];
          load8(kp + c, kf);
#pragma unroll
          for (int qq = 0; qq < QPT; ++qq) {
            if (q0 + qq < queries) {
              const float4* qv = reinterpret_cast<const float4*>(qs + (q0 + qq) * a.d_k + c);
              const float4 x0 = qv[0], x1 = qv[1];
              s[qq] += x0.x * kf[0] + x0.y * kf[1] + x0.z * kf[2] + x0.w * kf[3] + x1.x * kf[4] + x1.y * kf[5] +
                       x1.z * kf[6] + x1.w * kf[7];
            }
          }
        }
      }
    }
#pragma unroll
    for (int qq = 0; qq < QPT; ++qq)
      if (q0 + qq < queries) sc[(q0 + qq) * kt + key] = valid ? s[qq] : -INFINITY;
    __syncthreads();

    // 2. Online softmax, a warp per query.
    for (int qi = warp; qi < queries; qi += kThreads / 32) {
      float mt = -INFINITY;
      for (int x = lane; x < kt; x += 32) mt = fmaxf(mt, sc[qi * kt + x]);
      mt = warp_max(mt);
      const float m_old = m[qi];
      const float m_new = fmaxf(m_old, mt);
      float sum = 0.f;
      for (int x = lane; x < kt; x += 32) {
        const float sv = sc[qi * kt + x];
        const float pv = sv == -INFINITY ? 0.f : exp2f(sv - m_new);
        sc[qi * kt + x] = pv;
        sum += pv;
      }
      sum = warp_sum(sum);
      if (lane == 0) {
        const float al = m_old == -INFINITY ? 0.f : exp2f(m_old - m_new);
        alpha[qi] = al;
        l[qi] = l[qi] * al + sum;
        m[qi] = m_new;
      }
    }
    __syncthreads();

    // 3. Weighted values.
    const int tile_keys = static_cast<int>(s_hi - t0 < kt ? s_hi - t0 : kt);
    if (lanes == 1) {
#pragma unroll
      for (int c = 0; c < CPT; ++c) {
        const int ch = threadIdx.x + c * kThreads;
        if (ch < chunks) {
          const int qi = ch / vchunks, vc = ch % vchunks;
          const float al = alpha[qi];
#pragma unroll
          for (int e = 0; e < kVec; ++e) acc[c][e] *= al;
#pragma unroll 4
          for (int x = 0; x < tile_keys; ++x) {
            const float pv = sc[qi * kt + x];
            float vf[kVec];
            load8(vrow[x] + vc * kVec, vf);
#pragma unroll
            for (int e = 0; e < kVec; ++e) acc[c][e] += pv * vf[e];
          }
        }
      }
    } else if (threadIdx.x < lanes * chunks) {
      const int ch = threadIdx.x % chunks, first = threadIdx.x / chunks;
      const int qi = ch / vchunks, vc = ch % vchunks;
      const float al = alpha[qi];
#pragma unroll
      for (int e = 0; e < kVec; ++e) acc[0][e] *= al;
#pragma unroll 4
      for (int x = first; x < tile_keys; x += lanes) {
        const float pv = sc[qi * kt + x];
        float vf[kVec];
        load8(vrow[x] + vc * kVec, vf);
#pragma unroll
        for (int e = 0; e < kVec; ++e) acc[0][e] += pv * vf[e];
      }
    }
    __syncthreads();
  }

  if (lanes > 1) {
    if (threadIdx.x < lanes * chunks)
#pragma unroll
      for (int e = 0; e < kVec; ++e) red[threadIdx.x * kVec + e] = acc[0][e];
    __syncthreads();
    if (threadIdx.x < chunks)
      for (int k = 1; k < lanes; ++k)
#pragma unroll
        for (int e = 0; e < kVec; ++e) acc[0][e] += red[(k * chunks + threadIdx.x) * kVec + e];
  }

  auto emit = [&](int ch, float(&v)[kVec]) {
    const int qi = ch / vchunks;
    emit_chunk(a, query_index(a, b, j, qi), split, ch % vchunks, v, m[qi], l[qi]);
  };
  if (lanes == 1) {
#pragma unroll
    for (int c = 0; c < CPT; ++c)
      if (threadIdx.x + c * kThreads < chunks) emit(threadIdx.x + c * kThreads, acc[c]);
  } else if (threadIdx.x < chunks) {
    emit(threadIdx.x, acc[0]);
  }
  if (a.splits > 1 && a.tickets) merge_if_last(a, b, j, queries, reinterpret_cast<float*>(smem4));
}

// Merges the splits' partials of key/value row and head blockIdx.x (when no tickets were given): `queries` per CTA.
__global__ void combine_kernel(const DecodeAttentionArgs a, int queries) {
  extern __shared__ float weights[];  // [queries, splits]
  merge_partials(a, blockIdx.x / a.kv_heads, blockIdx.x % a.kv_heads, queries, weights);
}

template <int QPT>
void launch_few(const DecodeAttentionArgs& a, const FewPlan& p, cudaStream_t stream) {
  // Fewer than 8 queries of at most 256 values: at most 128 chunks, one per thread (CPT 1).
  const dim3 grid(static_cast<unsigned>(a.kv_rows * a.kv_heads), static_cast<unsigned>(a.splits));
  few_queries_kernel<QPT, 1><<<grid, kThreads, p.smem, stream>>>(a, p.queries, p.qsplit);
}

bool aligned_elements(int64_t stride) { return stride % kVec == 0; }

void launch_combine(const DecodeAttentionArgs& a, int queries, cudaStream_t stream) {
  if (a.splits <= 1 || a.tickets) return;
  const size_t weights = sizeof(float) * static_cast<size_t>(queries) * a.splits;
  combine_kernel<<<static_cast<unsigned>(static_cast<int64_t>(a.kv_rows) * a.kv_heads), kThreads, weights, stream>>>(
      a, queries);
}

// Queries per CTA from which the tensor-core kernel runs.
constexpr int kTensorCoreQueries = 8;

bool few_plan_fits(const FewPlan& p) { return p.cpt == 1 && p.smem <= 48 * 1024; }

// Whether the CUDA-core kernel runs: fewer than kTensorCoreQueries queries per CTA, or more without tensor cores
// (a.tensor_cores false) where its plan fits (one 8-value output chunk per thread: Q x d_v <= 1024).
bool cuda_core_kernel(const DecodeAttentionArgs& a) {
  const Layout L = layout_of(a);
  return L.queries < kTensorCoreQueries || (!a.tensor_cores && few_plan_fits(few_plan_of(a)));
}

}  // namespace

bool decode_attention_supported(const DecodeAttentionArgs& a) {
  if (a.kv_heads <= 0 || a.heads % a.kv_heads != 0 || a.rows_per_kv <= 0 || a.kv_rows <= 0) return false;
  if (a.d_k % kVec != 0 || a.d_v % kVec != 0 || a.d_k > 256 || a.d_v > 256) return false;
  if ((a.pos == nullptr) == (a.lengths == nullptr)) return false;
  if (a.k_new && a.rows_per_kv != 1) return false;
  if (cuda_core_kernel(a)) {
    if (!few_plan_fits(few_plan_of(a))) return false;
  } else {
    const Layout L = layout_of(a);
    if (L.queries > kMaxQueries || L.bytes > 200 * 1024) return false;
  }
  for (const void* ptr : {a.q, static_cast<const void*>(a.k), static_cast<const void*>(a.v), a.k_new, a.v_new,
                          static_cast<const void*>(a.out)})
    if (ptr && !aligned16(ptr)) return false;
  for (int64_t s : {a.q_row_stride, a.k_row_stride, a.k_head_stride, a.k_pos_stride, a.v_row_stride, a.v_head_stride,
                    a.v_pos_stride, a.new_row_stride, a.out_row_stride})
    if (!aligned_elements(s)) return false;
  return true;
}

int decode_attention_splits(int kv_rows, int kv_heads, int positions, int sms) {
  const int64_t ctas = static_cast<int64_t>(kv_rows) * kv_heads;
  const int64_t want = (2LL * sms + ctas - 1) / ctas;                // enough CTAs for two per multiprocessor
  const int64_t most = positions / kMinSplitPositions > 1 ? positions / kMinSplitPositions : 1;
  int64_t s = want < most ? want : most;
  return static_cast<int>(s < 1 ? 1 : s > 64 ? 64 : s);
}

int64_t decode_attention_workspace_floats(const DecodeAttentionArgs& a) {
  if (a.splits <= 1) return 0;
  return static_cast<int64_t>(a.splits) * a.kv_rows * a.rows_per_kv * a.heads * (a.d_v + 2);
}

void decode_attention(const DecodeAttentionArgs& a, cudaStream_t stream) {
  // The merge's weights (queries x splits <= 64 x 64 floats) fit in either kernel's dynamic shared memory: the
  // tensor-core kernel's scores alone take qrows x (64 + 4) floats, the CUDA-core kernel's key-lane sums 1024.
  if (cuda_core_kernel(a)) {
    const FewPlan p = few_plan_of(a);
    switch (p.qpt) {
      case 1: launch_few<1>(a, p, stream); break;
      case 2: launch_few<2>(a, p, stream); break;
      default: launch_few<4>(a, p, stream); break;
    }
    launch_combine(a, p.queries, stream);
    return;
  }
  const Layout L = layout_of(a);
  // Dynamic shared memory above 48 KB needs the kernel's consent: given once, before any graph capture.
  static const bool opted_in =
      cudaFuncSetAttribute(decode_attention_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 200 * 1024) ==
      cudaSuccess;
  (void)opted_in;
  const dim3 grid(static_cast<unsigned>(a.kv_rows * a.kv_heads), static_cast<unsigned>(a.splits));
  decode_attention_kernel<<<grid, kThreads, L.bytes, stream>>>(a, L);
  launch_combine(a, L.queries, stream);
}

}  // namespace mqa::kernels
