// cuBLASLt is column-major: a row-major [r, c] tensor is its column-major [c, r]. So the row-major products of
// relu_gemm.h are computed transposed, with d_ff as cuBLASLt's m (the rows its bias vector and mask run along):
//   forward   h^T [d_ff, rows] = op_T(W1 as [d, d_ff]) x (x^T [d, rows])          epilogue RELU_AUX_BIAS
//   backward  dpre^T [d_ff, rows] = (W2 as [d_ff, d]) x (g^T [d, rows])          epilogue DRELU_BGRAD
// (the layouts Transformer Engine uses for its GELU variant of the same fusion).
#include <cublasLt.h>

#include <cstdint>
#include <mutex>
#include <utility>

#include "mqa/kernels/relu_gemm.h"

namespace mqa::kernels {

namespace {

cublasLtHandle_t handle() {  // one per process: mqa drives one GPU a process
  static cublasLtHandle_t h = nullptr;
  static std::once_flag once;
  std::call_once(once, [] { cublasLtCreate(&h); });
  return h;
}

uint32_t alignment_of(const void* p) {  // the largest power of two up to 256 dividing the address
  const auto address = reinterpret_cast<uintptr_t>(p);
  uint32_t alignment = 1;
  while (alignment < 256 && address % (2 * alignment) == 0) alignment *= 2;
  return alignment;
}

// C [m, n] (column-major, ldc m) = op(A) [m, k] x op(B) [k, n] with `epilogue`, bias/bias-gradient vector [m] and
// the ReLU mask (ld aux_ld bits); bf16 matrices, fp32 compute. False where cuBLASLt has no algorithm (or fails).
bool lt_matmul(cublasOperation_t op_a, cublasOperation_t op_b, int64_t m, int64_t n, int64_t k, const void* a,
               int64_t lda, const void* b, int64_t ldb, void* c, cublasLtEpilogue_t epilogue, const void* bias,
               const void* aux, int64_t aux_ld, void* workspace, cudaStream_t stream) {
  cublasLtHandle_t h = handle();
  if (h == nullptr) return false;
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, lc = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  bool ok = cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F) == CUBLAS_STATUS_SUCCESS;
  auto set = [&](cublasLtMatmulDescAttributes_t attr, const void* value, size_t size) {
    ok = ok && cublasLtMatmulDescSetAttribute(desc, attr, value, size) == CUBLAS_STATUS_SUCCESS;
  };
  set(CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a));
  set(CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b));
  set(CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue));
  set(CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias));
  set(CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &aux, sizeof(aux));
  set(CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &aux_ld, sizeof(aux_ld));
  const bool ta = op_a == CUBLAS_OP_T, tb = op_b == CUBLAS_OP_T;
  ok = ok && cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, ta ? k : m, ta ? m : k, lda) == CUBLAS_STATUS_SUCCESS;
  ok = ok && cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, tb ? n : k, tb ? k : n, ldb) == CUBLAS_STATUS_SUCCESS;
  ok = ok && cublasLtMatrixLayoutCreate(&lc, CUDA_R_16BF, m, n, m) == CUBLAS_STATUS_SUCCESS;
  ok = ok && cublasLtMatmulPreferenceCreate(&pref) == CUBLAS_STATUS_SUCCESS;
  const size_t ws = kReluGemmWorkspace;
  ok = ok && cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)) ==
                 CUBLAS_STATUS_SUCCESS;
  // The heuristic assumes 256-byte aligned matrices unless told otherwise (as LibTorch tells it for its own calls).
  const std::pair<cublasLtMatmulPreferenceAttributes_t, const void*> aligned[] = {
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, a}, {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, b},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, c}, {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, c}};
  for (const auto& [attr, ptr] : aligned) {
    const uint32_t alignment = alignment_of(ptr);
    ok = ok && cublasLtMatmulPreferenceSetAttribute(pref, attr, &alignment, sizeof(alignment)) == CUBLAS_STATUS_SUCCESS;
  }
  cublasLtMatmulHeuristicResult_t heuristic{};
  int found = 0;
  ok = ok && cublasLtMatmulAlgoGetHeuristic(h, desc, la, lb, lc, lc, pref, 1, &heuristic, &found) ==
                 CUBLAS_STATUS_SUCCESS && found > 0;
  const float alpha = 1.f, beta = 0.f;
  ok = ok && cublasLtMatmul(h, desc, &alpha, a, la, b, lb, &beta, c, lc, c, lc, &heuristic.algo, workspace, ws,
                            stream) == CUBLAS_STATUS_SUCCESS;
  if (pref) cublasLtMatmulPreferenceDestroy(pref);
  if (lc) cublasLtMatrixLayoutDestroy(lc);
  if (lb) cublasLtMatrixLayoutDestroy(lb);
  if (la) cublasLtMatrixLayoutDestroy(la);
  if (desc) cublasLtMatmulDescDestroy(desc);
  return ok;
}

}  // namespace

int64_t relu_mask_ld(int64_t d_ff) { return (d_ff + 127) / 128 * 128; }
int64_t relu_mask_bytes(int64_t rows, int64_t d_ff) { return relu_mask_ld(d_ff) / 8 * rows; }

bool gemm_bias_relu_mask(const void* x, const void* w1, const void* b1, void* h, void* mask, int64_t rows, int64_t d,
                         int64_t d_ff, void* workspace, cudaStream_t stream) {
  return lt_matmul(CUBLAS_OP_T, CUBLAS_OP_N, d_ff, rows, d, w1, d, x, d, h, CUBLASLT_EPILOGUE_RELU_AUX_BIAS, b1, mask,
                   relu_mask_ld(d_ff), workspace, stream);
}

bool gemm_relu_grad_bias_grad(const void* g, const void* w2, const void* mask, void* dpre, void* db1, int64_t rows,
                              int64_t d, int64_t d_ff, void* workspace, cudaStream_t stream) {
  return lt_matmul(CUBLAS_OP_N, CUBLAS_OP_N, d_ff, rows, d, w2, d_ff, g, d, dpre, CUBLASLT_EPILOGUE_DRELU_BGRAD, db1,
                   mask, relu_mask_ld(d_ff), workspace, stream);
}

}  // namespace mqa::kernels
