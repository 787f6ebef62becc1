// The model's invariants (issue 3): cached step-by-step decoding equals the full forward for every attention
// variant; multi-query equals multi-head with copied K/V heads; local attention sees only its window; a padded
// batch equals its sentences alone; parameter counts match hand-derived ones.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "mqa/config/config.h"
#include "mqa/model/transformer.h"
#include "test_util.h"

using mqa::ModelConfig;
using mqa::Transformer;

namespace {

constexpr int64_t kVocab = 50, kPad = 0, kBos = 2;

struct Variant {
  const char* name;
  int heads, kv_heads, d_k, d_v, window;
};
const Variant kVariants[] = {
    {"multi_head_h8", 8, 8, 8, 8, 0},  {"multi_query", 8, 1, 8, 8, 0},      {"grouped_query_g2", 8, 2, 8, 8, 0},
    {"local_window3", 8, 8, 8, 8, 3},  {"multi_query_local3", 8, 1, 8, 8, 3}, {"h1_dk128", 1, 1, 128, 128, 0},
    {"h8_dk16", 8, 8, 16, 16, 0},      {"dk_ne_dv", 4, 2, 12, 20, 0},
};

ModelConfig tiny(const std::string& type, const Variant& v) {
  ModelConfig c;
  c.type = type;
  c.encoder_layers = 2;
  c.decoder_layers = 2;
  c.d_model = 32;
  c.heads = v.heads;
  c.kv_heads = v.kv_heads;
  c.d_k = v.d_k;
  c.d_v = v.d_v;
  c.window = v.window;
  c.d_ff = 64;
  c.dropout = 0;
  c.max_positions = 64;
  return c;
}

// Random tokens in [4, vocab) for rows of the given lengths, right-padded.
torch::Tensor padded_tokens(const std::vector<int64_t>& lengths, bool with_bos) {
  int64_t longest = *std::max_element(lengths.begin(), lengths.end());
  auto t = torch::full({static_cast<int64_t>(lengths.size()), longest}, kPad, torch::kLong);
  for (size_t b = 0; b < lengths.size(); ++b) {
    auto row = torch::randint(4, kVocab, {lengths[b]}, torch::kLong);
    if (with_bos) row[0] = kBos;
    t[b].narrow(0, 0, lengths[b]).copy_(row);
  }
  return t;
}

Transformer make(const ModelConfig& c) {
  torch::manual_seed(7);
  Transformer m(c, kVocab, kPad);
  m->eval();
  return m;
}

// Feeds tgt_in column by column through the cache; returns logits [N, T, V].
torch::Tensor incremental_logits(Transformer& m, mqa::DecodeState& st, const torch::Tensor& tgt_in) {
  std::vector<torch::Tensor> out;
  for (int64_t t = 0; t < tgt_in.size(1); ++t) out.push_back(m->step(st, tgt_in.select(1, t).contiguous()));
  return torch::stack(out, 1);
}

// Max |a - b| over positions t < lengths[b].
double max_diff_valid(const torch::Tensor& a, const torch::Tensor& b, const std::vector<int64_t>& lengths) {
  double worst = 0;
  for (size_t i = 0; i < lengths.size(); ++i) {
    auto d = (a[i].narrow(0, 0, lengths[i]) - b[i].narrow(0, 0, lengths[i])).abs().max().item<double>();
    worst = std::max(worst, d);
  }
  return worst;
}

}  // namespace

class CachedDecoding : public ::testing::TestWithParam<Variant> {};

TEST_P(CachedDecoding, Seq2SeqStepByStepEqualsFullForward) {
  torch::NoGradGuard no_grad;
  auto m = make(tiny("seq2seq", GetParam()));
  std::vector<int64_t> src_len = {7, 4, 9}, tgt_len = {5, 8, 3};
  auto src = padded_tokens(src_len, false), tgt = padded_tokens(tgt_len, true);
  auto full = m->forward(src, tgt);
  auto enc = m->encode(src);
  auto st = m->start(&enc, 3, tgt.size(1));
  EXPECT_LT(max_diff_valid(incremental_logits(m, st, tgt), full, tgt_len), 1e-5);
}

TEST_P(CachedDecoding, LanguageModelStepByStepEqualsFullForward) {
  torch::NoGradGuard no_grad;
  auto m = make(tiny("lm", GetParam()));
  std::vector<int64_t> len = {6, 11, 2};
  auto tokens = padded_tokens(len, true);
  auto full = m->forward(torch::Tensor(), tokens);
  auto st = m->start(nullptr, 3, tokens.size(1));
  EXPECT_LT(max_diff_valid(incremental_logits(m, st, tokens), full, len), 1e-5);
}

TEST_P(CachedDecoding, BeamsShareCrossAttentionAndReorderKeepsThemExact) {
  torch::NoGradGuard no_grad;
  auto m = make(tiny("seq2seq", GetParam()));
  const int64_t beams = 3, steps = 6, after_drop = 2;
  std::vector<int64_t> src_len = {5, 8};
  auto src = padded_tokens(src_len, false);
  // Row r = source r / beams; each row its own target prefix.
  auto tgt = padded_tokens(std::vector<int64_t>(2 * beams, steps + after_drop), true);
  auto enc = m->encode(src);
  auto st = m->start(&enc, 2, steps + after_drop, beams);
  EXPECT_EQ(st.cross_k[0].size(0), 2);  // one copy per source, not per beam
  // Three steps, then permute the beams within each source (as beam search does), then three more.
  std::vector<torch::Tensor> got;
  for (int t = 0; t < 3; ++t) got.push_back(m->step(st, tgt.select(1, t).contiguous()));
  auto perm = torch::tensor({2, 2, 0, 4, 3, 5}, torch::kLong);  // rows stay within their source's block
  m->reorder(st, perm);
  auto history = torch::stack(got, 1).index_select(0, perm);
  auto tgt_after =
      torch::cat({tgt.narrow(1, 0, 3).index_select(0, perm), tgt.narrow(1, 3, steps + after_drop - 3)}, 1);
  std::vector<torch::Tensor> rest;
  for (int t = 3; t < steps; ++t) rest.push_back(m->step(st, tgt_after.select(1, t).contiguous()));
  auto inc = torch::cat({history, torch::stack(rest, 1)}, 1);
  auto full = m->forward(src.repeat_interleave(beams, 0), tgt_after.narrow(1, 0, steps));
  EXPECT_LT((inc - full).abs().max().item<double>(), 1e-5);

  // Dropping a finished source (source 0: rows 0-2) keeps the rest exact: the remaining rows continue with source
  // 1's cross-attention keys/values and their own self-attention history, so two more steps give the logits of the
  // full forward pass of source 1 alone.
  auto keep_rows = torch::tensor({3, 4, 5}, torch::kLong);
  m->reorder(st, keep_rows, torch::tensor({1}, torch::kLong));
  EXPECT_EQ(st.cross_k[0].size(0), 1);
  auto tgt_kept = tgt_after.index_select(0, keep_rows);  // [3, steps + after_drop]
  std::vector<torch::Tensor> dropped_steps;
  for (int64_t t = steps; t < steps + after_drop; ++t)
    dropped_steps.push_back(m->step(st, tgt_kept.select(1, t).contiguous()));
  auto inc_kept = torch::stack(dropped_steps, 1);                      // [3, after_drop, V]
  auto full_kept = m->forward(src.narrow(0, 1, 1).repeat_interleave(beams, 0).narrow(1, 0, src_len[1]),
                              tgt_kept).narrow(1, steps, after_drop);  // [3, after_drop, V]
  EXPECT_LT((inc_kept - full_kept).abs().max().item<double>(), 1e-5);
  // ... and they are not what source 0 would give (the comparison can tell the sources apart).
  auto full_other = m->forward(src.narrow(0, 0, 1).repeat_interleave(beams, 0).narrow(1, 0, src_len[0]),
                               tgt_kept).narrow(1, steps, after_drop);
  EXPECT_GT((inc_kept - full_other).abs().max().item<double>(), 1e-3);
}

TEST_P(CachedDecoding, BucketedCacheReadsGiveTheSameLogits) {
  torch::NoGradGuard no_grad;
  auto m = make(tiny("lm", GetParam()));
  std::vector<int64_t> len = {9, 9};
  auto tokens = padded_tokens(len, true);
  auto full = m->forward(torch::Tensor(), tokens);
  auto st = m->start(nullptr, 2, 16);
  st.bucket = 4;
  EXPECT_LT(max_diff_valid(incremental_logits(m, st, tokens), full, len), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Variants, CachedDecoding, ::testing::ValuesIn(kVariants),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(Attention, MultiQueryEqualsMultiHeadWithCopiedKeyValueHeads) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(3);
  mqa::AttentionOptions mq{32, 4, 1, 8, 8, false, 0, 0.0}, mh{32, 4, 4, 8, 8, false, 0, 0.0};
  mqa::Attention a(mq), b(mh);
  b->q_proj->weight.copy_(a->q_proj->weight);
  b->o_proj->weight.copy_(a->o_proj->weight);
  b->k_proj->weight.copy_(a->k_proj->weight.repeat({4, 1}));  // every head a copy of the single head
  b->v_proj->weight.copy_(a->v_proj->weight.repeat({4, 1}));
  auto x = torch::randn({2, 5, 32}), mem = torch::randn({2, 7, 32});
  auto pad = torch::zeros({2, 7}, torch::kBool);
  pad[1][6] = true;
  EXPECT_LT((a(x, mem, pad) - b(x, mem, pad)).abs().max().item<double>(), 1e-6);
}

TEST(Attention, LocalWindowHasNoGradientBeforeTheWindow) {
  torch::manual_seed(5);
  const int64_t w = 3, t = 7;
  mqa::Attention a(mqa::AttentionOptions{16, 4, 2, 4, 4, true, w, 0.0});
  auto x = torch::randn({1, 10, 16}, torch::requires_grad());
  a(x, x)[0][t].sum().backward();
  auto g = x.grad()[0].abs().sum(1);  // [T]
  for (int64_t j = 0; j < 10; ++j) {
    if (j > t - w && j <= t)
      EXPECT_GT(g[j].item<double>(), 0) << "position " << j << " is inside the window";
    else
      EXPECT_EQ(g[j].item<double>(), 0) << "position " << j << " is outside the window";
  }
}

TEST(Transformer, PaddedBatchEqualsEachSentenceAlone) {
  torch::NoGradGuard no_grad;
  auto m = make(tiny("seq2seq", kVariants[1]));
  std::vector<int64_t> src_len = {3, 9, 6}, tgt_len = {7, 2, 5};
  auto src = padded_tokens(src_len, false), tgt = padded_tokens(tgt_len, true);
  auto batched = m->forward(src, tgt);
  for (size_t i = 0; i < src_len.size(); ++i) {
    auto alone = m->forward(src[i].narrow(0, 0, src_len[i]).unsqueeze(0), tgt[i].narrow(0, 0, tgt_len[i]).unsqueeze(0));
    auto d = (batched[i].narrow(0, 0, tgt_len[i]) - alone[0]).abs().max().item<double>();
    EXPECT_LT(d, 1e-5) << "sentence " << i;
  }
}

TEST(Transformer, TrainingModeDropoutChangesOutputsEvalDoesNot) {
  auto c = tiny("lm", kVariants[0]);
  c.dropout = 0.3;
  c.attention_dropout = 0.2;
  auto m = make(c);
  auto tokens = padded_tokens({8, 8}, true);
  torch::NoGradGuard no_grad;
  auto e1 = m->forward({}, tokens), e2 = m->forward({}, tokens);
  EXPECT_TRUE(torch::equal(e1, e2));
  m->train();
  auto t1 = m->forward({}, tokens);
  EXPECT_FALSE(torch::allclose(e1, t1));
}

namespace {
// Parameters of the paper's sizes, derived by hand from the architecture (no biases in attention, biases in the
// feed-forward, LayerNorm weight + bias, pre-norm final norms, learned positions, one shared embedding table
// that is also the output projection).
int64_t hand_count(int64_t V, int64_t P, int64_t D, int64_t h, int64_t g, int64_t dk, int64_t dv, int64_t ff,
                   int64_t enc, int64_t dec) {
  const int64_t attention = D * h * dk + D * g * dk + D * g * dv + h * dv * D;  // Q, K, V, O
  const int64_t ffn = D * ff + ff + ff * D + D;
  const int64_t norm = 2 * D;
  const int64_t encoder = enc * (attention + ffn + 2 * norm) + norm;
  const int64_t decoder = dec * (2 * attention + ffn + 3 * norm) + norm;
  return V * D + P * D + encoder + decoder;
}
int64_t total_params(const Transformer& m) {
  int64_t n = 0;
  for (const auto& p : m->parameters()) n += p.numel();
  return n;
}
}  // namespace

TEST(Transformer, PaperBaselineAndMultiQueryParameterCounts) {
  auto base = mqa::load_config(mqa::test::source_path("configs/wmt14/base.yaml")).config;
  auto mq = mqa::load_config(mqa::test::source_path("configs/wmt14/multi_query.yaml")).config;
  const int64_t V = base.data.vocab_size;  // 32000
  Transformer b(base.model, V, 0), q(mq.model, V, 0);
  EXPECT_EQ(total_params(b), hand_count(V, 256, 1024, 8, 8, 128, 128, 4096, 6, 6));
  EXPECT_EQ(total_params(q), hand_count(V, 256, 1024, 8, 1, 128, 128, 5440, 6, 6));
  // The paper raises d_ff to 5440 so that multi-query keeps the baseline's size: within 0.1%.
  EXPECT_NEAR(static_cast<double>(total_params(q)) / total_params(b), 1.0, 1e-3);
}
