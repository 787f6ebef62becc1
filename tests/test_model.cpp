// The model's invariants (issues 3, 14): the decode engine's cached step-by-step decoding (and an LM prompt's
// prefill) equals the full forward for every attention variant, also across beam reorders (rows gathered, or read
// through the kernel path's row table); multi-query equals multi-head with copied K/V heads; local attention sees only its window; a padded
// batch equals its sentences alone; parameter counts match hand-derived ones.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "mqa/config/config.h"
#include "mqa/decode/engine.h"
#include "mqa/model/transformer.h"
#include "mqa/util/linear_relu.h"
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

// Feeds tgt_in [N, T] column by column through the engine; at step `reorder_at` (after its step) row r takes over
// the history of row perm[r]. Returns logits [N, T, V].
torch::Tensor incremental_logits(mqa::DecodeEngine& e, mqa::DecodeBatch& batch, const torch::Tensor& tgt_in,
                                 int64_t reorder_at = -1, const torch::Tensor& perm = {}) {
  std::vector<torch::Tensor> out;
  for (int64_t t = 0; t < tgt_in.size(1); ++t) {
    batch.tokens.copy_(tgt_in.select(1, t));
    out.push_back(e.step(batch));
    if (t == reorder_at) e.reorder(batch, perm);
    e.advance(batch);
  }
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
  mqa::DecodeEngine e(m, mqa::engine_options(torch::kFloat32));
  mqa::DecodeBatch batch;
  e.start_sources(batch, src, 1, tgt.size(1), kBos, false);
  EXPECT_LT(max_diff_valid(incremental_logits(e, batch, tgt), full, tgt_len), 1e-5);
}

TEST_P(CachedDecoding, LanguageModelPrefillThenStepsEqualFullForward) {
  torch::NoGradGuard no_grad;
  auto m = make(tiny("lm", GetParam()));
  std::vector<int64_t> len = {6, 11, 2}, prompt_len = {3, 5, 1};
  auto tokens = padded_tokens(len, true);
  auto full = m->forward(torch::Tensor(), tokens);  // [N, T, V]
  std::vector<std::vector<int64_t>> prompts;
  for (size_t r = 0; r < len.size(); ++r) {
    auto p = tokens[r].narrow(0, 0, prompt_len[r]);
    prompts.emplace_back(p.data_ptr<int64_t>(), p.data_ptr<int64_t>() + prompt_len[r]);
  }
  mqa::DecodeEngine e(m, mqa::engine_options(torch::kFloat32));
  mqa::DecodeBatch batch;
  auto first = e.start_prompts(batch, prompts, tokens.size(1));  // after each prompt's last token
  for (size_t r = 0; r < len.size(); ++r)
    EXPECT_LT((first[r] - full[r][prompt_len[r] - 1]).abs().max().item<double>(), 1e-5) << "prompt " << r;
  // Then the rest of each sequence, one token a step, every row at its own position (within the cache's 11).
  e.advance(batch);
  for (int64_t t = 0; t < 6; ++t) {
    std::vector<int64_t> next(len.size(), kPad);
    for (size_t r = 0; r < len.size(); ++r)
      if (prompt_len[r] + t < len[r]) next[r] = tokens[r][prompt_len[r] + t].item<int64_t>();
    batch.tokens.copy_(torch::tensor(next, torch::kLong));
    auto logits = e.step(batch);
    for (size_t r = 0; r < len.size(); ++r)
      if (prompt_len[r] + t < len[r])
        EXPECT_LT((logits[r] - full[r][prompt_len[r] + t]).abs().max().item<double>(), 1e-5) << "row " << r << " t " << t;
    e.advance(batch);
  }
}

TEST_P(CachedDecoding, BeamsShareCrossAttentionAndReorderKeepsThemExact) {
  torch::NoGradGuard no_grad;
  auto m = make(tiny("seq2seq", GetParam()));
  const int64_t beams = 3, steps = 6;
  std::vector<int64_t> src_len = {5, 8};
  auto src = padded_tokens(src_len, false);
  // Row r = source r / beams; each row its own target prefix.
  auto tgt = padded_tokens(std::vector<int64_t>(2 * beams, steps), true);
  // After three steps the beams are permuted within each source (as beam search does), then three more steps.
  auto perm = torch::tensor({2, 2, 0, 4, 3, 5}, torch::kLong);
  auto tgt_after = torch::cat({tgt.narrow(1, 0, 3).index_select(0, perm), tgt.narrow(1, 3, 3)}, 1);
  auto full = m->forward(src.repeat_interleave(beams, 0), tgt_after);
  for (bool table : {false, true}) {
    mqa::DecodeEngine e(m, mqa::engine_options(torch::kFloat32));
    mqa::DecodeBatch batch;
    e.start_sources(batch, src, beams, steps, kBos, true);
    EXPECT_EQ(batch.cross_kv.size(1), 2);  // one copy per source, not per beam
    // The kernel path's row table (kv_cache.h), read here by the LibTorch path: the rows are not moved.
    if (table) batch.table = torch::arange(2 * beams, torch::kInt).unsqueeze(1).expand({2 * beams, steps}).contiguous();
    auto inc = incremental_logits(e, batch, tgt, 2, perm);
    // Rows' logits before the reorder belong to their parents' histories.
    inc = torch::cat({inc.narrow(1, 0, 3).index_select(0, perm), inc.narrow(1, 3, 3)}, 1);
    EXPECT_LT((inc - full).abs().max().item<double>(), 1e-5) << (table ? "row table" : "rows gathered");
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, CachedDecoding, ::testing::ValuesIn(kVariants),
                         [](const auto& info) { return std::string(info.param.name); });

// The feed-forward layer's fused linear + ReLU (util/linear_relu.h; on the GPU its GEMM applies the ReLU): on the
// CPU linear_relu is ReLU after linear, and the fused path -- forward and its autograd function's gradients of x,
// weight and bias, also where only some inputs need one, and without autograd -- equals it.
TEST(FeedForward, FusedLinearReluEqualsReluAfterLinear) {
  torch::manual_seed(4);
  auto x0 = torch::randn({3, 7, 16}), w0 = torch::randn({24, 16}), b0 = torch::randn({24}), dy = torch::randn({3, 7, 24});
  EXPECT_FALSE(mqa::linear_relu_fused(x0, w0, b0));
  EXPECT_TRUE(torch::equal(mqa::linear_relu(x0, w0, b0), torch::relu(torch::linear(x0, w0, b0))));
  for (bool weights_need_grad : {true, false}) {
    auto run = [&](bool fused) {
      auto x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_(weights_need_grad);
      auto b = b0.clone().requires_grad_(weights_need_grad);
      auto y = fused ? mqa::linear_relu_epilogue(x, w, b) : torch::relu(torch::linear(x, w, b));
      y.backward(dy);
      return std::vector<torch::Tensor>{y.detach(), x.grad(), w.grad(), b.grad()};
    };
    auto fused = run(true), plain = run(false);
    EXPECT_GT((plain[0] == 0).sum().item<int64_t>(), 0) << "some units off, or ReLU's gradient goes untested";
    for (int i = 0; i < 4; ++i) {
      ASSERT_EQ(fused[i].defined(), plain[i].defined()) << i;
      if (plain[i].defined()) EXPECT_TRUE(torch::allclose(fused[i], plain[i], 1e-5, 1e-5)) << i;
    }
  }
  {
    torch::NoGradGuard no_grad;  // decoding: the epilogue without an autograd node
    EXPECT_TRUE(torch::allclose(mqa::linear_relu_epilogue(x0, w0, b0),
                                torch::relu(torch::linear(x0, w0, b0)), 1e-5, 1e-5));
  }
  EXPECT_THROW(mqa::linear_relu_epilogue(x0, w0, torch::Tensor()), c10::Error);
}

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

// The formulation the fused CUDA path hands to SDPA (fold_query_heads): the h/g query heads of a key/value head
// folded into the query length (row t*group + j: head j at position t), with the mask of the folded rows, then
// unfolded. Evaluated here with the plain
// kernel treating the folded rows as ordinary queries of g heads (grouped_attention with one query head per
// key/value head), it must equal grouped-query attention on the unfolded heads, for causal, local-window,
// key-padding and cross-attention masks, h/g of 1, 2 and 4. (On LibTorch 2, SDPA itself is checked too.)
TEST(Attention, FoldedQueryHeadsWithTheirMasksEqualGroupedAttention) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(9);
  const int64_t B = 2, h = 4, d = 8, T = 6;
  for (int64_t g : {4, 2, 1}) {
    for (const std::string kind : {"causal", "window", "padding", "cross", "none"}) {
      const int64_t S = kind == "cross" ? 9 : T;
      // q in the Q projection's layout [B, T, h, d]; grouped_attention takes [B, h, T, d].
      auto q = torch::randn({B, T, h, d}), k = torch::randn({B, g, S, d}), v = torch::randn({B, g, S, d});
      auto qpos = torch::arange(T).unsqueeze(1), kpos = torch::arange(S).unsqueeze(0);
      torch::Tensor allowed;  // [B|1, T|1, S]
      if (kind == "causal") allowed = kpos.le(qpos).unsqueeze(0);
      if (kind == "window") allowed = kpos.le(qpos).logical_and(kpos.gt(qpos - 3)).unsqueeze(0);
      if (kind == "padding" || kind == "cross") {
        allowed = torch::ones({B, 1, S}, torch::kBool);
        allowed[1][0].narrow(0, S - 2, 2).fill_(false);
      }
      auto expected = mqa::grouped_attention(q.transpose(1, 2).contiguous(), k, v, allowed, 0.0, false)
                          .transpose(1, 2);  // [B, T, h, d]
      auto f = mqa::fold_query_heads(q, g, allowed);
      ASSERT_EQ(f.q.sizes(), (std::vector<int64_t>{B, g, (h / g) * T, d}));
      if (f.allowed.defined()) {
        ASSERT_EQ(f.allowed.dim(), 4);
        ASSERT_EQ(f.allowed.size(1), 1);
        // padding stays one row for all queries; positional masks get one row per folded query
        ASSERT_EQ(f.allowed.size(2), allowed.size(1) == 1 ? 1 : (h / g) * T) << kind;
      }
      auto plain_mask = f.allowed.defined() ? f.allowed.squeeze(1) : torch::Tensor();  // [B|1, rows|1, S]
      auto folded = mqa::unfold_query_heads(mqa::grouped_attention(f.q, k, v, plain_mask, 0.0, false), h);
      EXPECT_LT((folded - expected).abs().max().item<double>(), 1e-5) << kind << " g " << g;
#if TORCH_VERSION_MAJOR >= 2
      std::optional<torch::Tensor> mask;
      if (f.allowed.defined()) mask = f.allowed;
      auto sdpa = mqa::unfold_query_heads(at::scaled_dot_product_attention(f.q, k, v, mask), h);
      EXPECT_LT((sdpa - expected).abs().max().item<double>(), 1e-5) << "SDPA " << kind << " g " << g;
#endif
    }
  }
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
