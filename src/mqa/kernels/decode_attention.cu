// Decode attention (decode_kernels.h): one query position per row over a bf16 key/value cache, flash-decoding style.
// Two kernels, chosen by Q, the queries that share a key/value head (rows_per_kv * heads / kv_heads):
//   - Q >= 8 (multi-query, large groups, beams sharing cross-attention): tensor_core_kernel;
//   - Q < 8 (multi-head): few_queries_kernel, on the CUDA cores, which keeps more CTAs per multiprocessor in flight
//     (measured on an H200: at batch 1024, 2048 positions, multi-head decoding ran at 45% of the bandwidth floor with
//     a tensor-core kernel, whose 16-row blocks were 15/16 padding, and at 75% with this one).
//   (DecodeAttentionArgs::tensor_cores false, MQA_DECODE_TENSOR_CORES=0: few_queries_kernel for Q = 8 too.)
// Each CTA serves one (key/value row b, key/value head j, split s): every key and value vector is read from memory
// once, for all the Q queries that read it. A row's positions are split over up to a.splits CTAs (active_splits: fewer
// for short rows); with several, each CTA writes its unnormalised partial (max, sum, O) to the workspace, and the last
// of a row and head's CTAs to finish merges them (merge_if_last; without tickets, combine_kernel does, launched
// after); with one split the CTA writes the output.
#include <cuda_pipeline.h>

#include <algorithm>
#include <cmath>

#include "mqa/kernels/bf16_vector.cuh"
#include "mqa/kernels/decode_kernels.h"
#include "mqa/kernels/fast_divisor.h"

namespace mqa::kernels {

namespace {

constexpr int kThreads = 128, kWarps = kThreads / 32;
// Positions per split: a row of fewer runs on one CTA. Measured on an H100 (multi-query greedy, batch 128): with 64,
// 128 source positions took two CTAs each and the merge cost more than the split won (4.13 against 3.63 us/token).
constexpr int kMinSplitPositions = 128;
constexpr int kMaxQueries = 64;  // query rows per CTA (4 blocks of 16)

// The run-time counts the kernels divide by, each as a multiply and a shift (fast_divisor.h), set up once a launch.
// The kernels take a remainder beside its quotient as n - q * count, with the count they already hold, not as
// FastDivisor::mod (which reads d from here): that changed the compiled code and measured within +-1% on an H100
// (experiments/table2/NOTES.md, item 44).
struct Divisors {
  FastDivisor kv_heads;  // a CTA's blockIdx.x -> key/value row b, head j
  FastDivisor group;     // a query's index in its CTA -> query row, head: heads per key/value head
  FastDivisor kchunks, vchunks;  // 16-byte chunks of a key, of a value
};
Divisors divisors_of(const DecodeAttentionArgs& a) {
  Divisors dv;
  dv.kv_heads = FastDivisor(a.kv_heads);
  dv.group = FastDivisor(a.kv_heads > 0 ? a.heads / a.kv_heads : 1);
  dv.kchunks = FastDivisor(a.d_k / kVec), dv.vchunks = FastDivisor(a.d_v / kVec);
  return dv;
}

struct Range {
  int64_t lo, hi;
  __device__ int64_t length() const { return hi > lo ? hi - lo : 0; }
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

// The splits row b uses: a.splits (the grid's) where its positions are many, fewer where they are few (a split for
// every kMinSplitPositions positions, at least one), so that short rows skip the merge; the grid's other CTAs of the
// row return at once. Self-attention's positions grow by one a step under a launch fixed for a CUDA graph.
// `range`: the row's attended positions.
__device__ __forceinline__ int active_splits(const DecodeAttentionArgs& a, const Range& range) {
  const int64_t wanted = (range.length() + kMinSplitPositions - 1) / kMinSplitPositions;
  return wanted < 1 ? 1 : wanted < a.splits ? static_cast<int>(wanted) : a.splits;
}

// This CTA's share of a row's attended positions `range`: [lo, hi) of split `split` of `splits` (possibly empty).
// (32-bit division: a row's positions fit, and a 64-bit division is a long call.)
__device__ __forceinline__ Range split_range(const Range& range, int split, int splits) {
  const int64_t per_split = (static_cast<uint32_t>(range.length()) + splits - 1) / static_cast<uint32_t>(splits);
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

// The positions the CTA of key/value row b, split `split` walks: [lo, hi), a share of the row's attended positions;
// splits: the row's (active_splits); newest: the position written this step (self-attention), else -1. False: the
// row has fewer splits than the grid, this CTA none.
struct Share {
  int splits;
  int64_t lo, hi, newest;
};
__device__ __forceinline__ bool share_of(const DecodeAttentionArgs& a, int b, int split, Share& s) {
  const Range range = attended(a, b);
  const int splits = active_splits(a, range);
  if (split >= splits) return false;
  const Range r = split_range(range, split, splits);
  s.splits = splits;
  s.lo = r.lo, s.hi = r.hi;
  s.newest = a.pos ? a.pos[b] : -1;
  return true;
}

// Query qi of the CTA of key/value row b, head j (qi = r * group + i_local): query row n = b * rows_per_kv + r, head
// i = j * group + i_local; g = n * heads + i, its index among the launch's queries.
struct QueryIndex {
  int64_t n;
  int i;
  size_t g;
};
// Group: the heads per key/value head, as a FastDivisor (tensor_core_kernel, the merges) or a HardwareDivisor
// (few_queries_kernel: with the multiply-and-shift, ptxas gave its one-query-per-thread variant 54 registers instead of
// 64 and multi-head greedy decoding ran 2.9% slower on an H100; experiments/table2/NOTES.md, item 37).
struct HardwareDivisor {
  int d;
  __device__ int div(int n) const { return n / d; }
};
template <typename Group>
__device__ __forceinline__ QueryIndex query_index(const DecodeAttentionArgs& a, const Group& group, int b, int j,
                                                  int qi) {
  const int r = group.div(qi);
  const int64_t n = static_cast<int64_t>(b) * a.rows_per_kv + r;
  const int i = j * group.d + (qi - r * group.d);
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
// split of the row, v / l into the output; with several, this split's partial (and, with the first chunk, m and l)
// into the workspace.
__device__ __forceinline__ void emit_chunk(const DecodeAttentionArgs& a, const QueryIndex& q, int split, int splits,
                                           int vc, const float (&v)[kVec], float m, float l) {
  if (splits == 1) {
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
__device__ void merge_partials(const DecodeAttentionArgs& a, const Divisors& dv, int b, int j, int queries, int splits,
                               float* weights) {
  for (int qi = threadIdx.x; qi < queries; qi += blockDim.x) {
    const size_t g = query_index(a, dv.group, b, j, qi).g;
    float* w = weights + qi * splits;
    float mx = -INFINITY;
    for (int s = 0; s < splits; ++s) mx = fmaxf(mx, __ldcg(max_sum_of(a, s, g)));
    float total = 0.f;
    for (int s = 0; s < splits; ++s) {
      const float* ml = max_sum_of(a, s, g);
      const float ms = __ldcg(ml);
      w[s] = ms == -INFINITY ? 0.f : exp2f(ms - mx);
      total += w[s] * __ldcg(ml + 1);
    }
    const float inv = total > 0.f ? 1.f / total : 0.f;  // no position attended: zeros
    for (int s = 0; s < splits; ++s) w[s] *= inv;
  }
  __syncthreads();
  const int chunks = a.d_v / 4;
  for (int e = threadIdx.x; e < queries * chunks; e += blockDim.x) {
    const int qi = e / chunks, c = e % chunks;
    const QueryIndex q = query_index(a, dv.group, b, j, qi);
    const float* w = weights + qi * splits;
    float4 o = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int s = 0; s < splits; ++s) {
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
__device__ void merge_if_last(const DecodeAttentionArgs& a, const Divisors& dv, int b, int j, int queries, int splits,
                              float* scratch) {
  __shared__ bool last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(a.tickets + blockIdx.x, 1) == splits - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();
  merge_partials(a, dv, b, j, queries, splits, scratch);
  if (threadIdx.x == 0) a.tickets[blockIdx.x] = 0;  // ready for the next launch (a CUDA graph replays this one)
}

int round16(int x) { return (x + 15) / 16 * 16; }

// tensor_core_kernel: one CTA of 4 warps per (b, j, s) holds the Q queries that read this key/value head (multi-query:
// all h heads, and in cross-attention all beams of the source), in blocks of 16 rows, and walks its share of the
// positions in tiles of 64 keys (32 when d is above 128):
//   - the keys and values arrive through a ring of kStages tiles (16-byte asynchronous copies): while the CTA computes
//     tile t, tile t + 1 is in flight, so a CTA walking many positions always has memory requests out; the queries
//     travel with the first tile. Two stages, not three: 3 CTAs a multiprocessor instead of 2 (shared memory), and
//     on an H100 multi-query greedy at batch 1024, 2048 positions took 2.17 us/token against 2.28;
//   - the arithmetic stays in registers, FlashAttention-2 style: mma.sync m16n8k16 (bf16 in, fp32 accumulate) with
//     fragments loaded by ldmatrix; the scores' accumulators become the probabilities' A operand in place, so no
//     score, probability or output tile goes through shared memory inside the loop. (A WMMA kernel that loaded a tile,
//     then computed on it through shared memory, ran that point at 2.79 us/token.)
//   - the warps split the keys, not the queries: with one block of 16 queries (multi-query greedy: 8 queries) each
//     warp takes 16 of the tile's 64 keys; with 2 blocks, 2 warps a block; 3 or 4 blocks, a warp a block. Each warp
//     keeps its own running max (base 2), sum and output, merged across warps once at the end (in the ring's memory).
// Head widths that are not a multiple of 16 are zero-padded in shared memory.
constexpr int kStages = 2;

// Keys per tile for heads of dt 8-column blocks (the widest of d_k and d_v, rounded up to 16, over 8: 8, 16 or 32).
__host__ __device__ constexpr int tile_keys(int dt) { return dt > 16 ? 32 : 64; }

struct TensorCoreLayout {
  int queries = 0, mblocks = 0, key_groups = 0;  // Q, its 16-row blocks, warps per block (each a share of the keys)
  int dt = 0;    // the kernel's template: 8-column blocks of the widest head, 8 (d <= 64), 16 (<= 128) or 32
  int tile = 0;  // keys per tile: tile_keys(dt), 64, or 32 when d_k or d_v is above 128
  int dk = 0, dv = 0, ldq = 0, ldk = 0, ldv = 0;  // d rounded up to 16; row strides (bf16), 16 bytes of padding
  int ldo = 0;                                   // row stride of the end's per-warp outputs (fp32)
  size_t q_off = 0, ring_off = 0, stage = 0, bytes = 0;  // stage: bf16 elements of one tile's keys and values
};

TensorCoreLayout tensor_core_layout_of(const DecodeAttentionArgs& a) {
  TensorCoreLayout L;
  const int group = a.kv_heads > 0 ? a.heads / a.kv_heads : 0;
  L.queries = a.rows_per_kv * group;
  L.mblocks = (L.queries + 15) / 16;
  L.key_groups = L.mblocks <= 1 ? kWarps : L.mblocks == 2 ? kWarps / 2 : 1;
  L.dk = round16(a.d_k), L.dv = round16(a.d_v);
  const int widest = std::max(L.dk, L.dv);
  L.dt = widest <= 64 ? 8 : widest <= 128 ? 16 : 32;
  L.tile = tile_keys(L.dt);
  L.ldq = L.dk + 8, L.ldk = L.dk + 8, L.ldv = L.dv + 8, L.ldo = L.dv + 4;
  L.stage = static_cast<size_t>(L.tile) * (L.ldk + L.ldv);
  L.q_off = 0;
  L.ring_off = (sizeof(bf16) * 16 * L.mblocks * L.ldq + 127) / 128 * 128;
  const size_t ring = sizeof(bf16) * kStages * L.stage;
  const size_t ends = sizeof(float) * kWarps * 16 * (L.ldo + 2);        // per-warp outputs, maxima and sums
  const size_t weights = sizeof(float) * kMaxQueries * 64;              // merge_if_last: queries x splits
  L.bytes = std::max(L.ring_off + std::max(ring, ends), weights);
  return L;
}

__device__ __forceinline__ uint32_t smem_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const bf16* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_address(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const bf16* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_address(p)));
}
// c += a b: a 16x16 (row-major fragment), b 16x8 (column-major), c 16x8 fp32. Fragment of lane l (g = l / 4,
// t = l % 4): a {(g, 2t..2t+1), (g+8, 2t..), (g, 2t+8..), (g+8, 2t+8..)}, b {(2t..2t+1, g), (2t+8.., g)},
// c {(g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1)}.
__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&h);
}
__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

// DT (TensorCoreLayout::dt): 8-column blocks of the widest head, so that the output a warp holds (registers: 3 CTAs a
// multiprocessor up to d 128), the score loop's trip count and the tile's keys are known to the compiler.
template <int DT>
__global__ void __launch_bounds__(kThreads, DT > 16 ? 1 : 3)
    tensor_core_kernel(const DecodeAttentionArgs a, const TensorCoreLayout L, const Divisors dv) {
  constexpr int kTile = tile_keys(DT);
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* Qs = reinterpret_cast<bf16*>(smem + L.q_off);      // [mblocks * 16, ldq]
  bf16* ring = reinterpret_cast<bf16*>(smem + L.ring_off);  // kStages x ([tile, ldk] keys, [tile, ldv] values)

  const int b = dv.kv_heads.div(blockIdx.x), j = blockIdx.x - b * a.kv_heads, split = blockIdx.y;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t4 = lane % 4;
  const bf16* K = static_cast<const bf16*>(a.k);
  const bf16* V = static_cast<const bf16*>(a.v);
  Share share;
  if (!share_of(a, b, split, share)) return;
  const int splits = share.splits;
  const int64_t s_lo = share.lo, s_hi = share.hi, newest = share.newest;
  write_newest(a, b, j, split);

  // Zeros where the copies never write and the tensor cores read: the queries' padding rows, and (d not a multiple of
  // 16) the queries', keys' and values' padding columns. Before any copy: a copy and a zero store never share an
  // address. (A query row is walked in DT chunks, DT * 8 >= dk: no division by a run-time count.)
  {
    const uint4 zero = make_uint4(0, 0, 0, 0);
    for (int e = tid; e < 16 * L.mblocks * DT; e += kThreads) {
      const int r = e / DT, c = e % DT;
      if (c * kVec < L.dk && (r >= L.queries || c * kVec >= a.d_k)) reinterpret_cast<uint4*>(Qs + r * L.ldq)[c] = zero;
    }
    if (L.dk != a.d_k || L.dv != a.d_v) {
      const int kc = L.ldk / kVec, vc = L.ldv / kVec;
      for (int e = tid; e < kStages * kTile * (kc + vc); e += kThreads) {
        const int s = e / (kTile * (kc + vc)), r = e % (kTile * (kc + vc));
        bf16* base = ring + s * L.stage;
        if (r < kTile * kc) {
          if ((r % kc) * kVec >= a.d_k) reinterpret_cast<uint4*>(base + (r / kc) * L.ldk)[r % kc] = zero;
        } else {
          const int rv = r - kTile * kc;
          if ((rv % vc) * kVec >= a.d_v)
            reinterpret_cast<uint4*>(base + kTile * L.ldk + (rv / vc) * L.ldv)[rv % vc] = zero;
        }
      }
    }
  }
  const bf16* Q = static_cast<const bf16*>(a.q);
  const int kchunks = a.d_k / kVec, vchunks = a.d_v / kVec;
  for (int idx = tid; idx < L.queries * DT; idx += kThreads) {
    const int qi = idx / DT, c = idx % DT;
    if (c >= kchunks) continue;
    const QueryIndex q = query_index(a, dv.group, b, j, qi);
    __pipeline_memcpy_async(Qs + qi * L.ldq + c * kVec,
                            Q + q.n * a.q_row_stride + static_cast<int64_t>(q.i) * a.d_k + c * kVec, 16);
  }

  // Tile `t`'s keys and values into stage t % kStages. Each thread copies one 16-byte column of every step-th key
  // (keys x0, x0 + step, ...; threads past step x chunks idle), for the keys and for the values: no division per copy.
  // A full tile of cached positions read without a row table (greedy self-attention, cross-attention) walks a pointer,
  // one 64-bit add per copy. Any other tile (the newest position, read from k_new / v_new; beams' positions, read
  // through the table; the share's last keys) computes each key's address, and its rows past the share's end are
  // zeros (their probabilities are zero, and 0 x garbage could be NaN).
  const int tiles = s_hi > s_lo ? static_cast<int>((s_hi - s_lo + kTile - 1) / kTile) : 0;
  const int kstep = dv.kchunks.div(kThreads), vstep = dv.vchunks.div(kThreads);
  const int kx0_ = dv.kchunks.div(tid), vx0_ = dv.vchunks.div(tid);
  const int kc = tid - kx0_ * kchunks, vc = tid - vx0_ * vchunks;
  const int kx0 = kx0_ < kstep ? kx0_ : kTile, vx0 = vx0_ < vstep ? vx0_ : kTile;
  const bf16* k_col = K + j * a.k_head_stride + kc * kVec;  // + row * k_row_stride + p * k_pos_stride
  const bf16* v_col = V + j * a.v_head_stride + vc * kVec;
  const bf16* k_fresh = static_cast<const bf16*>(a.k_new) + b * a.new_row_stride + j * a.d_k + kc * kVec;
  const bf16* v_fresh = static_cast<const bf16*>(a.v_new) + b * a.new_row_stride + j * a.d_v + vc * kVec;
  const int32_t* table_row = a.table ? a.table + static_cast<int64_t>(b) * a.max_len : nullptr;
  auto copy_column = [&](bf16* dst, int ld, int x0, int step, const bf16* col, int64_t row_stride,
                         int64_t pos_stride, const bf16* fresh, int64_t t0, int keys, bool plain) {
    if (plain) {
      const bf16* src = col + b * row_stride + (t0 + x0) * pos_stride;
      const int64_t src_step = step * pos_stride;
      for (int x = x0; x < kTile; x += step, src += src_step) __pipeline_memcpy_async(dst + x * ld, src, 16);
      return;
    }
    for (int x = x0; x < kTile; x += step) {
      if (x >= keys) {
        *reinterpret_cast<uint4*>(dst + x * ld) = make_uint4(0, 0, 0, 0);
        continue;
      }
      const int64_t p = t0 + x;
      const int64_t row = table_row ? table_row[p] : b;
      __pipeline_memcpy_async(dst + x * ld, p == newest ? fresh : col + row * row_stride + p * pos_stride, 16);
    }
  };
  // Tile t's first position and its keys (kTile, or fewer for the share's last tile).
  auto first_of = [&](int t) { return s_lo + static_cast<int64_t>(t) * kTile; };
  auto keys_of = [&](int64_t t0) { return static_cast<int>(s_hi - t0 < kTile ? s_hi - t0 : kTile); };
  auto load_tile = [&](int t) {
    bf16* Ks = ring + (t % kStages) * L.stage;
    bf16* Vs = Ks + kTile * L.ldk;
    const int64_t t0 = first_of(t);
    const int keys = keys_of(t0);
    const bool plain = !table_row && keys == kTile && (newest < t0 || newest >= t0 + kTile);
    copy_column(Ks + kc * kVec, L.ldk, kx0, kstep, k_col, a.k_row_stride, a.k_pos_stride, k_fresh, t0, keys, plain);
    copy_column(Vs + vc * kVec, L.ldv, vx0, vstep, v_col, a.v_row_stride, a.v_pos_stride, v_fresh, t0, keys, plain);
  };
#pragma unroll
  for (int t = 0; t < kStages - 1; ++t) {
    if (t < tiles) load_tile(t);
    __pipeline_commit();  // (empty groups too: the wait below counts groups)
  }

  const int mb = warp / L.key_groups, kg = warp % L.key_groups;
  const bool active = mb < L.mblocks;
  // The scores stay unscaled until the softmax: the running max m is in base-2 units of the scaled scores (scale *
  // log2 e > 0: the max of the raw scores, scaled, is the max of the scaled ones), and a probability is
  // 2^(s * scale - m), one FFMA and one EX2.
  const float scale = a.scale * kLog2e;
  float o[DT][4];
#pragma unroll
  for (int n = 0; n < DT; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
  float m_run[2] = {-INFINITY, -INFINITY}, l_run[2] = {0.f, 0.f};  // rows g and g + 8 (l: this thread's keys)

  for (int t = 0; t < tiles; ++t) {
    if (t + kStages - 1 < tiles) load_tile(t + kStages - 1);
    __pipeline_commit();
    __pipeline_wait_prior(kStages - 1);  // tile t (and the queries) arrived, for this thread's copies
    __syncthreads();                     // ... and for everyone's
    const bf16* Ks = ring + (t % kStages) * L.stage;
    const bf16* Vs = Ks + kTile * L.ldk;
    const int keys = keys_of(first_of(t));
    for (int c = kg; active && c * 16 < keys; c += L.key_groups) {
      // Scores of keys c*16 .. c*16 + 15 (two 8-key blocks) for the block's 16 queries.
      // Two sets of accumulators (even and odd 16-wide slices of d_k): two chains of dependent mma, not one.
      float s[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
      float s_odd[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
      const bf16* q_at = Qs + (mb * 16 + lane % 16) * L.ldq + (lane / 16) * 8;
      const bf16* k_at = Ks + (c * 16 + lane % 8 + (lane / 16) * 8) * L.ldk + ((lane / 8) % 2) * 8;
#pragma unroll
      for (int kk = 0; kk < DT * 8; kk += 32) {
        if (kk >= L.dk) break;
        uint32_t qa[4], kb[4];
        ldmatrix_x4(qa, q_at + kk);
        ldmatrix_x4(kb, k_at + kk);
        mma_bf16(s[0], qa, kb[0], kb[1]);
        mma_bf16(s[1], qa, kb[2], kb[3]);
        if (kk + 16 < L.dk) {
          ldmatrix_x4(qa, q_at + kk + 16);
          ldmatrix_x4(kb, k_at + kk + 16);
          mma_bf16(s_odd[0], qa, kb[0], kb[1]);
          mma_bf16(s_odd[1], qa, kb[2], kb[3]);
        }
      }
#pragma unroll
      for (int n = 0; n < 2; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) s[n][e] += s_odd[n][e];
      if (c * 16 + 16 > keys) {  // the tile's last keys: those past its end out of the max and the sums
#pragma unroll
        for (int n = 0; n < 2; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e)
            if (c * 16 + n * 8 + 2 * t4 + (e & 1) >= keys) s[n][e] = -INFINITY;
      }
      // Online softmax (base 2) of rows g (elements 0, 1) and g + 8 (2, 3); the four lanes of a quad share a row.
      float mt[2] = {fmaxf(fmaxf(s[0][0], s[0][1]), fmaxf(s[1][0], s[1][1])),
                     fmaxf(fmaxf(s[0][2], s[0][3]), fmaxf(s[1][2], s[1][3]))};
      float alpha[2];
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const float m_new = fmaxf(m_run[r], quad_max(mt[r]) * scale);
        const float base = m_new == -INFINITY ? 0.f : m_new;  // no key yet: every probability below is 0
        alpha[r] = fast_exp2(m_run[r] - base);
        m_run[r] = m_new;
        mt[r] = base;
      }
      float p[2][4];
#pragma unroll
      for (int n = 0; n < 2; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) p[n][e] = fast_exp2(fmaf(s[n][e], scale, -mt[e / 2]));
#pragma unroll
      for (int r = 0; r < 2; ++r)
        l_run[r] = l_run[r] * alpha[r] + p[0][2 * r] + p[0][2 * r + 1] + p[1][2 * r] + p[1][2 * r + 1];
      // The output is rescaled only when a row's max moved (alpha != 1): after the first keys, seldom.
      if (__any_sync(0xffffffffu, alpha[0] != 1.f || alpha[1] != 1.f)) {
#pragma unroll
        for (int n = 0; n < DT; ++n) {
          o[n][0] *= alpha[0], o[n][1] *= alpha[0];
          o[n][2] *= alpha[1], o[n][3] *= alpha[1];
        }
      }
      // O += P V: the scores' accumulator layout is the A operand's (keys 2t, 2t+1 of block 0; 2t+8.. of block 1).
      const uint32_t pa[4] = {pack_bf16(p[0][0], p[0][1]), pack_bf16(p[0][2], p[0][3]), pack_bf16(p[1][0], p[1][1]),
                              pack_bf16(p[1][2], p[1][3])};
#pragma unroll
      for (int n = 0; n < DT; n += 2) {
        if (n * 8 >= L.dv) break;
        uint32_t vb[4];
        ldmatrix_x4_trans(vb, Vs + (c * 16 + lane % 8 + ((lane / 8) % 2) * 8) * L.ldv + n * 8 + (lane / 16) * 8);
        mma_bf16(o[n], pa, vb[0], vb[1]);
        mma_bf16(o[n + 1], pa, vb[2], vb[3]);
      }
    }
    __syncthreads();  // stage t % kStages is free for tile t + kStages
  }
  __pipeline_wait_prior(0);
  __syncthreads();

  // Each warp's output, max and sum into the ring's memory (rows of real queries only: multi-query greedy's block is
  // half padding); then a thread per 8 output values merges a block's warps.
  float* ends = reinterpret_cast<float*>(smem + L.ring_off);
  float* stats = ends + kWarps * 16 * L.ldo;  // per warp: [16] max, [16] sum
  float* ow = ends + warp * 16 * L.ldo;       // [16, ldo] (ldo even: 8-byte aligned pairs)
  float* mw = stats + warp * 32;
  if (active) {
    const bool lo_real = mb * 16 + g < L.queries, hi_real = mb * 16 + g + 8 < L.queries;
#pragma unroll
    for (int n = 0; n < DT; ++n) {
      if (n * 8 >= L.dv) break;
      if (lo_real) *reinterpret_cast<float2*>(ow + g * L.ldo + n * 8 + 2 * t4) = make_float2(o[n][0], o[n][1]);
      if (hi_real) *reinterpret_cast<float2*>(ow + (g + 8) * L.ldo + n * 8 + 2 * t4) = make_float2(o[n][2], o[n][3]);
    }
    const float l0 = quad_sum(l_run[0]), l1 = quad_sum(l_run[1]);
    if (t4 == 0) {
      mw[g] = m_run[0], mw[g + 8] = m_run[1];
      mw[16 + g] = l0, mw[16 + g + 8] = l1;
    }
  }
  __syncthreads();
  for (int e = tid; e < L.queries * vchunks; e += kThreads) {
    const int qi = dv.vchunks.div(e), vc = e - qi * vchunks, r = qi % 16, w0 = (qi / 16) * L.key_groups;
    float mx = -INFINITY;
    for (int k = 0; k < L.key_groups; ++k) mx = fmaxf(mx, stats[(w0 + k) * 32 + r]);
    float v[kVec] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f}, total = 0.f;
    for (int k = 0; k < L.key_groups; ++k) {
      const float* mk = stats + (w0 + k) * 32;
      if (mk[r] == -INFINITY) continue;
      const float w = exp2f(mk[r] - mx);
      total += w * mk[16 + r];
      const float4* src = reinterpret_cast<const float4*>(ends + (w0 + k) * 16 * L.ldo + r * L.ldo + vc * kVec);
      const float4 x0 = src[0], x1 = src[1];  // (ldo a multiple of 4: 16-byte aligned)
      v[0] += w * x0.x, v[1] += w * x0.y, v[2] += w * x0.z, v[3] += w * x0.w;
      v[4] += w * x1.x, v[5] += w * x1.y, v[6] += w * x1.z, v[7] += w * x1.w;
    }
    emit_chunk(a, query_index(a, dv.group, b, j, qi), split, splits, vc, v, mx, total);
  }
  if (splits > 1 && a.tickets) merge_if_last(a, dv, b, j, L.queries, splits, reinterpret_cast<float*>(smem));
}

template <int DT>
void launch_tensor_core(const DecodeAttentionArgs& a, const TensorCoreLayout& L, const Divisors& dv,
                        cudaStream_t stream) {
  // Dynamic shared memory above 48 KB needs the kernel's consent: given once, before any graph capture.
  static const bool opted_in =
      cudaFuncSetAttribute(tensor_core_kernel<DT>, cudaFuncAttributeMaxDynamicSharedMemorySize, 200 * 1024) ==
      cudaSuccess;
  (void)opted_in;
  const dim3 grid(static_cast<unsigned>(a.kv_rows * a.kv_heads), static_cast<unsigned>(a.splits));
  tensor_core_kernel<DT><<<grid, kThreads, L.bytes, stream>>>(a, L, dv);
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
__global__ void __launch_bounds__(kThreads) few_queries_kernel(const DecodeAttentionArgs a, int queries, int qsplit,
                                                             const Divisors dv) {
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
  Share share;
  if (!share_of(a, b, split, share)) return;
  const int splits = share.splits;
  const int64_t s_lo = share.lo, s_hi = share.hi, newest = share.newest;
  const HardwareDivisor group{a.heads / a.kv_heads};  // (not dv.group: see query_index)
  write_newest(a, b, j, split);

  // Query qi's row and head: query_index.
  const float qscale = a.scale * kLog2e;
  const bf16* Q = static_cast<const bf16*>(a.q);
  for (int idx = threadIdx.x; idx < queries * a.d_k; idx += kThreads) {
    const int qi = idx / a.d_k, d = idx % a.d_k;
    const QueryIndex q = query_index(a, group, b, j, qi);
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
    emit_chunk(a, query_index(a, group, b, j, qi), split, splits, ch % vchunks, v, m[qi], l[qi]);
  };
  if (lanes == 1) {
#pragma unroll
    for (int c = 0; c < CPT; ++c)
      if (threadIdx.x + c * kThreads < chunks) emit(threadIdx.x + c * kThreads, acc[c]);
  } else if (threadIdx.x < chunks) {
    emit(threadIdx.x, acc[0]);
  }
  if (splits > 1 && a.tickets) merge_if_last(a, dv, b, j, queries, splits, reinterpret_cast<float*>(smem4));
}

// Merges the splits' partials of key/value row and head blockIdx.x (when no tickets were given): `queries` per CTA.
__global__ void combine_kernel(const DecodeAttentionArgs a, int queries, const Divisors dv) {
  extern __shared__ float weights[];  // [queries, splits]
  const int b = dv.kv_heads.div(blockIdx.x), splits = active_splits(a, attended(a, b));
  if (splits > 1) merge_partials(a, dv, b, blockIdx.x - b * a.kv_heads, queries, splits, weights);  // (1: written)
}

template <int QPT>
void launch_few(const DecodeAttentionArgs& a, const FewPlan& p, const Divisors& dv, cudaStream_t stream) {
  // Fewer than 8 queries of at most 256 values: at most 128 chunks, one per thread (CPT 1).
  const dim3 grid(static_cast<unsigned>(a.kv_rows * a.kv_heads), static_cast<unsigned>(a.splits));
  few_queries_kernel<QPT, 1><<<grid, kThreads, p.smem, stream>>>(a, p.queries, p.qsplit, dv);
}

bool aligned_elements(int64_t stride) { return stride % kVec == 0; }

void launch_combine(const DecodeAttentionArgs& a, int queries, const Divisors& dv, cudaStream_t stream) {
  if (a.splits <= 1 || a.tickets) return;
  const size_t weights = sizeof(float) * static_cast<size_t>(queries) * a.splits;
  combine_kernel<<<static_cast<unsigned>(static_cast<int64_t>(a.kv_rows) * a.kv_heads), kThreads, weights, stream>>>(
      a, queries, dv);
}

// Queries per CTA from which the tensor-core kernel runs.
constexpr int kTensorCoreQueries = 8;

bool few_plan_fits(const FewPlan& p) { return p.cpt == 1 && p.smem <= 48 * 1024; }

// Whether the CUDA-core kernel runs: fewer than kTensorCoreQueries queries per CTA, or more without tensor cores
// (a.tensor_cores false) where its plan fits (one 8-value output chunk per thread: Q x d_v <= 1024).
bool cuda_core_kernel(const DecodeAttentionArgs& a) {
  const TensorCoreLayout L = tensor_core_layout_of(a);
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
    const TensorCoreLayout L = tensor_core_layout_of(a);
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
  // tensor-core kernel's layout reserves them, the CUDA-core kernel's key-lane sums alone take 1024 floats.
  const Divisors dv = divisors_of(a);  // once for the attention's launch and the merge's
  if (cuda_core_kernel(a)) {
    const FewPlan p = few_plan_of(a);
    switch (p.qpt) {
      case 1: launch_few<1>(a, p, dv, stream); break;
      case 2: launch_few<2>(a, p, dv, stream); break;
      default: launch_few<4>(a, p, dv, stream); break;
    }
    launch_combine(a, p.queries, dv, stream);
    return;
  }
  const TensorCoreLayout L = tensor_core_layout_of(a);
  switch (L.dt) {
    case 8: launch_tensor_core<8>(a, L, dv, stream); break;
    case 16: launch_tensor_core<16>(a, L, dv, stream); break;
    default: launch_tensor_core<32>(a, L, dv, stream); break;
  }
  launch_combine(a, L.queries, dv, stream);
}

}  // namespace mqa::kernels
