// Decode attention (decode_kernels.h): one query position per row over a bf16 key/value cache, flash-decoding style,
// on the tensor cores.
//
// One CTA of 128 threads (4 warps) per (key/value row b, key/value head j, split s) holds the Q = rows_per_kv *
// heads/kv_heads queries that read this head (multi-query: all h heads, and in cross-attention all beams of the
// source), padded to blocks of 16 rows, and walks its share of the positions in tiles of 64 keys:
//   1. the tile's keys and values are copied into shared memory in one burst of 16-byte asynchronous copies (every
//      key and value vector is read from memory once, for all Q queries);
//   2. scores S = Q K^T on the tensor cores (WMMA 16x16x16, bf16 in, fp32 out);
//   3. online softmax per query (a warp per query, base 2), the probabilities P rounded to bf16;
//   4. O += P V on the tensor cores, O kept in shared memory in fp32 (rescaled per query between tiles).
// Head widths that are not a multiple of 16 are zero-padded in shared memory. With splits > 1 each CTA writes its
// unnormalised partial (max, sum, O) to the workspace and combine_kernel merges them; with one split the CTA writes
// the output itself.
#include <cuda_pipeline.h>
#include <mma.h>

#include <cmath>

#include "mqa/kernels/bf16_vector.cuh"
#include "mqa/kernels/decode_kernels.h"

namespace mqa::kernels {

namespace {

namespace wmma = nvcuda::wmma;

constexpr int kThreads = 128, kWarps = kThreads / 32;
constexpr int kTile = 64;        // keys per tile
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

  const int group = a.heads / a.kv_heads;
  const int b = blockIdx.x / a.kv_heads, j = blockIdx.x % a.kv_heads, split = blockIdx.y;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const bf16* K = static_cast<const bf16*>(a.k);
  const bf16* V = static_cast<const bf16*>(a.v);
  const bf16* k_new = static_cast<const bf16*>(a.k_new);
  const bf16* v_new = static_cast<const bf16*>(a.v_new);
  const Range range = attended(a, b);
  const int64_t len = range.hi > range.lo ? range.hi - range.lo : 0;
  const int64_t per_split = (len + a.splits - 1) / a.splits;
  const int64_t s_lo = range.lo + split * per_split;
  const int64_t s_hi = s_lo + per_split < range.hi ? s_lo + per_split : range.hi;
  const int64_t newest = a.pos ? a.pos[b] : -1;

  // The new position's key and value go into the cache (and its writer into the table); every CTA reads them from
  // k_new / v_new instead, so no CTA reads what this one writes.
  if (k_new && split == 0) {
    bf16* kd = static_cast<bf16*>(a.k) + b * a.k_row_stride + j * a.k_head_stride + newest * a.k_pos_stride;
    bf16* vd = static_cast<bf16*>(a.v) + b * a.v_row_stride + j * a.v_head_stride + newest * a.v_pos_stride;
    const bf16* ks = k_new + b * a.new_row_stride + j * a.d_k;
    const bf16* vs = v_new + b * a.new_row_stride + j * a.d_v;
    for (int e = tid * kVec; e < a.d_k; e += kThreads * kVec)
      *reinterpret_cast<uint4*>(kd + e) = *reinterpret_cast<const uint4*>(ks + e);
    for (int e = tid * kVec; e < a.d_v; e += kThreads * kVec)
      *reinterpret_cast<uint4*>(vd + e) = *reinterpret_cast<const uint4*>(vs + e);
    if (a.table && j == 0 && tid == 0) a.table[static_cast<int64_t>(b) * a.max_len + newest] = b;
  }

  // Zero everything once (padding rows and columns must read as zeros), then the queries: row qi = r * group + i
  // (row n = b * rows_per_kv + r, head i = j * group + i_local).
  {
    const uint4 zero = make_uint4(0, 0, 0, 0);
    uint4* all = reinterpret_cast<uint4*>(smem);
    for (size_t e = tid; e < L.ml_off / sizeof(uint4); e += kThreads) all[e] = zero;
  }
  __syncthreads();
  const bf16* Q = static_cast<const bf16*>(a.q);
  const int qchunks = a.d_k / kVec;
  for (int idx = tid; idx < L.queries * qchunks; idx += kThreads) {
    const int qi = idx / qchunks, c = idx % qchunks;
    const int64_t n = static_cast<int64_t>(b) * a.rows_per_kv + qi / group;
    const int i = j * group + qi % group;
    *reinterpret_cast<uint4*>(Qs + qi * L.ldq + c * kVec) =
        *reinterpret_cast<const uint4*>(Q + n * a.q_row_stride + static_cast<int64_t>(i) * a.d_k + c * kVec);
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
  const size_t nq = static_cast<size_t>(a.kv_rows) * a.rows_per_kv * a.heads;
  for (int e = tid; e < L.queries * vchunks; e += kThreads) {
    const int qi = e / vchunks, vc = e % vchunks;
    const int64_t n = static_cast<int64_t>(b) * a.rows_per_kv + qi / group;
    const int i = j * group + qi % group;
    const float* src = O + qi * L.ldo + vc * kVec;
    float v[kVec];
    if (a.splits == 1) {
      const float inv = l[qi] > 0.f ? 1.f / l[qi] : 0.f;
#pragma unroll
      for (int k = 0; k < kVec; ++k) v[k] = src[k] * inv;
      store8(static_cast<bf16*>(a.out) + n * a.out_row_stride + static_cast<int64_t>(i) * a.d_v + vc * kVec, v);
    } else {
      const size_t qg = static_cast<size_t>(n) * a.heads + i;
      float* w = a.workspace + (static_cast<size_t>(split) * nq + qg) * a.d_v + vc * kVec;
#pragma unroll
      for (int k = 0; k < kVec; ++k) w[k] = src[k];
      if (vc == 0) {
        float* ml = a.workspace + static_cast<size_t>(a.splits) * nq * a.d_v + (split * nq + qg) * 2;
        ml[0] = m[qi];
        ml[1] = l[qi];
      }
    }
  }
}

// Merges the splits' partials of query (n, i) = blockIdx.x: out = sum_s 2^(m_s - M) O_s / sum_s 2^(m_s - M) l_s.
__global__ void combine_kernel(const DecodeAttentionArgs a) {
  const size_t nq = static_cast<size_t>(a.kv_rows) * a.rows_per_kv * a.heads;
  const size_t qg = blockIdx.x;
  const float* ml = a.workspace + static_cast<size_t>(a.splits) * nq * a.d_v;
  float mx = -INFINITY;
  for (int s = 0; s < a.splits; ++s) mx = fmaxf(mx, ml[(s * nq + qg) * 2]);
  float total = 0.f;
  for (int s = 0; s < a.splits; ++s) {
    const float ms = ml[(s * nq + qg) * 2];
    total += ms == -INFINITY ? 0.f : exp2f(ms - mx) * ml[(s * nq + qg) * 2 + 1];
  }
  const int64_t n = static_cast<int64_t>(qg / a.heads);
  const int i = static_cast<int>(qg % a.heads);
  bf16* out = static_cast<bf16*>(a.out) + n * a.out_row_stride + static_cast<int64_t>(i) * a.d_v;
  for (int d = threadIdx.x; d < a.d_v; d += blockDim.x) {
    float o = 0.f;
    for (int s = 0; s < a.splits; ++s) {
      const float ms = ml[(s * nq + qg) * 2];
      if (ms != -INFINITY) o += exp2f(ms - mx) * a.workspace[(s * nq + qg) * a.d_v + d];
    }
    out[d] = __float2bfloat16_rn(total > 0.f ? o / total : 0.f);
  }
}

bool aligned_elements(int64_t stride) { return stride % kVec == 0; }

}  // namespace

bool decode_attention_supported(const DecodeAttentionArgs& a) {
  if (a.kv_heads <= 0 || a.heads % a.kv_heads != 0 || a.rows_per_kv <= 0 || a.kv_rows <= 0) return false;
  if (a.d_k % kVec != 0 || a.d_v % kVec != 0 || a.d_k > 256 || a.d_v > 256) return false;
  if ((a.pos == nullptr) == (a.lengths == nullptr)) return false;
  if (a.k_new && a.rows_per_kv != 1) return false;
  const Layout L = layout_of(a);
  if (L.queries > kMaxQueries || L.bytes > 200 * 1024) return false;
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
  const int64_t most = positions / kTile > 1 ? positions / kTile : 1;  // at least a tile a split
  int64_t s = want < most ? want : most;
  return static_cast<int>(s < 1 ? 1 : s > 64 ? 64 : s);
}

int64_t decode_attention_workspace_floats(const DecodeAttentionArgs& a) {
  if (a.splits <= 1) return 0;
  return static_cast<int64_t>(a.splits) * a.kv_rows * a.rows_per_kv * a.heads * (a.d_v + 2);
}

void decode_attention(const DecodeAttentionArgs& a, cudaStream_t stream) {
  const Layout L = layout_of(a);
  // Dynamic shared memory above 48 KB needs the kernel's consent: given once, before any graph capture.
  static const bool opted_in =
      cudaFuncSetAttribute(decode_attention_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 200 * 1024) ==
      cudaSuccess;
  (void)opted_in;
  const dim3 grid(static_cast<unsigned>(a.kv_rows * a.kv_heads), static_cast<unsigned>(a.splits));
  decode_attention_kernel<<<grid, kThreads, L.bytes, stream>>>(a, L);
  if (a.splits > 1) {
    const unsigned threads = a.d_v >= 128 ? 128 : 64;
    combine_kernel<<<static_cast<unsigned>(static_cast<int64_t>(a.kv_rows) * a.rows_per_kv * a.heads), threads, 0,
                     stream>>>(a);
  }
}

}  // namespace mqa::kernels
