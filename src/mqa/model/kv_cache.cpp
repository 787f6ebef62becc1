#include "mqa/model/kv_cache.h"

namespace mqa {

KVCache::KVCache(int64_t rows, int64_t kv_heads, int64_t max_len, int64_t d_k, int64_t d_v,
                 const torch::TensorOptions& opts)
    : k(torch::zeros({rows, kv_heads, max_len, d_k}, opts)), v(torch::zeros({rows, kv_heads, max_len, d_v}, opts)) {}

void KVCache::write(const torch::Tensor& pos, const torch::Tensor& k_new, const torch::Tensor& v_new) {
  // index_copy_ with a device index tensor: no host sync, and replayable inside a CUDA graph.
  k.index_copy_(2, pos, k_new.to(k.scalar_type()));
  v.index_copy_(2, pos, v_new.to(v.scalar_type()));
}

void KVCache::select_rows(const torch::Tensor& rows) {
  k = k.index_select(0, rows);
  v = v.index_select(0, rows);
}

void KVCache::select_rows_into(const torch::Tensor& rows, int64_t lo, int64_t hi) {
  TORCH_CHECK(rows.size(0) == k.size(0), "select_rows_into: expected ", k.size(0), " rows (one per cache row), got ",
              rows.size(0));
  TORCH_CHECK(0 <= lo && lo <= hi && hi <= max_len(), "select_rows_into: positions [", lo, ", ", hi,
              ") outside the cache of ", max_len());
  if (hi == lo) return;
  auto kp = k.narrow(2, lo, hi - lo), vp = v.narrow(2, lo, hi - lo);  // [N, g, hi-lo, d] views
  kp.copy_(kp.index_select(0, rows));  // index_select makes the gathered copy first: no aliasing in copy_
  vp.copy_(vp.index_select(0, rows));
}

}  // namespace mqa
