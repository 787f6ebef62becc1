// CUDA-only model checks (skipped on CPU builds and machines): the bf16 decode engine (kernel path) against the full
// forward, and
// LibTorch 2's fused scaled_dot_product_attention path against the plain reference path.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "mqa/decode/engine.h"
#include "mqa/model/transformer.h"

#include "cuda_test_util.h"

namespace {

using mqa::test::relative_error;

using mqa::test::small_cuda_config;

struct CudaVariant {
  const char* name;
  int heads, kv_heads, window;
};
const CudaVariant kCudaVariants[] = {{"mha", 8, 8, 0}, {"mqa", 8, 1, 0}, {"gqa", 8, 2, 0}, {"mqa_local", 8, 1, 5}};

}  // namespace

class CudaModel : public ::testing::TestWithParam<CudaVariant> {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  }
};

TEST_P(CudaModel, Bf16CachedDecodingMatchesFullForward) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(11);
  const auto& v = GetParam();
  mqa::Transformer m(small_cuda_config("seq2seq", v.heads, v.kv_heads, v.window), 1000, 0);
  m->to(torch::kCUDA, torch::kBFloat16);
  m->eval();
  auto opts = torch::TensorOptions(torch::kCUDA).dtype(torch::kLong);
  auto src = torch::randint(4, 1000, {4, 40}, opts), tgt = torch::randint(4, 1000, {4, 30}, opts);
  src.narrow(1, 30, 10)[1].fill_(0);  // a padded source
  auto full = m->forward(src, tgt);
  mqa::DecodeEngine e(m, mqa::engine_options(torch::kBFloat16));
  EXPECT_TRUE(e.kernel_path());
  mqa::DecodeBatch batch;
  e.start_sources(batch, src, 1, 30, 2, false);
  std::vector<torch::Tensor> steps;
  for (int64_t t = 0; t < 30; ++t) {
    batch.tokens.copy_(tgt.select(1, t));
    steps.push_back(e.step(batch));
    e.advance(batch);
  }
  // bf16 has 8 bits of mantissa; different summation orders of the two paths differ by ~1e-2 relative.
  EXPECT_LT(relative_error(torch::stack(steps, 1), full), 3e-2);
}

TEST_P(CudaModel, FusedAttentionMatchesPlainPath) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(12);
  const auto& v = GetParam();
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    for (const char* type : {"seq2seq", "lm"}) {
      mqa::Transformer m(small_cuda_config(type, v.heads, v.kv_heads, v.window), 1000, 0);
      m->to(torch::kCUDA, dtype);
      m->eval();
      auto opts = torch::TensorOptions(torch::kCUDA).dtype(torch::kLong);
      auto src = torch::randint(4, 1000, {3, 50}, opts), tgt = torch::randint(4, 1000, {3, 64}, opts);
      src.narrow(1, 20, 30)[2].fill_(0);
      mqa::AttentionImpl::set_use_sdpa(false);
      auto plain = m->forward(src, tgt);
      mqa::AttentionImpl::set_use_sdpa(true);
      auto fused = m->forward(src, tgt);
      EXPECT_LT(relative_error(fused, plain), dtype == torch::kFloat32 ? 1e-3 : 3e-2) << type;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, CudaModel, ::testing::ValuesIn(kCudaVariants),
                         [](const auto& info) { return std::string(info.param.name); });
