// The benchmark's own correctness (issues 7, 14): the timed decode (the searches translate runs, in fixed-length
// mode) produces exactly the tokens of a plain greedy decode through the full forward, and the scores it reports
// are the log-probabilities the full model gives its outputs; the bytes/FLOPs model equals a hand count and a count
// over the real model's tensors; the statistics of repeated timings; the training step trains. No timing assertions.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "mqa/bench/decode_bench.h"
#include "mqa/decode/engine.h"
#include "mqa/bench/roofline.h"
#include "mqa/util/timer.h"
#include "mqa/bench/train_bench.h"
#include "mqa/model/transformer.h"
#include "test_util.h"

using mqa::ModelConfig;
using mqa::Transformer;

namespace {

constexpr int64_t kVocab = 40, kBos = 2;

ModelConfig tiny(int kv_heads, int window) {
  ModelConfig c;
  c.type = "seq2seq";
  c.encoder_layers = 1;
  c.decoder_layers = 2;
  c.d_model = 16;
  c.heads = 4;
  c.kv_heads = kv_heads;
  c.d_k = 4;
  c.d_v = 6;
  c.d_ff = 32;
  c.window = window;
  c.dropout = 0;
  c.max_positions = 32;
  return c;
}

Transformer make(const ModelConfig& c) {
  torch::manual_seed(17);
  Transformer m(c, kVocab, 0);
  m->eval();
  return m;
}

// Plain fixed-length greedy decoding through the full forward (no cache): at every step the most likely token but
// pad, bos and eos, and eos at the last step. [B, T] (the last column eos).
torch::Tensor plain_greedy(Transformer& m, const torch::Tensor& src, int64_t steps) {
  torch::NoGradGuard no_grad;
  constexpr int64_t kEos = 3;
  auto tgt = torch::full({src.size(0), 1}, kBos, torch::kLong);
  for (int64_t t = 0; t + 1 < steps; ++t) {
    auto logits = m->forward(src, tgt).select(1, t);  // [B, V]
    logits.index_fill_(1, torch::tensor(std::vector<int64_t>{0, kBos, kEos}, torch::kLong), -INFINITY);
    tgt = torch::cat({tgt, logits.argmax(1, true)}, 1);
  }
  return torch::cat({tgt.narrow(1, 1, steps - 1), torch::full({src.size(0), 1}, kEos, torch::kLong)}, 1);
}

// log p(tokens, eos | src row b) by the full forward.
double rescored(Transformer& m, const torch::Tensor& src, int64_t b, const std::vector<int64_t>& tokens) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> in = {kBos}, out = tokens;
  in.insert(in.end(), tokens.begin(), tokens.end());
  out.push_back(3);
  auto logits = m->forward(src.narrow(0, b, 1), torch::tensor(in, torch::kLong).unsqueeze(0).to(src.device()));
  auto lp = torch::log_softmax(logits.to(torch::kFloat64), -1);
  return lp.gather(2, torch::tensor(out, torch::kLong).view({1, -1, 1}).to(src.device())).sum().item<double>();
}

mqa::bench::DecodeBenchOptions options(int64_t beams, int64_t steps) {
  mqa::bench::DecodeBenchOptions o;
  o.target_len = steps;
  o.beams = beams;
  o.warmup = 1;
  o.repeats = 2;
  o.check_every = 4;
  return o;
}

struct Variant {
  const char* name;
  int kv_heads, window;
};
const Variant kVariants[] = {{"multi_head", 4, 0}, {"multi_query", 1, 0}, {"multi_head_local3", 4, 3},
                             {"multi_query_local5", 1, 5}};

// A cross-attention key/value projection: applied once per source at the start, not by each decode step.
bool is_cross_key_value(const std::string& name) {
  return name.find("cross_attn.k_proj") != std::string::npos || name.find("cross_attn.v_proj") != std::string::npos;
}

// The model's parameters a decode step reads: all but the encoder's, the positions' (one row a step) and the cross
// K/V projections.
int64_t parameters_a_decode_step_reads(Transformer& m) {
  int64_t n = 0;
  for (const auto& p : m->named_parameters()) {
    const auto& name = p.key();
    if (name.rfind("encoder", 0) == 0 || name.rfind("position_embedding", 0) == 0 || is_cross_key_value(name)) continue;
    n += p.value().numel();
  }
  return n;
}

}  // namespace

class DecodeBench : public ::testing::TestWithParam<Variant> {};

TEST_P(DecodeBench, GreedyTokensEqualAPlainGreedyDecodeThroughTheFullForward) {
  auto m = make(tiny(GetParam().kv_heads, GetParam().window));
  torch::manual_seed(3);
  auto src = torch::randint(4, kVocab, {3, 7}, torch::kLong);
  const int64_t steps = 11;
  auto expected = plain_greedy(m, src, steps);
  auto r = mqa::bench::run_decode_bench(m, src, options(1, steps));
  EXPECT_FALSE(r.graph);  // CPU: the same step, eagerly
  EXPECT_EQ(r.decoder_ms.n, 2);
  for (int64_t b = 0; b < 3; ++b) {
    ASSERT_EQ(r.outputs[b].size(), 1u);
    const auto& h = r.outputs[b][0];
    ASSERT_EQ(static_cast<int64_t>(h.tokens.size()), steps - 1);  // fixed length: T steps, the last one eos
    auto want = expected[b].narrow(0, 0, steps - 1);
    EXPECT_EQ(h.tokens, std::vector<int64_t>(want.data_ptr<int64_t>(), want.data_ptr<int64_t>() + steps - 1));
    EXPECT_NEAR(h.logprob, rescored(m, src, b, h.tokens), 1e-4);
  }
}

TEST_P(DecodeBench, BeamScoresAreTheFullModelsLogProbabilitiesOfTheBeamsTokens) {
  // If the cache reorder mixed up histories, the teacher-forced score of a returned hypothesis would differ from
  // the score the search accumulated for it.
  auto m = make(tiny(GetParam().kv_heads, GetParam().window));
  torch::manual_seed(5);
  auto src = torch::randint(4, kVocab, {2, 8}, torch::kLong);
  const int64_t steps = 10, K = 3;
  auto r = mqa::bench::run_decode_bench(m, src, options(K, steps));
  for (int64_t b = 0; b < 2; ++b) {
    ASSERT_EQ(static_cast<int64_t>(r.outputs[b].size()), K);
    for (int64_t k = 0; k < K; ++k) {
      const auto& h = r.outputs[b][k];
      EXPECT_EQ(static_cast<int64_t>(h.tokens.size()), steps - 1);
      EXPECT_NEAR(h.logprob, rescored(m, src, b, h.tokens), 1e-4) << "source " << b << " beam " << k;
      if (k > 0) {  // distinct hypotheses, best first
        EXPECT_GE(r.outputs[b][k - 1].score, h.score);
        EXPECT_NE(r.outputs[b][k - 1].tokens, h.tokens);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, DecodeBench, ::testing::ValuesIn(kVariants),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Roofline, DecodeStepBytesAndFlopsEqualAHandCount) {
  // d_model 8, h 2, g 1, d_k 4, d_v 6, d_ff 16, 1 encoder and 2 decoder layers, vocabulary 10, pre-norm.
  ModelConfig c;
  c.type = "seq2seq";
  c.encoder_layers = 1;
  c.decoder_layers = 2;
  c.d_model = 8;
  c.heads = 2;
  c.kv_heads = 1;
  c.d_k = 4;
  c.d_v = 6;
  c.d_ff = 16;
  c.max_positions = 16;
  // Per decoder layer: self Q 64 + K 32 + V 48 + O 96 = 240; cross Q + O = 160; ffn 128 + 16 + 128 + 8 = 280;
  // three norms 48: 728. Two layers 1456, output projection 80, final norm 16: 1552.
  EXPECT_EQ(mqa::bench::decoder_step_params(c, 10), 1552);
  // The same from the model's own parameters.
  {
    Transformer m(c, 10, 0);
    EXPECT_EQ(parameters_a_decode_step_reads(m), 1552);
  }
  // B 3 sources, 2 beams (N 6), S 5, T 4, 2 bytes. Attended positions (1+2+3+4)/4 = 2.5; K/V per position and
  // layer 1 x (4 + 6) = 10.
  mqa::bench::DecodeShape s{c, 10, 3, 2, 5, 4, 2};
  auto cost = mqa::bench::decode_step_cost(s);
  EXPECT_DOUBLE_EQ(cost.attended, 2.5);
  EXPECT_DOUBLE_EQ(cost.weight_bytes, 3104);        // 1552 x 2
  EXPECT_DOUBLE_EQ(cost.self_kv_read_bytes, 600);   // 6 x 2 x 10 x 2.5 x 2
  EXPECT_DOUBLE_EQ(cost.cross_kv_read_bytes, 600);  // 3 x 2 x 10 x 5 x 2: per source, not per beam
  EXPECT_DOUBLE_EQ(cost.cache_write_bytes, 240);    // 6 x 2 x 10 x 2
  EXPECT_DOUBLE_EQ(cost.reorder_bytes, 1200);       // read + write of what self-attention reads
  EXPECT_DOUBLE_EQ(cost.bytes(), 3104 + 600 + 600 + 240);
  // 2 x 1552 x 6 + 6 rows x 2 layers x (2 x 2 x (4 + 6)) x (2.5 + 5)
  EXPECT_DOUBLE_EQ(cost.flops, 18624 + 3600);
  // A window of 2: (1 + 2 + 2 + 2) / 4 positions.
  s.model.window = 2;
  s.beams = 1;
  cost = mqa::bench::decode_step_cost(s);
  EXPECT_DOUBLE_EQ(cost.attended, 1.75);
  EXPECT_DOUBLE_EQ(cost.self_kv_read_bytes, 3 * 2 * 10 * 1.75 * 2);
  EXPECT_DOUBLE_EQ(cost.reorder_bytes, 0);

  // Training, B 3, S 5, T 4, no window. Per query 2 x 2 x (4 + 6) = 40 FLOPs per key.
  //   encoder      15 tokens x 1 layer  x (2 x (240 + 256) + 40 x 5)   = 17880
  //   cross K/V    15 tokens x 2 layers x 2 x 80                        =  4800
  //   cross Q,O    12 tokens x 2 layers x (2 x 160 + 40 x 5)            = 12480
  //   decoder self 12 tokens x 2 layers x (2 x (240 + 256) + 40 x 2.5)  = 26208
  //   output       12 tokens x 2 x 8 x 10                               =  1920
  EXPECT_DOUBLE_EQ(mqa::bench::train_step_flops(c, 10, 3, 5, 4), 3.0 * (17880 + 4800 + 12480 + 26208 + 1920));
}

// The decode-step model against what the real model's tensors hold, for a grouped-query (g 2 of h 4), windowed
// (w 3) config with d_k != d_v, 3 sources x 2 beams, S 4, T 5, fp32 (4 bytes):
//   - weights: the parameters a decoder step touches (not the encoder, the positions, the cross K/V projections);
//   - cache writes: the elements of the self-attention caches one step changes (caches filled with NaN first);
//   - cross K/V reads: the elements of the cross-attention keys/values the state holds (one copy per source);
//   - self K/V reads: the positions a step reads are the last min(t + 1, w): poisoning every position before them
//     leaves the logits finite, poisoning one inside does not; elements per position from the cache's shape;
//   - FLOPs: 2 per matrix weight per row from the Linear modules' shapes and the output projection, 2 per other
//     weight per row (biases, norms: the model's convention), attention 2 x h x (d_k + d_v) per key read.
TEST(Roofline, DecodeStepCostEqualsACountOverTheModelsTensors) {
  torch::NoGradGuard no_grad;
  ModelConfig c = tiny(2, 3);
  c.d_k = 3;
  c.d_v = 5;
  const int64_t B = 3, beams = 2, N = B * beams, S = 4, T = 5, e = 4;
  torch::manual_seed(4);
  Transformer m(c, kVocab, 0);
  m->eval();
  mqa::bench::DecodeShape shape{c, kVocab, B, beams, S, T, e};
  const auto cost = mqa::bench::decode_step_cost(shape);

  // Weights and FLOPs from the module tree.
  const int64_t read_params = parameters_a_decode_step_reads(m);
  int64_t matrix_weights = kVocab * c.d_model;  // the output projection (tied to the embedding)
  for (const auto& item : m->named_modules()) {
    const auto* linear = item.value()->as<torch::nn::LinearImpl>();
    if (linear && item.key().rfind("decoder_layers", 0) == 0 && !is_cross_key_value(item.key()))
      matrix_weights += linear->weight.numel();
  }
  EXPECT_EQ(cost.step_params, read_params);
  EXPECT_DOUBLE_EQ(cost.weight_bytes, static_cast<double>(read_params * e));

  // Run the decoder (the engine's LibTorch path): T steps over S-token sources, B x beams rows.
  auto src = torch::randint(4, kVocab, {B, S}, torch::kLong);
  mqa::DecodeEngine engine(m, mqa::engine_options(torch::kFloat32));
  mqa::DecodeBatch st;
  engine.start_sources(st, src, beams, T, kBos, beams > 1);
  ASSERT_EQ(st.rows(), N);
  EXPECT_DOUBLE_EQ(cost.cross_kv_read_bytes, static_cast<double>(st.cross_kv.numel() * e));

  const auto& cache0 = st.self[0];
  const int64_t per_position = cache0.k.size(1) * cache0.k.size(3) + cache0.v.size(1) * cache0.v.size(3);  // per row
  // A copy of the batch whose caches and positions are its own: a probe step leaves the run's state untouched.
  auto copy_of = [](const mqa::DecodeBatch& from) {
    mqa::DecodeBatch to = from;
    for (auto& layer : to.self) {
      layer.k = layer.k.clone();
      layer.v = layer.v.clone();
    }
    to.pos = from.pos.clone();
    to.tokens = from.tokens.clone();
    return to;
  };
  auto finite_cache_elements = [](const mqa::DecodeBatch& batch) {
    int64_t n = 0;
    for (const auto& layer : batch.self)
      n += layer.k.isfinite().sum().item<int64_t>() + layer.v.isfinite().sum().item<int64_t>();
    return n;
  };
  double read_positions = 0;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t first_read = std::max<int64_t>(0, t + 1 - c.window);
    if (t == 2) {
      // Cache writes of one step: what it changes in caches holding NaN at the positions not written yet.
      for (auto& layer : st.self) {
        layer.k.narrow(2, t, T - t).fill_(NAN);
        layer.v.narrow(2, t, T - t).fill_(NAN);
      }
      auto probe = copy_of(st);
      engine.step(probe);
      const int64_t written = finite_cache_elements(probe) - finite_cache_elements(st);
      EXPECT_DOUBLE_EQ(cost.cache_write_bytes, static_cast<double>(written * e));
    }
    if (first_read > 0) {
      // Positions before the window are never read: NaN there leaves the logits finite ...
      auto probe = copy_of(st);
      for (auto& layer : probe.self) {
        layer.k.narrow(2, 0, first_read).fill_(NAN);
        layer.v.narrow(2, 0, first_read).fill_(NAN);
      }
      EXPECT_TRUE(engine.step(probe).isfinite().all().item<bool>()) << "step " << t;
      // ... while the first position inside it is.
      probe = copy_of(st);
      for (auto& layer : probe.self) layer.v.narrow(2, first_read, 1).fill_(NAN);
      EXPECT_FALSE(engine.step(probe).isfinite().all().item<bool>()) << "step " << t;
    }
    read_positions += static_cast<double>(t + 1 - first_read);
    st.tokens.copy_(engine.step(st).argmax(-1));  // logits [N, V] -> [N]
    engine.advance(st);
  }
  const double attended = read_positions / T;  // (1 + 2 + 3 + 3 + 3) / 5
  EXPECT_DOUBLE_EQ(cost.attended, attended);
  EXPECT_DOUBLE_EQ(cost.self_kv_read_bytes, N * c.decoder_layers * per_position * attended * e);

  const double attention_flops = N * c.decoder_layers * 2.0 * c.heads * (c.d_k + c.d_v) * (attended + S);
  EXPECT_DOUBLE_EQ(cost.flops, 2.0 * N * matrix_weights + 2.0 * N * (read_params - matrix_weights) + attention_flops);
}

TEST(Roofline, MeasuredCeilingsArePositiveAndTheFloorIsTheLargerTerm) {
  auto c = mqa::bench::measure_ceilings(torch::kCPU, torch::kFloat32, 2);
  EXPECT_GT(c.copy_bytes_per_s, 0);
  EXPECT_GT(c.matmul_flops_per_s, 0);
  EXPECT_TRUE(std::isfinite(c.copy_bytes_per_s) && std::isfinite(c.matmul_flops_per_s));
  mqa::bench::Ceilings fixed;
  fixed.copy_bytes_per_s = 1e9;
  fixed.matmul_flops_per_s = 1e12;
  auto f = mqa::bench::floor_of(2e6, 1e9, fixed);  // 2 ms of bytes, 1 ms of FLOPs
  EXPECT_DOUBLE_EQ(f.seconds(), 2e-3);
  EXPECT_STREQ(f.bound(), "memory");
  EXPECT_STREQ(mqa::bench::floor_of(1e6, 4e9, fixed).bound(), "compute");
}

// The datasheet rates MFU is also reported against: by the names CUDA reports, the more specific parts first (an
// H100 PCIe is not an SXM H100), bf16 and fp16 alike, nothing for fp32 or an unknown device.
TEST(Roofline, DatasheetMatmulRateByDeviceName) {
  using mqa::bench::datasheet_matmul_flops_per_s;
  EXPECT_DOUBLE_EQ(datasheet_matmul_flops_per_s("NVIDIA H100 80GB HBM3", torch::kBFloat16), 989.4e12);
  EXPECT_DOUBLE_EQ(datasheet_matmul_flops_per_s("NVIDIA H100 PCIe", torch::kBFloat16), 756.5e12);
  EXPECT_DOUBLE_EQ(datasheet_matmul_flops_per_s("NVIDIA H200", torch::kHalf), 989.4e12);
  EXPECT_DOUBLE_EQ(datasheet_matmul_flops_per_s("NVIDIA A100-SXM4-80GB", torch::kBFloat16), 312e12);
  EXPECT_EQ(datasheet_matmul_flops_per_s("NVIDIA H100 80GB HBM3", torch::kFloat32), 0);
  EXPECT_EQ(datasheet_matmul_flops_per_s("cpu", torch::kBFloat16), 0);
}

TEST(Timer, StatisticsOfRepeats) {
  auto s = mqa::summarize({5.0, 1.0, 3.0});
  EXPECT_EQ(s.median, 3.0);
  EXPECT_EQ(s.min, 1.0);
  EXPECT_EQ(s.max, 5.0);
  EXPECT_EQ(s.n, 3);
  EXPECT_EQ(mqa::summarize({4.0, 1.0, 3.0, 2.0}).median, 2.5);
  EXPECT_EQ(mqa::summarize({7.0}).median, 7.0);
  EXPECT_THROW(mqa::summarize({}), std::invalid_argument);
}

TEST(TrainBench, TheTimedStepTrainsTheModelOnItsBatch) {
  auto c = tiny(1, 0);
  torch::manual_seed(9);
  Transformer m(c, kVocab, 0);
  auto src = torch::randint(4, kVocab, {4, 6}, torch::kLong);
  auto tgt_out = torch::randint(4, kVocab, {4, 5}, torch::kLong);
  auto tgt_in = torch::cat({torch::full({4, 1}, kBos, torch::kLong), tgt_out.narrow(1, 0, 4)}, 1);
  mqa::bench::TrainBenchOptions o;
  o.warmup = 2;
  o.repeats = 10;
  o.lr = 1e-2;
  auto r = mqa::bench::run_train_bench(m, src, tgt_in, tgt_out, o);
  ASSERT_EQ(r.losses.size(), 12u);
  EXPECT_FALSE(r.autocast);
  EXPECT_NEAR(r.losses.front(), std::log(static_cast<double>(kVocab)), 1.0);  // about uniform at the start
  EXPECT_LT(r.losses.back(), 0.7 * r.losses.front());
  EXPECT_EQ(r.step_ms.n, 10);
}

TEST(BenchCommand, DecodeAndTrainWriteOneJsonLinePerResult) {
  mqa::test::TempDir dir;
  auto config = dir.write("tiny.yaml", R"(model:
  type: seq2seq
  encoder_layers: 1
  decoder_layers: 2
  d_model: 16
  heads: 4
  kv_heads: 1
  d_k: 4
  d_v: 4
  d_ff: 32
  window: 3
  max_positions: 16
  vocab_size: 30
data:
  max_len: 15
bench:
  batch_size: 2
  source_len: 5
  target_len: 6
  beam_size: 2
  warmup: 0
  repeats: 1
  check_every: 4
  device: cpu
)");
  auto json = dir.path("out.jsonl");
  const std::string mqa = mqa::test::mqa_binary();
  ASSERT_EQ(std::system((mqa + " bench decode " + config + " --label tiny --json " + json + " > " +
                         dir.path("decode.log") + " 2>&1").c_str()),
            0);
  ASSERT_EQ(std::system((mqa + " bench train " + config + " --json " + json + " > " + dir.path("train.log") +
                         " 2>&1").c_str()),
            0);
  std::ifstream in(json);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[0].find(R"("mode": "greedy")"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find(R"("mode": "beam")"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find(R"("beams": 2)"), std::string::npos) << lines[1];
  EXPECT_NE(lines[0].find(R"("label": "tiny")"), std::string::npos) << lines[0];
  EXPECT_NE(lines[2].find(R"("kind": "train")"), std::string::npos) << lines[2];
  EXPECT_EQ(std::system((mqa + " bench decode " + config + " --modes sampled > /dev/null 2>&1").c_str()) == 0, false);

  // --shapes: one result per BATCH:SOURCE_LEN:TARGET_LEN point (what translate's batches were), in order.
  auto shapes_json = dir.path("shapes.jsonl");
  ASSERT_EQ(std::system((mqa + " bench decode " + config + " --modes beam --shapes 3:8:4,1:12:7 --json " +
                         shapes_json + " > " + dir.path("shapes.log") + " 2>&1").c_str()),
            0);
  std::ifstream shapes_in(shapes_json);
  std::vector<std::string> points;
  for (std::string l; std::getline(shapes_in, l);) points.push_back(l);
  ASSERT_EQ(points.size(), 2u);
  EXPECT_NE(points[0].find(R"("batch": 3, "beams": 2, "source_len": 8, "target_len": 4)"), std::string::npos)
      << points[0];
  EXPECT_NE(points[1].find(R"("batch": 1, "beams": 2, "source_len": 12, "target_len": 7)"), std::string::npos)
      << points[1];
  for (const std::string bad : {"3:8", "3:8:0", "3:x:4", "3:8:4 --batches 2"})
    EXPECT_NE(std::system((mqa + " bench decode " + config + " --shapes " + bad + " > /dev/null 2>&1").c_str()), 0)
        << bad;
}

// On a CUDA machine: the bf16 kernel path with the step replayed as a captured graph computes what the same path
// computes eagerly, and its beams' scores are the full model's. Skipped elsewhere.
class BenchCuda : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  }
};

TEST_P(BenchCuda, GraphReplaysGiveTheEagerDecodesTokensAndTheScoresAreTheModels) {
  auto c = tiny(GetParam().kv_heads, GetParam().window);
  c.d_k = c.d_v = 8;  // the attention kernel's granularity
  auto m = make(c);
  m->to(torch::kCUDA, torch::kBFloat16);
  torch::manual_seed(6);
  auto src = torch::randint(4, kVocab, {3, 7}, torch::TensorOptions(torch::kCUDA).dtype(torch::kLong));
  const int64_t steps = 13, K = 3;
  for (int64_t beams : {int64_t{1}, K}) {
    auto r = mqa::bench::run_decode_bench(m, src, options(beams, steps));
    EXPECT_EQ(r.graph_error, "");
    EXPECT_TRUE(r.kernels);
    EXPECT_TRUE(r.graph);
    EXPECT_EQ(r.graph_eager_agreement, 1.0) << "beams " << beams;
    for (int64_t b = 0; b < 3; ++b)
      for (const auto& h : r.outputs[b])  // bf16: a mixed-up history would be off by nats, not hundredths
        EXPECT_NEAR(h.logprob, rescored(m, src, b, h.tokens), 0.05 * steps) << "beams " << beams << " source " << b;
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, BenchCuda, ::testing::ValuesIn(kVariants),
                         [](const auto& info) { return std::string(info.param.name); });
