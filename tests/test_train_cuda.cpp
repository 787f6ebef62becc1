// CUDA-only checks of the training step's fused paths (skipped without a GPU; the 2.x code they cover is built
// only there): ATen's fused AdamW against LibTorch's AdamW, checkpoints moving between the two, the multi-tensor
// gradient clip, the chunked loss on bf16 logits, the bf16 residual stream, the layer-norm and ReLU-epilogue paths,
// and whole-sequence attention with folded query heads against the plain reference path, forward and backward, with
// no variant left to SDPA's math kernel.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <cmath>
#include <iostream>
#include <sstream>

#include "mqa/decode/decode_ops.h"
#include "mqa/model/transformer.h"
#include "mqa/train/autocast.h"
#include "mqa/train/checkpoint.h"
#include "mqa/train/fused_adamw.h"
#include "mqa/train/grad_clip.h"
#include "mqa/train/loss.h"
#include "mqa/train/optimizers.h"
#include "mqa/train/train_step.h"
#include "mqa/util/autocast_state.h"
#include "mqa/util/layer_norm_bf16.h"
#include "mqa/util/linear_relu.h"

#include "cuda_test_util.h"
#include "tiny_train_config.h"

namespace {

using mqa::test::relative_error;

// A seq2seq Transformer of small_cuda_config (cuda_test_util.h) on the GPU in training mode,
// initialised from `seed`, with a batch of 4 random 64-token sources (one padded from position 40) and targets.
struct CudaSeq2Seq {
  mqa::Transformer model;
  torch::Tensor src, tgt;
};
CudaSeq2Seq small_seq2seq_on_cuda(int heads, int kv_heads, int window, uint64_t seed) {
  auto c = mqa::test::small_cuda_config("seq2seq", heads, kv_heads, window);
  torch::manual_seed(seed);
  mqa::Transformer m(c, 1000, 0);
  m->to(torch::kCUDA);
  m->train();
  auto opts = torch::TensorOptions(torch::kCUDA).dtype(torch::kLong);
  auto src = torch::randint(4, 1000, {4, 64}, opts), tgt = torch::randint(4, 1000, {4, 64}, opts);
  src.narrow(1, 40, 24)[2].fill_(0);
  return {m, src, tgt};
}

class CudaTrain : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  }
};

std::vector<torch::Tensor> cuda_params(uint64_t seed) {
  torch::manual_seed(seed);
  std::vector<torch::Tensor> ps;
  const std::vector<std::vector<int64_t>> shapes = {{64, 32}, {32}, {1000, 16}, {3}};
  for (const auto& shape : shapes)
    ps.push_back(torch::randn(shape, torch::kCUDA).requires_grad_());
  return ps;
}

std::vector<torch::optim::OptimizerParamGroup> groups_of(const std::vector<torch::Tensor>& ps) {
  // matrices with weight decay, vectors without, as make_optimizer groups them
  auto decay = std::make_unique<torch::optim::AdamWOptions>(1e-2);
  decay->betas({0.9, 0.98}).eps(1e-9).weight_decay(0.01);
  auto none = std::make_unique<torch::optim::AdamWOptions>(1e-2);
  none->betas({0.9, 0.98}).eps(1e-9).weight_decay(0.0);
  std::vector<torch::optim::OptimizerParamGroup> g;
  g.emplace_back(std::vector<torch::Tensor>{ps[0], ps[2]}, std::move(decay));
  g.emplace_back(std::vector<torch::Tensor>{ps[1], ps[3]}, std::move(none));
  return g;
}

}  // namespace

// Five steps with the same gradients: the fused kernel's parameters equal LibTorch's AdamW's to fp32 rounding;
// then the fused optimizer's state, saved, loads into LibTorch's AdamW (and back), and both continue alike.
TEST_F(CudaTrain, FusedAdamWStepsLikeLibTorchsAdamWAndSharesItsCheckpoints) {
  if (!mqa::FusedAdamW::available(torch::kCUDA)) GTEST_SKIP() << "this LibTorch has no fused AdamW kernel";
  auto a = cuda_params(1), b = cuda_params(1);
  mqa::FusedAdamW fused(groups_of(a), torch::optim::AdamWOptions(1e-2));
  torch::optim::AdamW plain(groups_of(b), torch::optim::AdamWOptions(1e-2));
  auto step_both = [&](torch::optim::Optimizer& oa, std::vector<torch::Tensor>& pa, torch::optim::Optimizer& ob,
                       std::vector<torch::Tensor>& pb, uint64_t seed) {
    torch::manual_seed(seed);
    for (size_t i = 0; i < pa.size(); ++i) {
      auto g = torch::randn_like(pa[i]);
      pa[i].mutable_grad() = g.clone();
      pb[i].mutable_grad() = g.clone();
    }
    oa.step();
    ob.step();
  };
  for (int s = 0; s < 5; ++s) step_both(fused, a, plain, b, 100 + s);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_LT(relative_error(a[i], b[i]), 1e-6) << i;

  std::stringstream saved;
  {
    torch::serialize::OutputArchive archive;
    fused.save(archive);
    archive.save_to(saved);
  }
  auto c = std::vector<torch::Tensor>();
  for (auto& p : a) c.push_back(p.detach().clone().requires_grad_());
  torch::optim::AdamW resumed(groups_of(c), torch::optim::AdamWOptions(1e-2));
  {
    torch::serialize::InputArchive archive;
    archive.load_from(saved);
    resumed.load(archive);
  }
  for (int s = 0; s < 3; ++s) step_both(fused, a, resumed, c, 200 + s);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_LT(relative_error(a[i], c[i]), 1e-6) << i;
}

TEST_F(CudaTrain, MultiTensorClipEqualsPerParameterClip) {
  auto a = cuda_params(2), b = cuda_params(2);
  for (size_t i = 0; i < a.size(); ++i) {
    auto g = torch::randn_like(a[i]) * 10;
    a[i].mutable_grad() = g.clone();
    b[i].mutable_grad() = g.clone();
  }
  auto na = mqa::clip_grad_norm(a, 1.0, /*foreach=*/true), nb = mqa::clip_grad_norm(b, 1.0, /*foreach=*/false);
  EXPECT_LT(relative_error(na, nb), 1e-6);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_LT(relative_error(a[i].grad(), b[i].grad()), 1e-6) << i;
}

// train.bf16_residual on the GPU: the layer norms take bf16 in and give bf16 out through the CUDA kernel (bf16
// weights), and a forward and backward of the whole model agrees with autocast's fp32 stream to bf16 rounding.
TEST_F(CudaTrain, Bf16ResidualModelMatchesTheFp32StreamForwardAndBackward) {
  auto setup = small_seq2seq_on_cuda(8, 1, 0, 17);
  auto& m = setup.model;
  const auto &src = setup.src, &tgt = setup.tgt;
  auto run = [&](bool bf16_residual) {
    m->zero_grad();
    torch::Tensor logits, memory;
    {
      mqa::Autocast autocast(torch::kCUDA, torch::kBFloat16, bf16_residual);
      memory = m->encode(src).memory;
      logits = m->forward(src, tgt);
    }
    EXPECT_EQ(memory.scalar_type(), bf16_residual ? torch::kBFloat16 : torch::kFloat32);
    logits.to(torch::kFloat32).pow(2).mean().backward();
    std::vector<torch::Tensor> out{logits.detach()};
    for (auto& p : m->parameters()) out.push_back(p.grad().clone());
    return out;
  };
  auto fp32_stream = run(false);
  auto bf16_stream = run(true);
  EXPECT_LT(relative_error(bf16_stream[0], fp32_stream[0]), 3e-2) << "logits";
  for (size_t i = 1; i < fp32_stream.size(); ++i)
    EXPECT_LT(relative_error(bf16_stream[i], fp32_stream[i]), 1e-1) << "gradient " << i;
  EXPECT_FALSE(mqa::autocast_low_precision_residual());
}

// bf16 logits of a 32000-word vocabulary: chunks of 256 rows against the whole fp32 log-softmax.
TEST_F(CudaTrain, ChunkedLossOnBf16LogitsEqualsTheWholeFp32Computation) {
  torch::manual_seed(3);
  auto base = (torch::randn({4, 300, 32000}, torch::kCUDA) * 4).to(torch::kBFloat16);
  auto target = torch::randint(0, 32000, {4, 300}, torch::TensorOptions(torch::kCUDA).dtype(torch::kLong));
  target[3].narrow(0, 200, 100).fill_(0);
  auto whole_in = base.clone().requires_grad_(), chunk_in = base.clone().requires_grad_();
  auto whole = mqa::label_smoothed_loss(whole_in, target, 0, 0.1, 0);
  auto chunked = mqa::label_smoothed_loss(chunk_in, target, 0, 0.1, 256);
  EXPECT_LT(relative_error(chunked.loss, whole.loss), 1e-5);
  EXPECT_LT(relative_error(chunked.nll, whole.nll), 1e-5);
  whole.loss.backward();
  chunked.loss.backward();
  EXPECT_LT(relative_error(chunk_in.grad(), whole_in.grad()), 1e-2);
}

// The fused loss kernels (kernels/cross_entropy.h) against the LibTorch chunks they replace: the same loss and nll
// sums, and the same gradient with both sums in the backward (gl and gn of the kernel's formula), padded rows
// included; a vocabulary the kernels do not take (not a multiple of 8) falls back to the chunks.
TEST_F(CudaTrain, LossKernelsEqualTheLibTorchChunks) {
  if (!mqa::decode_ops::kernels_built()) GTEST_SKIP() << "built without the CUDA kernels";
  for (int64_t vocab : {32000, 1003}) {
    torch::manual_seed(5);
    auto base = (torch::randn({3, 200, vocab}, torch::kCUDA) * 4).to(torch::kBFloat16);
    auto target = torch::randint(0, vocab, {3, 200}, torch::TensorOptions(torch::kCUDA).dtype(torch::kLong));
    target[2].narrow(0, 150, 50).fill_(0);
    auto run = [&](bool kernels) {
      mqa::set_loss_kernels_enabled(kernels);
      auto in = base.clone().requires_grad_();
      auto sums = mqa::label_smoothed_loss(in, target, 0, 0.1, 256);
      (sums.loss * 0.7 + sums.nll * 0.3).backward();
      mqa::set_loss_kernels_enabled(true);
      return std::vector<torch::Tensor>{sums.loss.detach(), sums.nll.detach(), in.grad()};
    };
    auto fused = run(true), chunks = run(false);
    EXPECT_LT(relative_error(fused[0], chunks[0]), 1e-5) << "loss, vocab " << vocab;
    EXPECT_LT(relative_error(fused[1], chunks[1]), 1e-5) << "nll, vocab " << vocab;
    EXPECT_LT(relative_error(fused[2], chunks[2]), 1e-2) << "gradient, vocab " << vocab;
    std::cout << "  vocab " << vocab << ": max |fused - chunks| of the gradient "
              << (fused[2].to(torch::kFloat32) - chunks[2].to(torch::kFloat32)).abs().max().item<float>() << "\n";
  }
}

// The layer norm of the bf16 residual stream with its weight and bias gradients on kernels/layer_norm_grad.h,
// against LibTorch's layer norm (GammaBetaBackward): the same output and input gradient (the same LibTorch ops),
// and weight and bias gradients that both stay within bf16 rounding of the fp32 sums (the kernel sums in fp32 and
// rounds once); a width the kernel does not take (not a multiple of 8) falls back to LibTorch.
TEST_F(CudaTrain, LayerNormWeightGradKernelEqualsLibTorch) {
  if (!mqa::decode_ops::kernels_built()) GTEST_SKIP() << "built without the CUDA kernels";
  // [4 x 333 rows, d]: 20 chunks of rows; [40 x 1000, 1024]: the most chunks (512), 16 for each thread row of the
  // second kernel.
  for (auto [batch, d] : {std::pair<int64_t, int64_t>{4, 1024}, {4, 520}, {4, 1020}, {40, 1024}}) {
    torch::manual_seed(9);
    auto opts = torch::TensorOptions(torch::kCUDA).dtype(torch::kBFloat16);
    const int64_t len = batch == 4 ? 333 : 1000;
    auto x0 = torch::randn({batch, len, d}, opts) * 3 + 1, dy = torch::randn({batch, len, d}, opts);
    auto w0 = torch::randn({d}, opts), b0 = torch::randn({d}, opts);
    auto run = [&](bool kernel) {
      mqa::set_layer_norm_kernels_enabled(kernel);
      auto x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_(), b = b0.clone().requires_grad_();
      auto y = mqa::layer_norm_bf16(x, w, b, 1e-5);
      y.backward(dy);
      mqa::set_layer_norm_kernels_enabled(true);
      return std::vector<torch::Tensor>{y.detach(), x.grad(), w.grad(), b.grad()};
    };
    auto ours = run(true), libtorch = run(false);
    EXPECT_TRUE(torch::equal(ours[0], libtorch[0])) << "output, d " << d << ", rows " << batch * len;
    EXPECT_TRUE(torch::equal(ours[1], libtorch[1])) << "input gradient, d " << d << ", rows " << batch * len;
    // The fp32 sums: dgamma = sum dy * (x - mean) * rstd, dbeta = sum dy over the rows.
    auto xf = x0.to(torch::kFloat32).reshape({-1, d}), dyf = dy.to(torch::kFloat32).reshape({-1, d});
    auto mean = xf.mean(1, true), rstd = (xf.var(1, false, true) + 1e-5).rsqrt();
    auto dgamma = (dyf * (xf - mean) * rstd).sum(0), dbeta = dyf.sum(0);
    for (int i : {2, 3}) {
      const auto& ref = i == 2 ? dgamma : dbeta;
      EXPECT_LT(relative_error(ours[i].to(torch::kFloat32), ref), 1e-2) << "ours, gradient " << i << ", d " << d
                                                                       << ", rows " << batch * len;
      EXPECT_LT(relative_error(libtorch[i].to(torch::kFloat32), ref), 1e-2) << "LibTorch, gradient " << i << ", d " << d
                                                                           << ", rows " << batch * len;
      std::cout << "  rows " << batch * len << ", d " << d << (i == 2 ? " weight" : " bias")
                << " gradient: max |ours - fp32| "
                << (ours[i].to(torch::kFloat32) - ref).abs().max().item<float>() << ", max |LibTorch - fp32| "
                << (libtorch[i].to(torch::kFloat32) - ref).abs().max().item<float>() << "\n";
    }
  }
}

// The feed-forward layer's first half with the ReLU in the GEMM's epilogue (util/linear_relu.h) against ReLU after
// LibTorch's linear, in bf16: output and the three gradients within bf16 rounding (the two may run different GEMM
// kernels), the same zeros where neither is near 0, and the fused path taken on this GPU.
TEST_F(CudaTrain, ReluEpilogueEqualsReluAfterLinear) {
  torch::manual_seed(11);
  auto opts = torch::TensorOptions(torch::kCUDA).dtype(torch::kBFloat16);
  auto x0 = torch::randn({4, 333, 256}, opts), w0 = torch::randn({1000, 256}, opts) * 0.06;
  auto b0 = torch::randn({1000}, opts) * 0.1, dy = torch::randn({4, 333, 1000}, opts);
  auto run = [&](bool fused) {
    mqa::set_relu_epilogue_enabled(fused);
    auto x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_(), b = b0.clone().requires_grad_();
    EXPECT_EQ(mqa::linear_relu_fused(x, w, b), fused && TORCH_VERSION_MAJOR >= 2);
    auto y = mqa::linear_relu(x, w, b);
    y.backward(dy);
    mqa::set_relu_epilogue_enabled(true);
    return std::vector<torch::Tensor>{y.detach(), x.grad(), w.grad(), b.grad()};
  };
  auto fused = run(true), plain = run(false);
  const char* what[] = {"output", "input gradient", "weight gradient", "bias gradient"};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(fused[i].sizes(), plain[i].sizes()) << what[i];
    EXPECT_LT(relative_error(fused[i].to(torch::kFloat32), plain[i].to(torch::kFloat32)), 1e-2) << what[i];
  }
  EXPECT_GE(fused[0].min().item<float>(), 0.f);
  auto clear = plain[0].to(torch::kFloat32).abs() > 0.05;  // away from the kink, both agree on which units are off
  EXPECT_TRUE(torch::equal((fused[0] > 0).masked_select(clear), (plain[0] > 0).masked_select(clear)));
}

namespace {

struct AttentionVariant {
  const char* name;
  int heads, kv_heads, window;
};
const AttentionVariant kAttentionVariants[] = {
    {"mha", 8, 8, 0}, {"mqa", 8, 1, 0}, {"gqa", 8, 2, 0}, {"mha_local", 8, 8, 5}, {"mqa_local", 8, 1, 5}};

}  // namespace

class CudaFoldedAttention : public ::testing::TestWithParam<AttentionVariant> {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  }
};

// One training forward and backward of a seq2seq model (padded sources) under bf16 autocast: the fused path with
// folded query heads (with a GEMM per attention projection, and with one per input) against the plain reference
// path -- logits and every parameter's gradient within bf16 rounding -- and no attention call of the fused path on
// SDPA's math kernel.
TEST_P(CudaFoldedAttention, TrainingForwardAndBackwardMatchThePlainPathOnFusedKernels) {
  const auto& v = GetParam();
  auto setup = small_seq2seq_on_cuda(v.heads, v.kv_heads, v.window, 13);
  auto& m = setup.model;
  const auto &src = setup.src, &tgt = setup.tgt;
  auto run = [&](bool sdpa, bool fold) {
    mqa::AttentionImpl::set_use_sdpa(sdpa);
    mqa::AttentionImpl::set_fold_query_heads_enabled(fold);
    m->zero_grad();
    torch::Tensor logits;
    {
      mqa::Autocast autocast(torch::kCUDA, torch::kBFloat16);
      logits = m->forward(src, tgt);
    }
    logits.to(torch::kFloat32).pow(2).mean().backward();
    std::vector<torch::Tensor> grads{logits.detach()};
    for (auto& p : m->parameters()) grads.push_back(p.grad().clone());
    return grads;
  };
  auto plain = run(false, true);
  // The fused path with a GEMM per projection, then (the default) one per input: both against the plain path.
  mqa::AttentionImpl::set_fused_projections_enabled(false);
  auto per_projection = run(true, true);
  mqa::AttentionImpl::set_fused_projections_enabled(true);
  mqa::AttentionImpl::set_record_kernels(true);
  auto folded = run(true, true);
  mqa::AttentionImpl::set_record_kernels(false);
  auto kernels = mqa::AttentionImpl::recorded_kernels();
  mqa::AttentionImpl::set_use_sdpa(true);
  for (const auto* path : {&per_projection, &folded}) {
    const char* name = path == &folded ? "one GEMM per input" : "one GEMM per projection";
    EXPECT_LT(relative_error((*path)[0], plain[0]), 3e-2) << name << ": logits";
    for (size_t i = 1; i < plain.size(); ++i)
      EXPECT_LT(relative_error((*path)[i], plain[i]), 5e-2) << name << ": gradient " << i;
  }
  ASSERT_FALSE(kernels.empty());
  for (const auto& [what, n] : kernels) {
    std::cout << "  " << v.name << ": " << n << " x " << what << "\n";
    EXPECT_EQ(what.find(": math"), std::string::npos) << what;
    EXPECT_EQ(what.find(": plain"), std::string::npos) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, CudaFoldedAttention, ::testing::ValuesIn(kAttentionVariants),
                         [](const auto& info) { return std::string(info.param.name); });

// The trainer's batches come from the host (copied up through pinned memory); the benchmark makes its batches on the
// GPU. Both must work and give the same step: pinning a tensor that is already on the device is an error
// ("only dense CPU tensors can be pinned"), which once broke `mqa bench train` on CUDA.
TEST_F(CudaTrain, StepTakesBatchesFromTheHostOrAlreadyOnTheDevice) {
  auto c = mqa::test::tiny_config({"model.dropout=0", "train.device=cuda"});
  torch::manual_seed(3);
  mqa::Batch host;
  host.src = torch::randint(4, 30, {3, 6}, torch::kLong);
  host.tgt_out = torch::randint(4, 30, {3, 5}, torch::kLong);
  host.tgt_in = torch::cat({torch::full({3, 1}, 2, torch::kLong), host.tgt_out.narrow(1, 0, 4)}, 1);
  host.tgt_tokens = host.tgt_out.numel();
  mqa::Batch on_device = host;
  on_device.src = host.src.to(torch::kCUDA);
  on_device.tgt_in = host.tgt_in.to(torch::kCUDA);
  on_device.tgt_out = host.tgt_out.to(torch::kCUDA);
  std::vector<double> losses;
  for (const auto* batch : {&host, &on_device}) {
    torch::manual_seed(7);
    auto model = mqa::build_model(c.config, 30, 0);
    model->to(torch::kCUDA);
    auto opt = mqa::make_optimizer(c.config.train, model->parameters());
    mqa::TrainStep step(model, *opt, c.config.train, torch::kCUDA, torch::kBFloat16, nullptr);
    auto sums = step.compute_gradients({*batch}, batch->tgt_tokens);
    losses.push_back(sums.loss.item<double>());
  }
  EXPECT_TRUE(std::isfinite(losses[0]));
  EXPECT_EQ(losses[0], losses[1]) << "the same batch, wherever it starts, gives the same step";
}
