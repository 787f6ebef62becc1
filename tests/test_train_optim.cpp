// Training pieces that need no model: learning-rate schedules, the label-smoothed loss, Adam and Adafactor.
#include <gtest/gtest.h>

#include <cmath>

#include "mqa/config/config.h"
#include "mqa/train/adafactor.h"
#include "mqa/train/loss.h"
#include "mqa/train/lr_schedule.h"
#include "mqa/train/optimizers.h"
#include "test_util.h"

using namespace mqa;

TEST(TrainSchedule, InverseSqrtWarmsUpLinearlyThenDecays) {
  LrSchedule s("inverse_sqrt", 1.0, 4);
  EXPECT_DOUBLE_EQ(s.at(1), 0.25);
  EXPECT_DOUBLE_EQ(s.at(2), 0.5);
  EXPECT_DOUBLE_EQ(s.at(4), 1.0);
  EXPECT_DOUBLE_EQ(s.at(16), 0.5);   // sqrt(4 / 16)
  EXPECT_DOUBLE_EQ(s.at(64), 0.25);  // sqrt(4 / 64)
}

TEST(TrainSchedule, RsqrtDecayIsFlatDuringWarmupThenOneOverSqrtStep) {
  LrSchedule s("rsqrt_decay", 1.0, 100);
  EXPECT_DOUBLE_EQ(s.at(1), 0.1);
  EXPECT_DOUBLE_EQ(s.at(100), 0.1);
  EXPECT_DOUBLE_EQ(s.at(400), 0.05);
  LrSchedule scaled("rsqrt_decay", 2.0, 10000);  // the paper's runs: 1 / sqrt(max(step, 10k))
  EXPECT_DOUBLE_EQ(scaled.at(40000), 0.01);
}

TEST(TrainSchedule, ConstantWarmsUpThenStaysFlat) {
  LrSchedule s("constant", 3e-4, 10);
  EXPECT_DOUBLE_EQ(s.at(5), 1.5e-4);
  EXPECT_DOUBLE_EQ(s.at(10), 3e-4);
  EXPECT_DOUBLE_EQ(s.at(100000), 3e-4);
  LrSchedule none("constant", 3e-4, 0);
  EXPECT_DOUBLE_EQ(none.at(1), 3e-4);
}

TEST(TrainSchedule, CosineWarmsUpThenFallsToItsFinalRatioAtTheLastStepAndStays) {
  LrSchedule s("cosine", 1.0, 10, 110, 0.1);
  EXPECT_DOUBLE_EQ(s.at(5), 0.5);
  EXPECT_DOUBLE_EQ(s.at(10), 1.0);
  EXPECT_NEAR(s.at(60), 0.55, 1e-12);   // halfway: 0.1 + 0.9 * 0.5 * (1 + cos(pi / 2))
  EXPECT_NEAR(s.at(35), 0.1 + 0.9 * 0.5 * (1 + std::sqrt(0.5)), 1e-12);  // a quarter: cos(pi / 4)
  EXPECT_NEAR(s.at(110), 0.1, 1e-12);
  EXPECT_NEAR(s.at(500), 0.1, 1e-12);  // past max_steps (a resumed run given more steps): flat at the floor
  EXPECT_GT(s.at(59), s.at(60));
  LrSchedule to_zero("cosine", 2.0, 0, 100, 0.0);
  EXPECT_NEAR(to_zero.at(50), 1.0, 1e-12);
  EXPECT_NEAR(to_zero.at(100), 0.0, 1e-12);
}

TEST(TrainSchedule, CosineNeedsMoreStepsThanItsWarmupAndARatioInZeroOne) {
  EXPECT_THROW(LrSchedule("cosine", 1.0, 100, 100), std::invalid_argument);
  EXPECT_THROW(LrSchedule("cosine", 1.0, 10, 100, 1.5), std::invalid_argument);
  EXPECT_NO_THROW(LrSchedule("inverse_sqrt", 1.0, 100, 100));  // other schedules ignore max_steps
}

// The shipped configs state their learning rate (train.lr has no default); their schedules, by hand.
TEST(TrainSchedule, ShippedConfigsGiveHandComputedRates) {
  // Quickstart: Adam, inverse_sqrt, lr 0.002, warmup 50.
  LrSchedule quick(load_config(mqa::test::source_path("configs/quickstart.yaml")).config.train);
  EXPECT_DOUBLE_EQ(quick.at(10), 0.0004);  // 0.002 * 10 / 50
  EXPECT_DOUBLE_EQ(quick.at(50), 0.002);
  EXPECT_DOUBLE_EQ(quick.at(200), 0.001);  // 0.002 * sqrt(50 / 200)
  // The paper's baseline: Adafactor, rsqrt_decay, lr 1.0, warmup 10k: 1 / sqrt(max(step, 10k)).
  LrSchedule paper(load_config(mqa::test::source_path("configs/wmt14/base.yaml")).config.train);
  EXPECT_DOUBLE_EQ(paper.at(1), 0.01);
  EXPECT_DOUBLE_EQ(paper.at(40000), 0.005);
  // Table 1 scaled: Adam, inverse_sqrt, lr 0.001, warmup 200.
  LrSchedule scaled(load_config(mqa::test::source_path("configs/wmt14/scaled/multi_query.yaml")).config.train);
  EXPECT_DOUBLE_EQ(scaled.at(100), 0.0005);  // 0.001 * 100 / 200
  EXPECT_DOUBLE_EQ(scaled.at(800), 0.0005);  // 0.001 * sqrt(200 / 800)
  // Table 3 real: Adam, cosine, lr 7e-4, warmup 500, 5000 steps, down to 10%.
  LrSchedule lm(load_config(mqa::test::source_path("configs/lm1b/real/heads2_dk32.yaml")).config.train);
  EXPECT_DOUBLE_EQ(lm.at(250), 0.00035);
  EXPECT_NEAR(lm.at(2750), 0.000385, 1e-15);  // halfway: 7e-4 * (0.1 + 0.9 / 2)
  EXPECT_NEAR(lm.at(5000), 0.00007, 1e-15);
}

TEST(TrainSchedule, UnknownNameIsAnError) {
  EXPECT_THROW(LrSchedule("linear", 1.0, 1), std::invalid_argument);
}

// Two real tokens and one pad over a 4-word vocabulary, worked by hand in tensor2tensor's form (the target word
// gets 1 - eps = 0.9, each of the 3 others eps / (V - 1) = 0.1 / 3):
//   token 1: p = (.1, .2, .3, .4), target 3:
//            loss = 0.9 * -ln .4 + (0.1 / 3) * (-ln .1 - ln .2 - ln .3)
//                 = 0.9 * 0.9162907319 + (0.1 / 3) * (2.3025850930 + 1.6094379124 + 1.2039728043)
//                 = 0.8246616587 + 0.1705331937 = 0.9951948523
//   token 2: p uniform, target 0: every word has -ln p = ln 4, so loss = ln 4 = 1.3862943611
//   loss = 2.3814892135 (PyTorch's label_smoothing, eps / V on every word, would give 2.3617631835)
//   nll  = -ln .4 + ln 4 = ln 10 = 2.3025850930
// The gradient of the loss sum with respect to the logits is p - q, q the smoothed target:
//   token 1: (.1 - 1/30, .2 - 1/30, .3 - 1/30, .4 - .9) = (0.0666666667, 0.1666666667, 0.2666666667, -0.5)
//   token 2: (.25 - .9, .25 - 1/30, .25 - 1/30, .25 - 1/30) = (-0.65, 0.2166666667, 0.2166666667, 0.2166666667)
//   pad:     0
// Checked for the whole-tensor path (chunk 0) and chunked ones (1 and 2 rows a chunk: a chunk boundary inside
// the sequence and a last chunk that is short).
TEST(TrainLoss, LabelSmoothingIsTensor2TensorsFormByHand) {
  for (int64_t chunk : {0, 1, 2}) {
    auto logits = torch::tensor({std::log(0.1), std::log(0.2), std::log(0.3), std::log(0.4),  //
                                 0.0, 0.0, 0.0, 0.0,                                            //
                                 5.0, -3.0, 2.0, 7.0},                                          // pad: ignored
                                torch::kFloat64)
                      .to(torch::kFloat32)
                      .reshape({1, 3, 4})
                      .requires_grad_();
    auto target = torch::tensor({3, 0, 1}, torch::kLong).reshape({1, 3});
    auto sums = label_smoothed_loss(logits, target, /*pad_id=*/1, /*epsilon=*/0.1, chunk);
    EXPECT_NEAR(sums.loss.item<double>(), 2.3814892135, 1e-5) << "chunk " << chunk;
    EXPECT_NEAR(sums.nll.item<double>(), 2.3025850930, 1e-5) << "chunk " << chunk;
    EXPECT_EQ(sums.tokens.item<int64_t>(), 2);
    sums.loss.backward();
    auto expected = torch::tensor({0.0666666667, 0.1666666667, 0.2666666667, -0.5,  //
                                   -0.65, 0.2166666667, 0.2166666667, 0.2166666667,  //
                                   0.0, 0.0, 0.0, 0.0})
                        .reshape({1, 3, 4});
    EXPECT_TRUE(torch::allclose(logits.grad(), expected, 1e-5, 1e-6)) << "chunk " << chunk << "\n" << logits.grad();
    auto plain = label_smoothed_loss(logits, target, 1, 0.0, chunk);
    EXPECT_NEAR(plain.loss.item<double>(), 2.3025850930, 1e-5) << "chunk " << chunk;
  }
}

TEST(TrainLoss, GradientFlowsOnlyFromNonPadPositions) {
  for (int64_t chunk : {0, 2}) {
    auto logits = torch::randn({2, 3, 5}, torch::requires_grad());
    auto target = torch::tensor({{1, 2, 0}, {0, 0, 0}}, torch::kLong);
    label_smoothed_loss(logits, target, 0, 0.1, chunk).loss.backward();
    auto g = logits.grad();
    EXPECT_GT(g[0][0].abs().sum().item<double>(), 0);
    EXPECT_EQ(g[0][2].abs().sum().item<double>(), 0);
    EXPECT_EQ(g[1].abs().sum().item<double>(), 0);
  }
}

// The chunked path against the whole-tensor one on a larger random case, for fp32 and bf16 logits (the chunked
// path never makes fp32 copies beyond a chunk; both compute in fp32): same sums, same gradients, through both
// outputs (loss and nll both weighted, as a caller may differentiate either).
TEST(TrainLoss, ChunkedEqualsWholeInValuesAndGradients) {
  torch::manual_seed(5);
  auto base = torch::randn({3, 7, 50}) * 3;
  auto target = torch::randint(0, 50, {3, 7}, torch::kLong);
  target[2].narrow(0, 4, 3).fill_(0);  // padding
  for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
    auto whole_in = base.to(dtype).detach().clone().requires_grad_();
    auto chunk_in = base.to(dtype).detach().clone().requires_grad_();
    auto whole = label_smoothed_loss(whole_in, target, 0, 0.1, 0);
    auto chunked = label_smoothed_loss(chunk_in, target, 0, 0.1, 4);
    EXPECT_NEAR(chunked.loss.item<double>(), whole.loss.item<double>(), 1e-4 * whole.loss.item<double>());
    EXPECT_NEAR(chunked.nll.item<double>(), whole.nll.item<double>(), 1e-4 * whole.nll.item<double>());
    (whole.loss * 0.7 + whole.nll * 0.3).backward();
    (chunked.loss * 0.7 + chunked.nll * 0.3).backward();
    EXPECT_EQ(chunk_in.grad().scalar_type(), dtype);
    const double tol = dtype == torch::kFloat32 ? 1e-6 : 1e-2;  // bf16: the gradient itself is rounded to bf16
    EXPECT_TRUE(torch::allclose(chunk_in.grad().to(torch::kFloat32), whole_in.grad().to(torch::kFloat32), tol, tol))
        << c10::toString(dtype);
  }
}

namespace {

// A tiny regression task: y = x W* + b*; returns the MSE before and after `steps` optimizer steps.
std::pair<double, double> fit(const std::string& optimizer, double lr, int steps,
                              const std::vector<std::string>& extra = {}) {
  torch::manual_seed(3);
  auto x = torch::randn({64, 8});
  auto y = torch::matmul(x, torch::randn({8, 4})) + torch::randn({4});
  torch::nn::Linear model(8, 4);
  std::vector<std::string> overrides = {"train.optimizer=" + optimizer, "train.lr=" + std::to_string(lr)};
  overrides.insert(overrides.end(), extra.begin(), extra.end());
  auto config = default_config(overrides).config;
  auto opt = make_optimizer(config.train, model->parameters());
  double first = 0, last = 0;
  for (int i = 0; i < steps; ++i) {
    opt->zero_grad();
    auto loss = torch::mse_loss(model(x), y);
    if (i == 0) first = loss.item<double>();
    loss.backward();
    opt->step();
  }
  last = torch::mse_loss(model(x), y).item<double>();
  return {first, last};
}

}  // namespace

TEST(TrainOptimizer, AdamReducesLossOnTinyRegression) {
  auto [first, last] = fit("adam", 0.05, 200);
  EXPECT_LT(last, 0.05 * first) << first << " -> " << last;
}

TEST(TrainOptimizer, AdafactorReducesLossOnTinyRegression) {
  auto [first, last] = fit("adafactor", 0.1, 200);
  EXPECT_LT(last, 0.05 * first) << first << " -> " << last;
}

TEST(TrainOptimizer, AdafactorWithMomentumAndWithoutParameterScaleReducesLoss) {
  auto [first, last] = fit("adafactor", 0.02, 200,
                           {"train.adafactor_beta1=0.9", "train.adafactor_scale_parameter=false"});
  EXPECT_LT(last, 0.05 * first) << first << " -> " << last;
}

TEST(TrainOptimizer, AdafactorFactorsSecondMomentsOfMatrices) {
  auto w = torch::randn({6, 5}, torch::requires_grad());
  auto b = torch::randn({5}, torch::requires_grad());
  Adafactor opt({w, b}, AdafactorOptions(0.01));
  (torch::matmul(torch::randn({3, 6}), w) + b).pow(2).sum().backward();
  opt.step();
  ASSERT_NE(opt.state_of(w), nullptr);
  ASSERT_NE(opt.state_of(b), nullptr);
  const auto& ws = *opt.state_of(w);
  const auto& bs = *opt.state_of(b);
  EXPECT_EQ(ws.exp_avg_sq_row().sizes(), torch::IntArrayRef({6}));
  EXPECT_EQ(ws.exp_avg_sq_col().sizes(), torch::IntArrayRef({5}));
  EXPECT_FALSE(ws.exp_avg_sq().defined());
  EXPECT_FALSE(ws.exp_avg().defined());  // beta1 = 0: no momentum state
  EXPECT_EQ(bs.exp_avg_sq().sizes(), torch::IntArrayRef({5}));
  EXPECT_EQ(ws.step(), 1);
}

// Step 1 of Adafactor by hand for a vector (unfactored): beta2_1 = 0, so v = g^2 + eps1, u = g / |g| = sign(g),
// RMS(u) = 1 (no clipping at d = 1), alpha = lr * max(eps2, RMS(p)); p1 = p0 - alpha * sign(g).
TEST(TrainOptimizer, AdafactorFirstStepIsSignTimesScaledLr) {
  auto p = torch::tensor({0.5, -1.0, 2.0, 0.1}, torch::requires_grad());
  Adafactor opt({p}, AdafactorOptions(0.1));
  p.mutable_grad() = torch::tensor({0.3, -0.2, 0.0001, -5.0});
  const double rms = std::sqrt((0.25 + 1.0 + 4.0 + 0.01) / 4);
  opt.step();
  auto expected = torch::tensor({0.5 - 0.1 * rms, -1.0 + 0.1 * rms, 2.0 - 0.1 * rms, 0.1 + 0.1 * rms});
  EXPECT_TRUE(torch::allclose(p.detach(), expected, 1e-5, 1e-6)) << p << expected;
}

// Step 1 of Adafactor by hand for a 2x3 matrix (the factored second moments), lr 0.1, d = 1, eps2 1e-3:
//   g = [[1, 0, 2], [2, 2, 0]], g^2 = [[1, 0, 4], [4, 4, 0]] (eps1 = 1e-30 is below double precision here).
//   beta2_1 = 1 - 1^-0.8 = 0, so the moments are this step's: row means R = (5/3, 8/3), column means
//   C = (5/2, 2, 2), and mean(R) = 13/6. v_ij = R_i C_j / mean(R):
//       v = [[25/13, 20/13, 20/13], [40/13, 32/13, 32/13]]
//   u = g / sqrt(v) = [[sqrt(13)/5, 0, 2 sqrt(13/20)], [2 sqrt(13/40), 2 sqrt(13/32), 0]]
//   sum u^2 = 13 (1/25 + 1/5 + 1/10 + 1/8) = 6.045, RMS(u) = sqrt(6.045 / 6) > 1, so u is divided by RMS(u).
//   p0 = [[0.5, -1, 2], [0.1, 0, -0.3]]: RMS(p0) = sqrt(5.35 / 6); alpha = 0.1 RMS(p0).
//   p1 = p0 - alpha u / RMS(u).
// (A rank-1 g^2 would make the factored estimate exact and u = sign(g); this g^2 is not rank 1.)
TEST(TrainOptimizer, AdafactorFactoredFirstStepMatchesAHandComputedStep) {
  auto p = torch::tensor({{0.5, -1.0, 2.0}, {0.1, 0.0, -0.3}}, torch::TensorOptions().dtype(torch::kDouble));
  p.requires_grad_();
  Adafactor opt({p}, AdafactorOptions(0.1));
  p.mutable_grad() = torch::tensor({{1.0, 0.0, 2.0}, {2.0, 2.0, 0.0}}, torch::kDouble);
  opt.step();

  const double r13 = std::sqrt(13.0);
  const double u[2][3] = {{r13 / 5, 0.0, 2 * std::sqrt(13.0 / 20)},
                          {2 * std::sqrt(13.0 / 40), 2 * std::sqrt(13.0 / 32), 0.0}};
  const double rms_u = std::sqrt(6.045 / 6), alpha = 0.1 * std::sqrt(5.35 / 6);
  const double p0[2][3] = {{0.5, -1.0, 2.0}, {0.1, 0.0, -0.3}};
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      EXPECT_NEAR(p[i][j].item<double>(), p0[i][j] - alpha * u[i][j] / rms_u, 1e-6) << "p[" << i << "][" << j << "]";
  // The factored moments themselves: row and column means of g^2.
  const auto& st = *opt.state_of(p);
  EXPECT_NEAR(st.exp_avg_sq_row()[0].item<double>(), 5.0 / 3, 1e-6);
  EXPECT_NEAR(st.exp_avg_sq_row()[1].item<double>(), 8.0 / 3, 1e-6);
  EXPECT_NEAR(st.exp_avg_sq_col()[0].item<double>(), 2.5, 1e-6);
  EXPECT_NEAR(st.exp_avg_sq_col()[1].item<double>(), 2.0, 1e-6);
  EXPECT_NEAR(st.exp_avg_sq_col()[2].item<double>(), 2.0, 1e-6);
}

TEST(TrainOptimizer, AdafactorStateSaveLoadContinuesIdentically) {
  torch::manual_seed(5);
  auto w0 = torch::randn({7, 3});
  auto x = torch::randn({10, 7});
  auto run = [&](torch::Tensor& w, torch::optim::Optimizer& opt, int steps) {
    for (int i = 0; i < steps; ++i) {
      opt.zero_grad();
      torch::matmul(x, w).tanh().sum().backward();
      opt.step();
    }
  };
  auto opts = AdafactorOptions(0.05).beta1(0.9);
  auto a = w0.clone().requires_grad_();
  Adafactor opt_a({a}, opts);
  run(a, opt_a, 5);
  torch::serialize::OutputArchive out;
  opt_a.save(out);
  std::stringstream buf;
  out.save_to(buf);

  auto b = a.detach().clone().requires_grad_();
  Adafactor opt_b({b}, AdafactorOptions(123.0));  // options come back from the saved state
  torch::serialize::InputArchive in;
  in.load_from(buf);
  opt_b.load(in);
  EXPECT_DOUBLE_EQ(static_cast<AdafactorOptions&>(opt_b.param_groups()[0].options()).lr(), 0.05);
  run(a, opt_a, 5);
  run(b, opt_b, 5);
  EXPECT_TRUE(torch::equal(a, b));
}

TEST(TrainOptimizer, AdafactorLoadRejectsOtherShapes) {
  auto a = torch::randn({4, 3}, torch::requires_grad());
  Adafactor opt_a({a});
  a.sum().backward();
  opt_a.step();
  torch::serialize::OutputArchive out;
  opt_a.save(out);
  std::stringstream buf;
  out.save_to(buf);
  auto b = torch::randn({3, 4}, torch::requires_grad());
  Adafactor opt_b({b});
  torch::serialize::InputArchive in;
  in.load_from(buf);
  try {
    opt_b.load(in);
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("shape"), std::string::npos) << e.what();
  }
}
