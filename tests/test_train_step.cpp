// The pieces of one optimizer step (train_step.h) on CPU: the bf16 weight copies kept for a whole step, the step
// itself under either weight-cast path, the multi-tensor gradient norm and clip, and the gradient reducer that
// all-reduces buckets while backward runs.
#include <gtest/gtest.h>

#include <cmath>

#include "mqa/config/config.h"
#include "mqa/model/transformer.h"
#include "mqa/train/autocast.h"
#include "mqa/train/checkpoint.h"
#include "mqa/train/grad_clip.h"
#include "mqa/train/gradient_reducer.h"
#include "mqa/train/optimizers.h"
#include "mqa/train/train_step.h"
#include "mqa/util/autocast_state.h"
#include "tiny_train_config.h"

using namespace mqa;

namespace {

// Batches of a tiny seq2seq task (random tokens, some right padding), fixed by `seed`.
std::vector<Batch> random_batches(int n, uint64_t seed, int64_t vocab) {
  torch::manual_seed(seed);
  std::vector<Batch> out;
  for (int i = 0; i < n; ++i) {
    Batch b;
    b.src = torch::randint(4, vocab, {3, 6}, torch::kLong);
    b.tgt_out = torch::randint(4, vocab, {3, 5}, torch::kLong);
    b.src[2].narrow(0, 4, 2).fill_(0);
    b.tgt_out[1].narrow(0, 3, 2).fill_(0);
    b.tgt_in = torch::cat({torch::full({3, 1}, 2, torch::kLong), b.tgt_out.narrow(1, 0, 4)}, 1);
    b.tgt_tokens = b.tgt_out.ne(0).sum().item<int64_t>();
    out.push_back(b);
  }
  return out;
}

// `steps` optimizer steps of the model `c` describes (initialised from seed 7) under bf16 autocast on CPU, two
// random batches a step (seeds 100, 101, ...), learning rate 3e-3: the losses, and the model after them.
std::pair<std::vector<double>, Transformer> bf16_steps(const LoadedConfig& c, int steps) {
  torch::manual_seed(7);
  auto model = build_model(c.config, 30, 0);
  auto opt = make_optimizer(c.config.train, model->parameters());
  TrainStep step(model, *opt, c.config.train, torch::kCPU, torch::kBFloat16, nullptr);
  std::vector<double> losses;
  for (int s = 0; s < steps; ++s) {
    auto batches = random_batches(2, 100 + s, 30);
    auto sums = step.compute_gradients(batches, batches[0].tgt_tokens + batches[1].tgt_tokens);
    step.update(3e-3);
    losses.push_back(sums.loss.item<double>());
  }
  return {losses, model};
}

}  // namespace

// Autocast keeps a bf16 copy of each fp32 weight while its outermost region is open (the model's linear layers
// take it through autocast_linear). Holding a WeightCastCache over two autocast regions (two batches of a step)
// makes the second reuse the first's copy: a change to the fp32 weight in between is not seen -- proof that the
// weight was cast once. After the cache goes (the step is over), the next region casts the changed weight
// afresh. Without the cache, each region casts again.
TEST(WeightCastCache, OneBf16CopyPerWeightAcrossTheBatchesOfAStep) {
  torch::manual_seed(1);
  torch::nn::Linear lin(8, 4);
  auto x = torch::randn({5, 8});
  auto forward = [&] {
    Autocast autocast(torch::kCPU, torch::kBFloat16);
    return autocast_linear(lin, x);
  };
  auto change_weight = [&] {  // as if an optimizer step had happened
    torch::NoGradGuard no_grad;
    lin->weight.add_(1.0);
  };
  torch::Tensor first, second;
  {
    WeightCastCache cache(torch::kBFloat16);
    first = forward();
    EXPECT_EQ(first.scalar_type(), torch::kBFloat16);
    change_weight();
    second = forward();
  }
  EXPECT_TRUE(torch::equal(first, second)) << "the second batch must reuse the first batch's bf16 weight";
  auto after = forward();
  EXPECT_FALSE(torch::equal(first, after)) << "after the step the changed weight must be cast again";
  change_weight();
  EXPECT_FALSE(torch::equal(after, forward())) << "without a WeightCastCache every region casts again";
  // Outside autocast: the fp32 layer as it is.
  EXPECT_TRUE(torch::equal(autocast_linear(lin, x), lin(x)));
}

// The whole step under bf16 autocast (on CPU here) with train.accumulate 2: casting the weights once per step
// gives the steps of casting them per batch -- the same losses and parameters after 3 updates, up to the order in
// which autograd sums the tied embedding's three gradient contributions (the shared cast node runs at another
// point of the second backward): 1e-6. A stale copy kept past an update would change the loss of step 2 by about
// the learning rate's effect, ~1e-3.
TEST(TrainStep, PerStepWeightCastGivesTheStepsOfPerBatch) {
  std::vector<std::vector<torch::Tensor>> params;
  std::vector<std::vector<double>> losses;
  for (const char* cast : {"per_batch", "per_step"}) {
    auto c = test::tiny_config({std::string("train.weight_cast=") + cast, "model.dropout=0", "train.clip_norm=1"});
    auto [run_losses, model] = bf16_steps(c, 3);
    losses.push_back(run_losses);
    params.push_back(model->parameters());
  }
  for (int s = 0; s < 3; ++s) EXPECT_NEAR(losses[1][s], losses[0][s], 1e-6 * losses[0][s]) << "step " << s + 1;
  EXPECT_GT(std::abs(losses[0][2] - losses[0][0]), 1e-3 * losses[0][0]) << "the steps changed the model";
  for (size_t i = 0; i < params[0].size(); ++i)
    EXPECT_LT((params[0][i] - params[1][i]).abs().max().item<double>(), 1e-6) << i;
}

// train.bf16_residual: autocast_layer_norm inside an Autocast region that asks for the low-precision residual is
// layer norm computed on the bf16 input with the bf16 copies of its weight and bias (bypassing autocast's fp32
// policy), and its gradients still reach the fp32 weights; outside such a region it is the module itself.
TEST(Bf16Residual, LayerNormReadsAndWritesBf16WithTheWeightsBf16Copies) {
  torch::manual_seed(3);
  torch::nn::LayerNorm norm(torch::nn::LayerNormOptions({8}));
  {
    torch::NoGradGuard no_grad;
    norm->weight.normal_(1.0, 0.3);
    norm->bias.normal_(0.0, 0.3);
  }
  auto x = torch::randn({5, 8}) * 3 + 1;
  torch::Tensor y;
  {
    Autocast autocast(torch::kCPU, torch::kBFloat16, /*low_precision_residual=*/true);
    EXPECT_TRUE(autocast_low_precision_residual());
    y = autocast_layer_norm(norm, x);
    EXPECT_EQ(y.scalar_type(), torch::kBFloat16);
    auto expected = torch::layer_norm(x.to(torch::kBFloat16), {8}, norm->weight.to(torch::kBFloat16),
                                      norm->bias.to(torch::kBFloat16), 1e-5);
    EXPECT_TRUE(torch::equal(y, expected));
    EXPECT_TRUE(autocast_enabled(torch::kCPU)) << "autocast back on after the layer norm";
    EXPECT_EQ(autocast_residual(x).scalar_type(), torch::kBFloat16);
  }
  EXPECT_FALSE(autocast_low_precision_residual()) << "the region's setting ends with it";
  EXPECT_LT((y.to(torch::kFloat32) - norm(x)).abs().max().item<double>(), 0.05) << "bf16 rounding only";
  y.to(torch::kFloat32).pow(2).sum().backward();
  ASSERT_TRUE(norm->weight.grad().defined());
  EXPECT_EQ(norm->weight.grad().scalar_type(), torch::kFloat32);
  EXPECT_GT(norm->weight.grad().abs().sum().item<double>(), 0.0);
  // Outside the region, and in a region without it: the module, and autocast_residual leaves x alone.
  EXPECT_TRUE(torch::equal(autocast_layer_norm(norm, x), norm(x)));
  Autocast plain(torch::kCPU, torch::kBFloat16);
  EXPECT_FALSE(autocast_low_precision_residual());
  EXPECT_EQ(autocast_residual(x).scalar_type(), torch::kFloat32);
}

// The model under bf16 autocast: with the low-precision residual the encoder's output (the stream after its final
// layer norm) is bf16, without it fp32 (autocast's layer norm), and the two agree to bf16 rounding. Then three
// training steps each way: the losses follow each other to within bf16 noise, and the master weights stay fp32.
TEST(Bf16Residual, TheStreamStaysBf16AndTrainsAsTheFp32Stream) {
  for (const char* norm : {"pre", "post"}) {
    auto c = test::tiny_config({"model.dropout=0", "train.clip_norm=1", std::string("model.norm=") + norm});
    torch::manual_seed(7);
    auto model = build_model(c.config, 30, 0);
    auto batch = random_batches(1, 5, 30)[0];
    torch::Tensor low, high;
    {
      torch::NoGradGuard no_grad;
      Autocast autocast(torch::kCPU, torch::kBFloat16, true);
      low = model->encode(batch.src).memory;
    }
    {
      torch::NoGradGuard no_grad;
      Autocast autocast(torch::kCPU, torch::kBFloat16, false);
      high = model->encode(batch.src).memory;
    }
    EXPECT_EQ(low.scalar_type(), torch::kBFloat16) << norm;
    EXPECT_EQ(high.scalar_type(), torch::kFloat32) << norm;
    EXPECT_LT((low.to(torch::kFloat32) - high).abs().max().item<double>(), 0.1) << norm;

    std::vector<std::vector<double>> losses;
    for (bool bf16_residual : {false, true}) {
      auto cs = test::tiny_config({"model.dropout=0", "train.clip_norm=1", std::string("model.norm=") + norm,
                                   std::string("train.bf16_residual=") + (bf16_residual ? "true" : "false")});
      auto [run_losses, m] = bf16_steps(cs, 3);
      losses.push_back(run_losses);
      for (const auto& p : m->parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat32);
    }
    for (int s = 0; s < 3; ++s)
      EXPECT_NEAR(losses[1][s], losses[0][s], 2e-2 * losses[0][s]) << norm << " step " << s + 1;
    EXPECT_NE(losses[1][2], losses[0][2]) << norm << ": the switch reached the step (bf16 adds round differently)";
  }
}

// The multi-tensor norm and clip against the per-parameter one, and against a hand count: gradients (3, 4) and
// (12): norm sqrt(9 + 16 + 144) = 13; clipped to 6.5 every gradient is halved.
TEST(GradClip, ForeachAndPerParameterGiveTheHandComputedNormAndScale) {
  for (bool foreach : {false, true}) {
    auto a = torch::zeros({2}, torch::requires_grad()), b = torch::zeros({1}, torch::requires_grad());
    auto none = torch::zeros({3}, torch::requires_grad());  // no gradient: left out
    a.mutable_grad() = torch::tensor({3.0f, 4.0f});
    b.mutable_grad() = torch::tensor({12.0f});
    auto norm = clip_grad_norm({a, none, b}, 0.0, foreach);
    EXPECT_FLOAT_EQ(norm.item<float>(), 13.0f);
    EXPECT_FLOAT_EQ(a.grad()[1].item<float>(), 4.0f) << "max_norm 0: no clipping";
    norm = clip_grad_norm({a, none, b}, 6.5, foreach);
    EXPECT_FLOAT_EQ(norm.item<float>(), 13.0f) << "the norm before clipping";
    EXPECT_NEAR(a.grad()[0].item<float>(), 1.5f, 1e-5);
    EXPECT_NEAR(a.grad()[1].item<float>(), 2.0f, 1e-5);
    EXPECT_NEAR(b.grad()[0].item<float>(), 6.0f, 1e-5);
    EXPECT_FALSE(none.grad().defined());
  }
}

// The reducer's bucket logic with a stand-in all-reduce that doubles each bucket (two ranks with equal
// gradients) and logs when it was started. With small buckets, the buckets start from the gradient hooks while
// backward still runs -- the first one before all gradients are ready -- and finish() leaves every gradient
// doubled, accumulated micro-batches included. The backward of the unarmed first micro-batch starts nothing.
TEST(GradientReducer, StartsBucketsDuringBackwardAndLeavesTheSummedGradients) {
  auto c = test::tiny_config({"model.dropout=0"});
  torch::manual_seed(3);
  auto model = build_model(c.config, 30, 0);
  auto params = model->parameters();
  auto batches = random_batches(2, 11, 30);
  auto loss_of = [&](const Batch& b) {
    auto logits = model->forward(b.src, b.tgt_in);
    return torch::nn::functional::cross_entropy(logits.reshape({-1, 30}), b.tgt_out.reshape(-1));
  };
  // Reference: plain accumulation of both micro-batches.
  for (auto& b : batches) loss_of(b).backward();
  std::vector<torch::Tensor> expected;
  for (auto& p : params) expected.push_back(p.grad().clone() * 2);
  for (auto& p : params) p.mutable_grad() = torch::Tensor();

  int64_t started = 0;
  GradientReducer reducer(params, /*bucket_bytes=*/4096, [&](const torch::Tensor& flat) {
    ++started;
    return std::function<void()>([flat]() mutable { flat.mul_(2); });
  });
  ASSERT_GE(reducer.buckets(), 3);
  loss_of(batches[0]).backward();
  EXPECT_EQ(started, 0) << "an unarmed reducer starts nothing";
  reducer.arm();
  loss_of(batches[1]).backward();
  EXPECT_EQ(started, reducer.buckets()) << "every bucket started from a hook, during backward";
  EXPECT_EQ(reducer.started_during_backward(), reducer.buckets());
  EXPECT_LT(reducer.ready_at_first_start(), static_cast<int64_t>(params.size()))
      << "the first bucket started before all gradients were ready";
  reducer.finish();
  for (size_t i = 0; i < params.size(); ++i)
    EXPECT_TRUE(torch::allclose(params[i].grad(), expected[i], 1e-6, 1e-7)) << i;
  EXPECT_THROW(reducer.finish(), c10::Error) << "finish() without arm()";
}
