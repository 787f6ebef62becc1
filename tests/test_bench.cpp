// The benchmark's own correctness (issue 7): the timed decode loop (the same step function the GPU captures as
// graphs, run eagerly here) produces exactly the tokens of a plain greedy decode and of a plain beam search, and
// its beam scores are the log-probabilities the full model gives its outputs; the bytes/FLOPs model equals a hand
// count; the statistics of repeated timings; the training step trains. No timing assertions.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "mqa/bench/decode_bench.h"
#include "mqa/bench/roofline.h"
#include "mqa/bench/timer.h"
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

// Plain greedy decoding: step, argmax, feed back. [B, T]
torch::Tensor plain_greedy(Transformer& m, const torch::Tensor& src, int64_t steps) {
  torch::NoGradGuard no_grad;
  auto enc = m->encode(src);
  auto st = m->start(&enc, src.size(0), steps);
  auto tok = torch::full({src.size(0)}, kBos, src.options());
  std::vector<torch::Tensor> out;
  for (int64_t t = 0; t < steps; ++t) {
    tok = m->step(st, tok).argmax(-1);
    out.push_back(tok);
  }
  return torch::stack(out, 1);
}

// Plain fixed-length beam search with the out-of-place reorder; returns tokens [B*K, T] and scores [B, K].
std::pair<torch::Tensor, torch::Tensor> plain_beam(Transformer& m, const torch::Tensor& src, int64_t K, int64_t steps) {
  torch::NoGradGuard no_grad;
  const int64_t B = src.size(0);
  auto enc = m->encode(src);
  auto st = m->start(&enc, B, steps, K);
  auto tok = torch::full({B * K}, kBos, torch::kLong);
  auto scores = torch::full({B, K}, -1e9, torch::kFloat32);
  scores.select(1, 0).fill_(0);
  torch::Tensor hist = torch::zeros({B * K, 0}, torch::kLong);
  for (int64_t t = 0; t < steps; ++t) {
    auto logp = torch::log_softmax(m->step(st, tok).to(torch::kFloat32), -1);  // [B*K, V]
    auto total = (scores.view({B * K, 1}) + logp).view({B, K * kVocab});
    auto [best, index] = total.topk(K, -1);
    auto from = torch::div(index, kVocab, "floor"), word = index - from * kVocab;
    auto rows = (torch::arange(B, torch::kLong).unsqueeze(1) * K + from).view({B * K});
    m->reorder(st, rows);
    hist = torch::cat({hist.index_select(0, rows), word.view({B * K, 1})}, 1);
    tok = word.view({B * K});
    scores = best;
  }
  return {hist, scores};
}

mqa::bench::DecodeBenchOptions options(int64_t beams, int64_t bucket, int64_t steps) {
  mqa::bench::DecodeBenchOptions o;
  o.target_len = steps;
  o.beams = beams;
  o.warmup = 1;
  o.repeats = 2;
  o.bucket = bucket;
  o.bos = kBos;
  return o;
}

struct Variant {
  const char* name;
  int kv_heads, window;
};
const Variant kVariants[] = {{"multi_head", 4, 0}, {"multi_query", 1, 0}, {"multi_head_local3", 4, 3},
                             {"multi_query_local5", 1, 5}};

}  // namespace

class DecodeBench : public ::testing::TestWithParam<Variant> {};

TEST_P(DecodeBench, GreedyTokensEqualPlainGreedyDecodeForEveryBucket) {
  auto m = make(tiny(GetParam().kv_heads, GetParam().window));
  torch::manual_seed(3);
  auto src = torch::randint(4, kVocab, {3, 7}, torch::kLong);
  const int64_t steps = 11;
  auto expected = plain_greedy(m, src, steps);
  for (int64_t bucket : {1, 4, 16}) {
    auto r = mqa::bench::run_decode_bench(m, src, options(1, bucket, steps));
    EXPECT_TRUE(torch::equal(r.tokens, expected)) << "bucket " << bucket;
    EXPECT_EQ(r.graphs, 0);  // CPU: the same step function, eagerly
    EXPECT_EQ(r.decoder_ms.n, 2);
  }
}

TEST_P(DecodeBench, BeamTokensAndScoresEqualPlainBeamSearchWithInPlaceReorder) {
  auto m = make(tiny(GetParam().kv_heads, GetParam().window));
  torch::manual_seed(4);
  auto src = torch::randint(4, kVocab, {2, 6}, torch::kLong);
  const int64_t steps = 9, K = 4;
  auto [tokens, scores] = plain_beam(m, src, K, steps);
  for (int64_t bucket : {1, 4}) {
    auto r = mqa::bench::run_decode_bench(m, src, options(K, bucket, steps));
    EXPECT_TRUE(torch::equal(r.tokens, tokens)) << "bucket " << bucket;
    EXPECT_LT((r.scores - scores).abs().max().item<double>(), 1e-4) << "bucket " << bucket;
  }
}

TEST_P(DecodeBench, BeamScoresAreTheFullModelsLogProbabilitiesOfTheBeamsTokens) {
  // Independent of any reference search: if the in-place cache reorder mixed up histories, the teacher-forced
  // score of a returned hypothesis would differ from the score the search accumulated for it.
  auto m = make(tiny(GetParam().kv_heads, GetParam().window));
  torch::manual_seed(5);
  auto src = torch::randint(4, kVocab, {2, 8}, torch::kLong);
  const int64_t steps = 10, K = 3;
  auto r = mqa::bench::run_decode_bench(m, src, options(K, 4, steps));
  torch::NoGradGuard no_grad;
  auto tgt_in = torch::cat({torch::full({2 * K, 1}, kBos, torch::kLong), r.tokens.narrow(1, 0, steps - 1)}, 1);
  auto logp = torch::log_softmax(m->forward(src.repeat_interleave(K, 0), tgt_in), -1);  // [B*K, T, V]
  auto rescored = logp.gather(2, r.tokens.unsqueeze(2)).sum({1, 2}).view({2, K});
  EXPECT_LT((rescored - r.scores).abs().max().item<double>(), 1e-3);
  // Beams are distinct hypotheses, best first.
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t k = 1; k < K; ++k) {
      EXPECT_GE(r.scores[b][k - 1].item<double>(), r.scores[b][k].item<double>());
      EXPECT_FALSE(torch::equal(r.tokens[b * K + k], r.tokens[b * K + k - 1]));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, DecodeBench, ::testing::ValuesIn(kVariants),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(KVCache, SelectRowsIntoMovesOnlyTheRangeAndKeepsStorage) {
  mqa::KVCache c(3, 2, 8, 4, 5, torch::TensorOptions());
  c.k.copy_(torch::randn_like(c.k));
  c.v.copy_(torch::randn_like(c.v));
  auto k0 = c.k.clone(), v0 = c.v.clone();
  const void* storage = c.k.data_ptr();
  auto rows = torch::tensor({2, 2, 0}, torch::kLong);
  c.select_rows_into(rows, 3, 6);
  EXPECT_EQ(c.k.data_ptr(), storage);
  EXPECT_TRUE(torch::equal(c.k.narrow(2, 3, 3), k0.narrow(2, 3, 3).index_select(0, rows)));
  EXPECT_TRUE(torch::equal(c.v.narrow(2, 3, 3), v0.narrow(2, 3, 3).index_select(0, rows)));
  EXPECT_TRUE(torch::equal(c.k.narrow(2, 0, 3), k0.narrow(2, 0, 3)));
  EXPECT_TRUE(torch::equal(c.v.narrow(2, 6, 2), v0.narrow(2, 6, 2)));
  EXPECT_THROW(c.select_rows_into(torch::tensor({0, 1}, torch::kLong), 0, 2), c10::Error);
}

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
  // The same from the model's own parameters: everything but the encoder, the positions and the cross K/V.
  {
    Transformer m(c, 10, 0);
    int64_t n = 0;
    for (const auto& p : m->named_parameters()) {
      const auto& name = p.key();
      if (name.rfind("encoder", 0) == 0 || name.rfind("position_embedding", 0) == 0 ||
          name.find("cross_attn.k_proj") != std::string::npos || name.find("cross_attn.v_proj") != std::string::npos)
        continue;
      n += p.value().numel();
    }
    EXPECT_EQ(n, 1552);
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

TEST(Timer, StatisticsOfRepeats) {
  auto s = mqa::bench::summarize({5.0, 1.0, 3.0});
  EXPECT_EQ(s.median, 3.0);
  EXPECT_EQ(s.min, 1.0);
  EXPECT_EQ(s.max, 5.0);
  EXPECT_EQ(s.n, 3);
  EXPECT_EQ(mqa::bench::summarize({4.0, 1.0, 3.0, 2.0}).median, 2.5);
  EXPECT_EQ(mqa::bench::summarize({7.0}).median, 7.0);
  EXPECT_THROW(mqa::bench::summarize({}), std::invalid_argument);
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
  bucket: 4
  device: cpu
)");
  auto json = dir.path("out.jsonl");
  const std::string mqa = std::string(MQA_BINARY_DIR) + "/mqa";
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
}

// On a CUDA machine: the captured graphs (one per bucket of positions) replay exactly what the plain decode
// computes. Skipped elsewhere.
class BenchCuda : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  }
};

TEST_P(BenchCuda, GraphReplaysGiveThePlainDecodesTokensAndScores) {
  auto m = make(tiny(GetParam().kv_heads, GetParam().window));
  m->to(torch::kCUDA);  // fp32: token equality with the plain decode is not at the mercy of bf16 near-ties
  torch::manual_seed(6);
  auto src = torch::randint(4, kVocab, {3, 7}, torch::TensorOptions(torch::kCUDA).dtype(torch::kLong));
  const int64_t steps = 13, K = 3;
  auto greedy = mqa::bench::run_decode_bench(m, src, options(1, 4, steps));
  EXPECT_EQ(greedy.graph_error, "");
  EXPECT_EQ(greedy.graphs, 4);  // ceil(13 / 4)
  EXPECT_EQ(greedy.graph_eager_agreement, 1.0);
  EXPECT_TRUE(torch::equal(greedy.tokens, plain_greedy(m, src, steps).cpu()));

  auto beam = mqa::bench::run_decode_bench(m, src, options(K, 4, steps));
  EXPECT_EQ(beam.graph_error, "");
  EXPECT_EQ(beam.graph_eager_agreement, 1.0);
  torch::NoGradGuard no_grad;
  auto tokens = beam.tokens.to(torch::kCUDA);
  auto tgt_in = torch::cat({torch::full({3 * K, 1}, kBos, tokens.options()), tokens.narrow(1, 0, steps - 1)}, 1);
  auto logp = torch::log_softmax(m->forward(src.repeat_interleave(K, 0), tgt_in), -1);
  auto rescored = logp.gather(2, tokens.unsqueeze(2)).sum({1, 2}).view({3, K}).cpu();
  EXPECT_LT((rescored - beam.scores).abs().max().item<double>(), 1e-3);
}

INSTANTIATE_TEST_SUITE_P(Variants, BenchCuda, ::testing::ValuesIn(kVariants),
                         [](const auto& info) { return std::string(info.param.name); });
