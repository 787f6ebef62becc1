// Decode attention (decode_kernels.h): one query position per row over a bf16 key/value cache, flash-decoding style.
//
// One CTA of 128 threads per (key/value row b, key/value head j, split s). It holds the Q = rows_per_kv * heads/kv_heads
// queries that read this head (multi-query: all h heads, and in cross-attention all beams of the source) in shared
// memory and walks its share of the positions in tiles:
//   1. scores: a thread per key (and per group of up to QPT queries) reads the key once, 16 bytes at a time, and
//      dots it with its queries (broadcast from shared memory): every key is read from memory once for all Q queries;
//   2. online softmax per query (base 2: the queries are pre-scaled by log2(e)), one warp per query;
//   3. values: each thread owns 8 output elements of CPT query chunks (or, when there are fewer chunks than threads,
//      one chunk and every KL-th key of the tile, the KL partial sums added at the end), reading each value vector
//      once per tile from memory.
// With splits > 1 each CTA writes its unnormalised partial (max, sum, weighted values) to the workspace and
// combine_kernel merges them; with one split the CTA writes the output itself.
#include <cmath>

#include "mqa/kernels/bf16_vector.cuh"
#include "mqa/kernels/decode_kernels.h"

namespace mqa::kernels {

namespace {

constexpr int kThreads = 128;
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

// Launch geometry shared by the host checks and the launch.
struct Plan {
  int queries = 0;  // Q, per CTA
  int qpt = 1;      // queries per thread in the score phase (template)
  int qsplit = 1;   // groups of qpt queries (a power of two): keys per tile = kThreads / qsplit
  int cpt = 1;      // output chunks of 8 values per thread (template)
  size_t smem = 0;  // bytes of dynamic shared memory
};

Plan plan_of(const DecodeAttentionArgs& a) {
  Plan p;
  const int group = a.kv_heads > 0 ? a.heads / a.kv_heads : 0;
  p.queries = a.rows_per_kv * group;
  p.qpt = 1;
  while (p.qpt < p.queries && p.qpt < 16) p.qpt *= 2;
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
__global__ void __launch_bounds__(kThreads) decode_attention_kernel(const DecodeAttentionArgs a, int queries,
                                                                     int qsplit) {
  extern __shared__ float4 smem4[];
  const int kt = kThreads / qsplit;  // keys per tile
  const int group = a.heads / a.kv_heads;
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
  const Range range = attended(a, b);
  const int64_t len = range.hi > range.lo ? range.hi - range.lo : 0;
  const int64_t per_split = (len + a.splits - 1) / a.splits;
  const int64_t s_lo = range.lo + split * per_split;
  const int64_t s_hi = s_lo + per_split < range.hi ? s_lo + per_split : range.hi;
  const int64_t newest = a.pos ? a.pos[b] : -1;

  // The new position's key and value go into the cache; every CTA reads them from k_new / v_new instead, so no
  // CTA reads what this one writes.
  if (k_new && split == 0) {
    bf16* kd = static_cast<bf16*>(a.k) + b * a.k_row_stride + j * a.k_head_stride + newest * a.k_pos_stride;
    bf16* vd = static_cast<bf16*>(a.v) + b * a.v_row_stride + j * a.v_head_stride + newest * a.v_pos_stride;
    const bf16* ks = k_new + b * a.new_row_stride + j * a.d_k;
    const bf16* vs = v_new + b * a.new_row_stride + j * a.d_v;
    for (int e = threadIdx.x * kVec; e < a.d_k; e += kThreads * kVec)
      *reinterpret_cast<uint4*>(kd + e) = *reinterpret_cast<const uint4*>(ks + e);
    for (int e = threadIdx.x * kVec; e < a.d_v; e += kThreads * kVec)
      *reinterpret_cast<uint4*>(vd + e) = *reinterpret_cast<const uint4*>(vs + e);
    if (a.table && j == 0 && threadIdx.x == 0) a.table[static_cast<int64_t>(b) * a.max_len + newest] = b;
  }

  // Query qi = r * group + i_local: row n = b * rows_per_kv + r, head i = j * group + i_local.
  const float qscale = a.scale * kLog2e;
  const bf16* Q = static_cast<const bf16*>(a.q);
  for (int idx = threadIdx.x; idx < queries * a.d_k; idx += kThreads) {
    const int qi = idx / a.d_k, d = idx % a.d_k;
    const int64_t n = static_cast<int64_t>(b) * a.rows_per_kv + qi / group;
    const int i = j * group + qi % group;
    qs[idx] = __bfloat162float(Q[n * a.q_row_stride + static_cast<int64_t>(i) * a.d_k + d]) * qscale;
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

  const size_t nq = static_cast<size_t>(a.kv_rows) * a.rows_per_kv * a.heads;
  auto emit = [&](int ch, float(&v)[kVec]) {
    const int qi = ch / vchunks, vc = ch % vchunks;
    const int64_t n = static_cast<int64_t>(b) * a.rows_per_kv + qi / group;
    const int i = j * group + qi % group;
    if (a.splits == 1) {
      const float inv = l[qi] > 0.f ? 1.f / l[qi] : 0.f;
      float o[kVec];
#pragma unroll
      for (int e = 0; e < kVec; ++e) o[e] = v[e] * inv;
      store8(static_cast<bf16*>(a.out) + n * a.out_row_stride + static_cast<int64_t>(i) * a.d_v + vc * kVec, o);
    } else {
      const size_t qg = static_cast<size_t>(n) * a.heads + i;
      float* w = a.workspace + (static_cast<size_t>(split) * nq + qg) * a.d_v + vc * kVec;
#pragma unroll
      for (int e = 0; e < kVec; ++e) w[e] = v[e];
      if (vc == 0) {
        float* ml = a.workspace + static_cast<size_t>(a.splits) * nq * a.d_v + (split * nq + qg) * 2;
        ml[0] = m[qi];
        ml[1] = l[qi];
      }
    }
  };
  if (lanes == 1) {
#pragma unroll
    for (int c = 0; c < CPT; ++c)
      if (threadIdx.x + c * kThreads < chunks) emit(threadIdx.x + c * kThreads, acc[c]);
  } else if (threadIdx.x < chunks) {
    emit(threadIdx.x, acc[0]);
  }
}

// Merges the splits' partials of query (n, i) = blockIdx.x: out = sum_s 2^(m_s - M) acc_s / sum_s 2^(m_s - M) l_s.
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

template <int QPT>
void launch_qpt(const DecodeAttentionArgs& a, const Plan& p, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(a.kv_rows * a.kv_heads), static_cast<unsigned>(a.splits));
  switch (p.cpt) {
    case 1: decode_attention_kernel<QPT, 1><<<grid, kThreads, p.smem, stream>>>(a, p.queries, p.qsplit); break;
    case 2: decode_attention_kernel<QPT, 2><<<grid, kThreads, p.smem, stream>>>(a, p.queries, p.qsplit); break;
    case 4: decode_attention_kernel<QPT, 4><<<grid, kThreads, p.smem, stream>>>(a, p.queries, p.qsplit); break;
    default: decode_attention_kernel<QPT, 8><<<grid, kThreads, p.smem, stream>>>(a, p.queries, p.qsplit); break;
  }
}

bool aligned_elements(int64_t stride) { return stride % kVec == 0; }

}  // namespace

bool decode_attention_supported(const DecodeAttentionArgs& a) {
  if (a.kv_heads <= 0 || a.heads % a.kv_heads != 0 || a.rows_per_kv <= 0 || a.kv_rows <= 0) return false;
  if (a.d_k % kVec != 0 || a.d_v % kVec != 0 || a.d_k > 256 || a.d_v > 256) return false;
  if ((a.pos == nullptr) == (a.lengths == nullptr)) return false;
  if (a.k_new && a.rows_per_kv != 1) return false;
  const Plan p = plan_of(a);
  if (p.queries > 128 || p.qsplit > 8 || p.cpt > 8 || p.smem > 48 * 1024) return false;
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
  const int64_t want = (2LL * sms + ctas - 1) / ctas;  // enough CTAs for two per multiprocessor
  const int64_t most = positions / 128 > 1 ? positions / 128 : 1;  // at least 128 positions a split
  int64_t s = want < most ? want : most;
  return static_cast<int>(s < 1 ? 1 : s > 64 ? 64 : s);
}

int64_t decode_attention_workspace_floats(const DecodeAttentionArgs& a) {
  if (a.splits <= 1) return 0;
  return static_cast<int64_t>(a.splits) * a.kv_rows * a.rows_per_kv * a.heads * (a.d_v + 2);
}

void decode_attention(const DecodeAttentionArgs& a, cudaStream_t stream) {
  const Plan p = plan_of(a);
  switch (p.qpt) {
    case 1: launch_qpt<1>(a, p, stream); break;
    case 2: launch_qpt<2>(a, p, stream); break;
    case 4: launch_qpt<4>(a, p, stream); break;
    case 8: launch_qpt<8>(a, p, stream); break;
    default: launch_qpt<16>(a, p, stream); break;
  }
  if (a.splits > 1) {
    const unsigned threads = a.d_v >= 128 ? 128 : 64;
    combine_kernel<<<static_cast<unsigned>(static_cast<int64_t>(a.kv_rows) * a.rows_per_kv * a.heads), threads, 0,
                     stream>>>(a);
  }
}

}  // namespace mqa::kernels
