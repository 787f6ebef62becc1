// Layer norm weight and bias gradients (layer_norm_grad.h). Kernel 1: a block of 32 x 8 threads covers 256 columns
// (each thread 8 adjacent columns through 16-byte loads, a warp one 512-byte row segment) of one chunk of rows, the
// 8 thread rows taking every 8th row of the chunk; the 8 partial sums per column meet in shared memory and one
// sum per column and chunk goes to the workspace. Kernel 2 adds the chunks' sums per column: a block of 32 x 32
// threads covers 32 columns, its 32 thread rows taking every 32nd chunk, so that the few-MB workspace is read by
// ~1000 threads per 32 columns (one thread per column, each looping over all 1024 chunks in turn, took 200 us a call
// on an H100: as long as the first kernel's pass over the activations).
#include <algorithm>

#include "mqa/kernels/bf16_vector.cuh"
#include "mqa/kernels/layer_norm_grad.h"

namespace mqa::kernels {

namespace {

constexpr int kColThreads = 32;                   // threads along the columns: 32 x 8 = 256 columns a block
constexpr int kRowThreads = 8;                    // threads along the rows
constexpr int kBlockCols = kColThreads * kVec;    // 256
constexpr int64_t kMaxChunks = 512;               // chunks of rows (blockIdx.y): enough blocks to fill the GPU
constexpr int64_t kMinChunkRows = 64;
constexpr int kSumCols = 32;                      // kernel 2: columns a block (one warp's 128-byte row segment)
constexpr int kSumRows = 32;                      // kernel 2: thread rows a block, each summing every 32nd chunk

int64_t chunk_count(int64_t rows) { return std::max<int64_t>(1, std::min(kMaxChunks, rows / kMinChunkRows)); }

__global__ void __launch_bounds__(kColThreads * kRowThreads)
    partial_sums_kernel(const bf16* dy, const bf16* x, const float* mean, const float* rstd, int64_t rows,
                        int64_t cols, int64_t chunk_rows, float* dgamma_part, float* dbeta_part) {
  const int64_t col = (static_cast<int64_t>(blockIdx.x) * kColThreads + threadIdx.x) * kVec;
  const int64_t first = static_cast<int64_t>(blockIdx.y) * chunk_rows;
  const int64_t last = first + chunk_rows < rows ? first + chunk_rows : rows;
  float g[kVec] = {}, b[kVec] = {};
  if (col < cols) {
    for (int64_t r = first + threadIdx.y; r < last; r += kRowThreads) {
      float d[kVec], v[kVec];
      load8(dy + r * cols + col, d);
      load8(x + r * cols + col, v);
      const float m = mean[r], s = rstd[r];
#pragma unroll
      for (int e = 0; e < kVec; ++e) {
        g[e] += d[e] * (v[e] - m) * s;
        b[e] += d[e];
      }
    }
  }
  __shared__ float sg[kRowThreads][kBlockCols];
  __shared__ float sb[kRowThreads][kBlockCols];
#pragma unroll
  for (int e = 0; e < kVec; ++e) {
    sg[threadIdx.y][threadIdx.x * kVec + e] = g[e];
    sb[threadIdx.y][threadIdx.x * kVec + e] = b[e];
  }
  __syncthreads();
  // 256 threads, 256 columns: thread t sums column t of the block over the 8 thread rows.
  const int t = threadIdx.y * kColThreads + threadIdx.x;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kBlockCols + t;
  if (c < cols) {
    float sum_g = 0.f, sum_b = 0.f;
#pragma unroll
    for (int i = 0; i < kRowThreads; ++i) {
      sum_g += sg[i][t];
      sum_b += sb[i][t];
    }
    dgamma_part[blockIdx.y * cols + c] = sum_g;
    dbeta_part[blockIdx.y * cols + c] = sum_b;
  }
}

__global__ void __launch_bounds__(kSumCols * kSumRows)
    sum_chunks_kernel(const float* dgamma_part, const float* dbeta_part, int64_t chunks, int64_t cols, float* dgamma,
                      float* dbeta) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kSumCols + threadIdx.x;
  float g = 0.f, b = 0.f;
  if (c < cols) {
    for (int64_t i = threadIdx.y; i < chunks; i += kSumRows) {
      g += dgamma_part[i * cols + c];
      b += dbeta_part[i * cols + c];
    }
  }
  __shared__ float sg[kSumRows][kSumCols + 1];  // + 1: the column-wise reads below hit 32 different banks
  __shared__ float sb[kSumRows][kSumCols + 1];
  sg[threadIdx.y][threadIdx.x] = g;
  sb[threadIdx.y][threadIdx.x] = b;
  __syncthreads();
  // The first warp adds the 32 thread rows of its column, always in the same order: the same sums every run.
  if (threadIdx.y == 0 && c < cols) {
    float sum_g = 0.f, sum_b = 0.f;
#pragma unroll
    for (int i = 0; i < kSumRows; ++i) {
      sum_g += sg[i][threadIdx.x];
      sum_b += sb[i][threadIdx.x];
    }
    dgamma[c] = sum_g;
    dbeta[c] = sum_b;
  }
}

}  // namespace

bool layer_norm_weight_grad_supported(int64_t cols, const void* dy, const void* x) {
  return cols >= kVec && cols % kVec == 0 && aligned16(dy) && aligned16(x);
}

int64_t layer_norm_weight_grad_workspace(int64_t rows, int64_t cols) { return 2 * chunk_count(rows) * cols; }

void layer_norm_weight_grad(const void* dy, const void* x, const float* mean, const float* rstd, int64_t rows,
                            int64_t cols, float* workspace, float* dgamma, float* dbeta, cudaStream_t stream) {
  const int64_t chunks = chunk_count(rows);
  if (rows == 0) {
    cudaMemsetAsync(dgamma, 0, cols * sizeof(float), stream);
    cudaMemsetAsync(dbeta, 0, cols * sizeof(float), stream);
    return;
  }
  const int64_t chunk_rows = (rows + chunks - 1) / chunks;
  float* dgamma_part = workspace;
  float* dbeta_part = workspace + chunks * cols;
  const dim3 grid(static_cast<unsigned>((cols + kBlockCols - 1) / kBlockCols), static_cast<unsigned>(chunks));
  partial_sums_kernel<<<grid, dim3(kColThreads, kRowThreads), 0, stream>>>(
      static_cast<const bf16*>(dy), static_cast<const bf16*>(x), mean, rstd, rows, cols, chunk_rows, dgamma_part,
      dbeta_part);
  sum_chunks_kernel<<<static_cast<unsigned>((cols + kSumCols - 1) / kSumCols), dim3(kSumCols, kSumRows), 0, stream>>>(
      dgamma_part, dbeta_part, chunks, cols, dgamma, dbeta);
}

}  // namespace mqa::kernels
