// Decoding (issues 5, 14): greedy and beam search on the decode engine, and LM continuation.
//   - beam size 1 is greedy search, token for token;
//   - the scores beam search reports are the model's: a teacher-forced full forward re-scores every n-best
//     hypothesis to within 1e-4 (log-probability and length-penalised score);
//   - on a model trained here to reverse sequences, beam 4 keeping the greedy path never scores below greedy on any
//     sentence; on untrained models textbook beam search (the default) does, keeping the greedy path does not;
//   - a sentence's result does not depend on its batch (sentences that finish early idle in place), nor on what an
//     earlier batch left in a reused search's buffers;
//   - LM sampling with top_k = 1 is greedy; LM continuations are scored like the full forward.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <set>

#include "mqa/config/config.h"
#include "mqa/decode/beam_search.h"
#include "mqa/decode/decode_ops.h"
#include "mqa/decode/greedy_search.h"
#include "mqa/decode/sampling.h"
#include "mqa/decode/search.h"
#include "mqa/decode/shape_cache.h"
#include "mqa/model/transformer.h"

using mqa::Hypothesis;
using mqa::NBest;
using mqa::SearchOptions;
using mqa::Transformer;

namespace {

constexpr int64_t kPad = 0, kBos = 2, kEos = 3, kFirstSymbol = 4;

mqa::ModelConfig tiny_config(const std::string& type, int layers, int d_model, int heads, int kv_heads) {
  mqa::ModelConfig c;
  c.type = type;
  c.encoder_layers = layers;
  c.decoder_layers = layers;
  c.d_model = d_model;
  c.heads = heads;
  c.kv_heads = kv_heads;
  c.d_k = d_model / heads;
  c.d_v = d_model / heads;
  c.d_ff = 2 * d_model;
  c.dropout = 0;
  c.max_positions = 48;
  return c;
}

Transformer untrained(const std::string& type, int64_t vocab, int kv_heads, uint64_t seed) {
  torch::manual_seed(seed);
  Transformer m(tiny_config(type, 2, 32, 4, kv_heads), vocab, kPad);
  m->eval();
  return m;
}

// Random symbols in [kFirstSymbol, vocab) for rows of the given lengths, right-padded with kPad: [B, S].
torch::Tensor random_sources(const std::vector<int64_t>& lengths, int64_t vocab) {
  const int64_t longest = *std::max_element(lengths.begin(), lengths.end());
  auto t = torch::full({static_cast<int64_t>(lengths.size()), longest}, kPad, torch::kLong);
  for (size_t b = 0; b < lengths.size(); ++b)
    t[b].narrow(0, 0, lengths[b]).copy_(torch::randint(kFirstSymbol, vocab, {lengths[b]}, torch::kLong));
  return t;
}

// log p(tokens, eos | src row b) by the full teacher-forced forward pass.
double full_forward_logprob(Transformer& model, const torch::Tensor& src, int64_t b,
                            const std::vector<int64_t>& tokens) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> in = {kBos}, out = tokens;
  in.insert(in.end(), tokens.begin(), tokens.end());
  out.push_back(kEos);
  auto tgt_in = torch::tensor(in, torch::kLong).unsqueeze(0);    // [1, T]
  auto tgt_out = torch::tensor(out, torch::kLong).unsqueeze(0);  // [1, T]
  auto logits = model->forward(src.narrow(0, b, 1), tgt_in);     // [1, T, V]
  return torch::log_softmax(logits.to(torch::kDouble), -1).gather(2, tgt_out.unsqueeze(2)).sum().item<double>();
}

SearchOptions options(int64_t beam, int64_t nbest, double alpha = 0.6) {
  SearchOptions o;
  o.beam_size = beam;
  o.nbest = nbest;
  o.length_penalty = alpha;
  o.max_len_a = 1.0;
  o.max_len_b = 6;
  return o;
}

std::string show(const std::vector<int64_t>& t) {
  std::string s;
  for (auto x : t) s += std::to_string(x) + " ";
  return s;
}

// ---- a model trained in the test: reverse a sequence of symbols ----------------------------------------------
constexpr int64_t kReverseVocab = 14;  // pad unk bos eos + 10 symbols

// A batch of the reverse task: src [B, S], tgt_in [B, T], tgt_out [B, T].
struct ReverseBatch {
  torch::Tensor src, tgt_in, tgt_out;
};
ReverseBatch reverse_batch(int64_t rows, int64_t min_len, int64_t max_len) {
  std::vector<int64_t> lengths(rows);
  for (auto& l : lengths) l = torch::randint(min_len, max_len + 1, {1}).item<int64_t>();
  ReverseBatch b;
  b.src = random_sources(lengths, kReverseVocab);
  const int64_t T = b.src.size(1) + 1;
  b.tgt_in = torch::full({rows, T}, kPad, torch::kLong);
  b.tgt_out = torch::full({rows, T}, kPad, torch::kLong);
  for (int64_t r = 0; r < rows; ++r) {
    auto rev = b.src[r].narrow(0, 0, lengths[r]).flip(0);
    b.tgt_in[r][0] = kBos;
    b.tgt_in[r].narrow(0, 1, lengths[r]).copy_(rev);
    b.tgt_out[r].narrow(0, 0, lengths[r]).copy_(rev);
    b.tgt_out[r][lengths[r]] = kEos;
  }
  return b;
}

class DecodeTrained : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    torch::manual_seed(1234);
    // Multi-query, d_model 32: trains in a third of the time of d_model 64 (each of the suite's tests is its own
    // ctest process, so this runs three times in CI) and learns the task as well.
    model_ = new Transformer(tiny_config("seq2seq", 1, 32, 4, 1), kReverseVocab, kPad);
    Transformer& m = *model_;
    m->train();
    torch::optim::Adam adam(m->parameters(), torch::optim::AdamOptions(3e-3).betas({0.9, 0.98}));
    for (int step = 0; step < kSteps; ++step) {
      ReverseBatch b = reverse_batch(64, 2, 8);
      auto logits = m->forward(b.src, b.tgt_in);  // [B, T, V]
      auto loss = torch::nn::functional::cross_entropy(
          logits.view({-1, kReverseVocab}), b.tgt_out.view({-1}),
          torch::nn::functional::CrossEntropyFuncOptions().ignore_index(kPad));
      adam.zero_grad();
      loss.backward();
      adam.step();
      final_loss_ = loss.item<double>();
    }
    m->eval();
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }
  static constexpr int kSteps = 300;
  static Transformer* model_;
  static double final_loss_;
};
Transformer* DecodeTrained::model_ = nullptr;
double DecodeTrained::final_loss_ = 0;

}  // namespace

// ---- (1) beam size 1 = greedy --------------------------------------------------------------------------------

TEST(DecodeSearch, BeamSizeOneEqualsGreedy) {
  for (int kv_heads : {4, 1}) {
    Transformer model = untrained("seq2seq", 40, kv_heads, 11 + kv_heads);
    auto src = random_sources({5, 1, 9, 3, 7, 7, 2}, 40);
    for (double alpha : {0.0, 0.6, 1.0}) {
      auto greedy = mqa::greedy_search(model, src, options(1, 1, alpha));
      auto beam = mqa::beam_search(model, src, options(1, 1, alpha));
      ASSERT_EQ(greedy.size(), beam.size());
      for (size_t b = 0; b < greedy.size(); ++b) {
        ASSERT_EQ(beam[b].size(), 1u);
        EXPECT_EQ(greedy[b][0].tokens, beam[b][0].tokens) << "source " << b << " kv_heads " << kv_heads;
        EXPECT_NEAR(greedy[b][0].logprob, beam[b][0].logprob, 1e-9);
        EXPECT_NEAR(greedy[b][0].score, beam[b][0].score, 1e-9);
      }
    }
  }
}

TEST_F(DecodeTrained, BeamSizeOneEqualsGreedyOnTheTrainedModel) {
  torch::manual_seed(5);
  auto src = reverse_batch(24, 2, 8).src;
  auto greedy = mqa::greedy_search(*model_, src, options(1, 1));
  auto beam = mqa::beam_search(*model_, src, options(1, 1));
  for (size_t b = 0; b < greedy.size(); ++b) EXPECT_EQ(greedy[b][0].tokens, beam[b][0].tokens) << "source " << b;
}

// ---- (2) reported scores = full-forward re-scoring -----------------------------------------------------------

TEST(DecodeSearch, BeamScoresEqualFullForwardRescoring) {
  Transformer model = untrained("seq2seq", 30, 1, 21);
  auto src = random_sources({4, 8, 1, 6, 3}, 30);
  for (double alpha : {0.0, 0.6}) {
    auto o = options(4, 4, alpha);
    auto result = mqa::beam_search(model, src, o);
    int checked = 0, hit_limit = 0;
    for (size_t b = 0; b < result.size(); ++b) {
      ASSERT_FALSE(result[b].empty());
      // Beams of one source never duplicate (only beam 0 is live at the first step).
      std::set<std::vector<int64_t>> distinct;
      for (const Hypothesis& h : result[b]) distinct.insert(h.tokens);
      EXPECT_EQ(distinct.size(), result[b].size()) << "duplicate hypotheses for source " << b;
      for (size_t k = 0; k < result[b].size(); ++k) {
        const Hypothesis& h = result[b][k];
        if (k > 0) EXPECT_GE(result[b][k - 1].score, h.score) << "n-best not sorted, source " << b;
        const double lp = full_forward_logprob(model, src, static_cast<int64_t>(b), h.tokens);
        const double pen = std::pow((5.0 + static_cast<double>(h.tokens.size() + 1)) / 6.0, alpha);
        EXPECT_NEAR(h.logprob, lp, 1e-4) << "source " << b << " hypothesis " << k << ": " << show(h.tokens);
        EXPECT_NEAR(h.score, lp / pen, 1e-4) << "source " << b << " hypothesis " << k;
        for (int64_t t : h.tokens) EXPECT_TRUE(t != kPad && t != kBos && t != kEos) << "token " << t;
        ++checked;
        const int64_t src_len = src[b].ne(kPad).sum().item<int64_t>();
        EXPECT_LE(static_cast<int64_t>(h.tokens.size()), src_len + o.max_len_b);  // max_len_a = 1
        if (static_cast<int64_t>(h.tokens.size()) == src_len + o.max_len_b) ++hit_limit;
      }
    }
    EXPECT_GE(checked, 15);
    // An untrained model rarely says eos: the forced eos at the length limit is part of what is checked.
    EXPECT_GT(hit_limit, 0);
  }
}

TEST(DecodeSearch, GreedyScoreEqualsFullForwardRescoring) {
  Transformer model = untrained("seq2seq", 30, 2, 23);
  auto src = random_sources({4, 8, 1, 6, 3}, 30);
  auto result = mqa::greedy_search(model, src, options(1, 1, 0.6));
  for (size_t b = 0; b < result.size(); ++b) {
    const Hypothesis& h = result[b][0];
    const double lp = full_forward_logprob(model, src, static_cast<int64_t>(b), h.tokens);
    EXPECT_NEAR(h.logprob, lp, 1e-4) << "source " << b;
    EXPECT_NEAR(h.score, lp / std::pow((6.0 + h.tokens.size()) / 6.0, 0.6), 1e-4) << "source " << b;
  }
}

// ---- (3) beam 4 never scores below greedy on a trained model --------------------------------------------------

TEST_F(DecodeTrained, BeamFourNeverScoresBelowGreedy) {
  EXPECT_LT(final_loss_, 1.0) << "the reverse task did not train";
  torch::manual_seed(99);
  auto src = reverse_batch(64, 2, 8).src;
  auto o = options(4, 1, 0.6);
  o.keep_greedy_path = true;
  auto greedy = mqa::greedy_search(*model_, src, o);
  auto beam = mqa::beam_search(*model_, src, o);
  int differ = 0, beam_correct = 0;
  for (int64_t b = 0; b < src.size(0); ++b) {
    EXPECT_GE(beam[b][0].score, greedy[b][0].score - 1e-6)
        << "source " << b << ": beam " << show(beam[b][0].tokens) << " greedy " << show(greedy[b][0].tokens);
    differ += beam[b][0].tokens != greedy[b][0].tokens;
    const int64_t len = src[b].ne(kPad).sum().item<int64_t>();
    auto want = src[b].narrow(0, 0, len).flip(0);
    beam_correct += beam[b][0].tokens == std::vector<int64_t>(want.data_ptr<int64_t>(), want.data_ptr<int64_t>() + len);
  }
  // The search works on a task the model has learned: most sentences come out reversed.
  EXPECT_GE(beam_correct, 20) << "of 64; final training loss " << final_loss_;
  // ... and the beam finds something else than greedy somewhere, so the comparison above is not vacuous.
  EXPECT_GT(differ, 0);
  std::cout << "[ reverse task ] final loss " << final_loss_ << ", beam 4 exact " << beam_correct
            << "/64, beam differs from greedy on " << differ << "\n";
}

// Textbook beam search loses the greedy path whenever beam_size other prefixes are more likely at some step, and
// can then end below greedy. A random model with sharpened weights does that often; keep_greedy_path
// must never score below greedy there (nor below the textbook search), and the textbook search must,
// so the test can tell them apart.
TEST(DecodeSearch, KeepingTheGreedyPathNeverScoresBelowGreedyWhereTextbookBeamSearchDoes) {
  // Scores are fp32 sums of log-probabilities from products of other shapes (one step at a time for a batch of
  // beams, greedy's batch, one full forward pass), which an optimised BLAS (OpenBLAS) rounds differently per shape;
  // with weights x6 the logits run into the hundreds, so the same hypothesis scores alike only to ~1e-3 (seen: up
  // to 1.4e-3). Differences of search, which the test is about, are larger: textbook beam search below greedy by
  // more than this still happens (checked last). Re-scoring by one full forward pass differs more (seen: up to
  // 1.04e-2; the same check on an unsharpened model holds to 1e-4 above): an error of the search's bookkeeping
  // would be a whole token's log-probability off.
  constexpr double kTol = 5e-3, kRescoreTol = 5e-2;
  int textbook_below = 0, kept_below = 0, sentences = 0;
  for (uint64_t seed : {51, 52, 53, 54, 55}) {
    Transformer model = untrained("seq2seq", 24, 1, seed);
    {
      // Every weight times 6: peaked next-token distributions, as a trained model's, over arbitrary tokens.
      torch::NoGradGuard no_grad;
      for (auto& p : model->parameters()) p.mul_(6.0);
    }
    torch::manual_seed(seed);
    std::vector<int64_t> lengths(24);
    for (size_t i = 0; i < lengths.size(); ++i) lengths[i] = 1 + static_cast<int64_t>(i % 9);
    auto src = random_sources(lengths, 24);
    for (int64_t beam : {2, 4}) {
      auto kept = options(beam, 1, 0.6), textbook = kept;
      kept.keep_greedy_path = true;
      textbook.keep_greedy_path = false;
      auto greedy = mqa::greedy_search(model, src, kept);
      auto with = mqa::beam_search(model, src, kept);
      auto without = mqa::beam_search(model, src, textbook);
      for (int64_t b = 0; b < src.size(0); ++b) {
        ++sentences;
        textbook_below += without[b][0].score < greedy[b][0].score - kTol;
        kept_below += with[b][0].score < greedy[b][0].score - kTol;
        EXPECT_GE(with[b][0].score, greedy[b][0].score - kTol)
            << "seed " << seed << " beam " << beam << " source " << b << ": beam " << show(with[b][0].tokens)
            << " greedy " << show(greedy[b][0].tokens);
        // The beams search as without the greedy row, so nothing textbook beam search finds is lost either.
        EXPECT_GE(with[b][0].score, without[b][0].score - kTol) << "seed " << seed << " beam " << beam << " source " << b;
        // The reported score is still the model's: re-scored by the full forward pass.
        const double full = full_forward_logprob(model, src, b, with[b][0].tokens);
        EXPECT_NEAR(with[b][0].logprob, full, kRescoreTol) << "seed " << seed << " beam " << beam << " source " << b;
      }
    }
  }
  EXPECT_GT(textbook_below, 0) << "textbook beam search never fell below greedy here: the test cannot tell";
  // The greedy row's hypothesis joins the n-best list only where the beams did not find it too: no duplicates.
  Transformer model = untrained("seq2seq", 24, 1, 51);
  torch::manual_seed(51);
  auto src = random_sources({1, 2, 3, 4, 5, 6, 7, 8, 9}, 24);
  auto kept = options(4, 4, 0.6);
  kept.keep_greedy_path = true;
  for (const NBest& list : mqa::beam_search(model, src, kept)) {
    std::set<std::vector<int64_t>> distinct;
    for (const Hypothesis& h : list) distinct.insert(h.tokens);
    EXPECT_EQ(distinct.size(), list.size());
  }
  std::cout << "[ greedy path ] below greedy of " << sentences << " sentences: textbook " << textbook_below
            << ", keep_greedy_path " << kept_below << "\n";
}

// The paper's and fairseq's beam search is the textbook one: keeping the greedy path is an option, off unless asked.
TEST(DecodeSearch, BeamSearchIsTextbookUnlessKeepGreedyPathIsSet) {
  EXPECT_FALSE(mqa::default_config().config.decode.keep_greedy_path);
  EXPECT_FALSE(SearchOptions{}.keep_greedy_path);
  EXPECT_FALSE(mqa::search_options(mqa::default_config().config.decode).keep_greedy_path);
  EXPECT_TRUE(
      mqa::search_options(mqa::default_config({"decode.keep_greedy_path=true"}).config.decode).keep_greedy_path);
}

// ---- (4) a sentence's result does not depend on its batch or on an earlier batch ---------------------------------

// Each sentence of src searched alone (unpadded) gives what the batch gave it; returns the distinct lengths of the
// best hypotheses.
static std::set<size_t> expect_each_alone_equal(Transformer& model, const torch::Tensor& src, const SearchOptions& o,
                                                const std::vector<NBest>& batched) {
  std::set<size_t> lengths;
  for (int64_t b = 0; b < src.size(0); ++b) {
    const int64_t len = src[b].ne(kPad).sum().item<int64_t>();
    auto one = src.narrow(0, b, 1).narrow(1, 0, len);
    auto alone = o.beam_size == 1 ? mqa::greedy_search(model, one, o) : mqa::beam_search(model, one, o);
    EXPECT_EQ(alone[0].size(), batched[b].size()) << "source " << b;
    for (size_t k = 0; k < alone[0].size() && k < batched[b].size(); ++k) {
      EXPECT_EQ(alone[0][k].tokens, batched[b][k].tokens) << "beam " << o.beam_size << " source " << b << " hypothesis " << k;
      EXPECT_NEAR(alone[0][k].logprob, batched[b][k].logprob, 1e-4);
      EXPECT_NEAR(alone[0][k].score, batched[b][k].score, 1e-4);
    }
    if (!batched[b].empty()) lengths.insert(batched[b][0].tokens.size());
  }
  return lengths;
}

TEST_F(DecodeTrained, SentencesFinishingEarlyIdleWithoutChangingAnyResult) {
  torch::manual_seed(17);
  auto src = reverse_batch(16, 1, 8).src;
  for (int64_t beam : {1, 4}) {
    auto o = options(beam, beam, 0.6);
    auto batched = beam == 1 ? mqa::greedy_search(*model_, src, o) : mqa::beam_search(*model_, src, o);
    // The trained model stops after about as many tokens as the source has, so sentences finish at different
    // steps and idle in the batch while the others go on.
    EXPECT_GE(expect_each_alone_equal(*model_, src, o, batched).size(), 4u) << "beam " << beam;
  }
}

TEST(DecodeSearch, AReusedSearchGivesWhatAFreshOneGives) {
  // One search object decodes batch A, then batch B of the same shape in the same buffers (as translate does, to
  // replay one captured graph): nothing of A may leak into B.
  Transformer model = untrained("seq2seq", 12, 1, 31);  // small vocabulary: eos comes early and often
  torch::manual_seed(32);
  auto a = random_sources({1, 6, 2, 9, 4, 3, 8, 1}, 12), b = random_sources({7, 2, 9, 1, 5, 3, 3, 6}, 12);
  for (bool keep_greedy : {false, true})
    for (int64_t beam : {1, 3}) {
      auto o = options(beam, beam, 0.6);
      o.keep_greedy_path = keep_greedy;
      mqa::DecodeEngine engine(model, mqa::engine_options(torch::kFloat32));
      auto reused = mqa::make_search(engine, o);
      reused->search(a);
      auto second = reused->search(b);
      auto fresh = mqa::make_search(engine, o)->search(b);
      for (size_t s = 0; s < fresh.size(); ++s) {
        ASSERT_EQ(second[s].size(), fresh[s].size()) << "beam " << beam << " source " << s;
        for (size_t k = 0; k < fresh[s].size(); ++k) {
          EXPECT_EQ(second[s][k].tokens, fresh[s][k].tokens) << "beam " << beam << " source " << s;
          EXPECT_EQ(second[s][k].logprob, fresh[s][k].logprob);
        }
      }
      expect_each_alone_equal(model, b, o, second);
    }
}

TEST(DecodeSearch, ASearchHoldingSeveralShapesGivesWhatFreshOnesGive) {
  // keep_shapes + warm_up (translate's start-up, decode.prepare_shapes): batches of three shapes, each warmed up
  // (two steps, result dropped), then searched in turn and again after another shape took the buffers' place; a
  // shape dropped for lack of room (keep 2 of 3) is prepared again on its next batch. Every result must be a fresh
  // search's. (On CUDA the held shapes also replay their captured graphs: DecodeKernels in test_decode_cuda.cpp.)
  Transformer model = untrained("seq2seq", 12, 1, 33);
  torch::manual_seed(34);
  const std::vector<torch::Tensor> batches = {random_sources({1, 6, 2, 9}, 12), random_sources({3, 5}, 12),
                                              random_sources({7, 2, 4, 1, 5, 3}, 12), random_sources({4, 8, 2, 2}, 12)};
  for (int64_t beam : {1, 3})
    for (size_t keep : {3, 2}) {
      auto o = options(beam, beam, 0.6);
      mqa::DecodeEngine engine(model, mqa::engine_options(torch::kFloat32));
      auto held = mqa::make_search(engine, o);
      held->keep_shapes(keep);
      for (size_t i = 0; i < 3; ++i) held->warm_up(batches[i]);
      for (size_t i : {0, 1, 2, 0, 3, 1, 2}) {  // batch 3 has batch 0's shape
        auto got = held->search(batches[i]);
        auto fresh = mqa::make_search(engine, o)->search(batches[i]);
        ASSERT_EQ(got.size(), fresh.size());
        for (size_t s = 0; s < fresh.size(); ++s) {
          ASSERT_EQ(got[s].size(), fresh[s].size()) << "beam " << beam << " keep " << keep << " batch " << i;
          for (size_t k = 0; k < fresh[s].size(); ++k) {
            EXPECT_EQ(got[s][k].tokens, fresh[s][k].tokens) << "beam " << beam << " keep " << keep << " batch " << i;
            EXPECT_EQ(got[s][k].logprob, fresh[s][k].logprob);
          }
        }
      }
    }
}

TEST(DecodeSearch, ShapeCacheHoldsAtMostKeepShapesAndDropsTheOldestParked) {
  mqa::ShapeCache<int> cache;
  mqa::DecodeBatch batch;
  std::unique_ptr<int> state;
  std::unique_ptr<mqa::GraphSet> graph;
  auto visit = [&](int64_t width) {  // selects a shape; returns what its state held (0 = new), then marks it
    cache.select({1, 1, width}, batch, state, graph);
    const int before = state ? *state : 0;
    state = std::make_unique<int>(static_cast<int>(width));
    return before;
  };
  cache.set_keep(3);
  EXPECT_EQ(visit(8), 0);
  EXPECT_EQ(visit(16), 0);
  EXPECT_EQ(visit(24), 0);
  EXPECT_EQ(cache.parked(), 2u);
  EXPECT_EQ(visit(8), 8);    // held: comes back
  EXPECT_EQ(visit(32), 0);   // a fourth shape: the one parked longest ago (16) goes
  EXPECT_EQ(cache.parked(), 2u);
  EXPECT_EQ(visit(16), 0);   // dropped: prepared again
  EXPECT_EQ(visit(24), 0);   // 24 went when 16 came back (parked longest ago)
  EXPECT_EQ(visit(16), 16);
  cache.set_keep(1);         // the default: nothing parked
  EXPECT_EQ(cache.parked(), 0u);
  EXPECT_EQ(visit(24), 0);
}

TEST(DecodeSearch, BatchedSearchEqualsEachSentenceAlone) {
  Transformer model = untrained("seq2seq", 20, 2, 41);
  auto src = random_sources({3, 7, 1, 5}, 20);
  auto batched = mqa::beam_search(model, src, options(3, 2));
  for (int64_t b = 0; b < src.size(0); ++b) {
    const int64_t len = src[b].ne(kPad).sum().item<int64_t>();
    auto alone = mqa::beam_search(model, src.narrow(0, b, 1).narrow(1, 0, len), options(3, 2));
    ASSERT_EQ(alone[0].size(), batched[b].size());
    for (size_t k = 0; k < alone[0].size(); ++k) {
      EXPECT_EQ(alone[0][k].tokens, batched[b][k].tokens) << "source " << b << " hypothesis " << k;
      EXPECT_NEAR(alone[0][k].score, batched[b][k].score, 1e-4);
    }
  }
}

TEST(DecodeSearch, TheLengthLimitWinsOverMinLen) {
  // Both device-side choices (greedy and beam candidates, LibTorch path here; the kernels are held to it on the GPU):
  // a row at its forced-eos step takes eos even before min_len; other rows never take eos before min_len.
  namespace ops = mqa::decode_ops;
  auto logits = torch::zeros({2, 6});
  logits[0][3] = -5;  // eos unlikely in row 0
  logits[1][3] = 9;   // eos most likely in row 1
  ops::GreedyState s;
  s.pos = torch::full({2}, 2, torch::kLong), s.start = torch::zeros({2}, torch::kLong);
  s.eos_at = torch::tensor(std::vector<int64_t>{2, 9});
  s.done = torch::zeros({2}, torch::kBool), s.logprob = torch::zeros({2}, torch::kFloat64);
  s.length = torch::zeros({2}, torch::kLong), s.next = torch::zeros({2}, torch::kLong);
  s.out = torch::zeros({4, 2}, torch::kLong), s.min_len = 5;
  ops::greedy_pick(logits, s);
  EXPECT_EQ(s.next[0].item<int64_t>(), kEos);  // forced
  EXPECT_NE(s.next[1].item<int64_t>(), kEos);  // min_len
  EXPECT_TRUE(s.done[0].item<bool>());
  auto c = ops::beam_candidates(logits, torch::zeros({2}), torch::full({1}, 2, torch::kLong), s.eos_at, 3, kPad, kBos,
                                kEos, 5);
  EXPECT_EQ(c.token[0][0].item<int64_t>(), kEos);
  EXPECT_TRUE(std::isinf(c.logprob[0][1].item<float>()));  // nothing but eos at the length limit
  EXPECT_FALSE(c.token[1].eq(kEos).any().item<bool>());
}

TEST(DecodeSearch, RejectsBadArguments) {
  Transformer model = untrained("seq2seq", 20, 1, 3);
  auto src = random_sources({3}, 20);
  EXPECT_THROW(mqa::beam_search(model, src, options(2, 3)), std::invalid_argument);  // nbest > beam
  EXPECT_THROW(mqa::beam_search(model, src.to(torch::kInt), options(2, 1)), std::invalid_argument);
  Transformer lm = untrained("lm", 20, 1, 3);
  EXPECT_THROW(mqa::greedy_search(lm, src, options(1, 1)), std::invalid_argument);
}

// ---- (5) LM: sampling with top_k = 1 is greedy; continuations are scored like the full forward ----------------

TEST(DecodeSearch, LanguageModelTopKOneSamplingEqualsGreedy) {
  Transformer lm = untrained("lm", 25, 1, 51);
  std::vector<std::vector<int64_t>> prompts = {{5, 6, 7}, {}, {9}, {4, 4, 4, 4, 4, 4, 4}, {10, 11}};
  mqa::GenerateOptions o;
  o.max_new_tokens = 12;
  auto greedy = mqa::lm_greedy(lm, prompts, o);
  o.top_k = 1;
  o.temperature = 0.7;
  o.seed = 3;
  auto sampled = mqa::sample(lm, prompts, o);
  ASSERT_EQ(greedy.size(), prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(greedy[i].tokens, sampled[i].tokens) << "prompt " << i;
    EXPECT_EQ(greedy[i].ended_with_eos, sampled[i].ended_with_eos);
    EXPECT_LE(greedy[i].tokens.size() + greedy[i].ended_with_eos, 12u);
  }
  // Full sampling with the same seed is reproducible, and differs from greedy somewhere.
  o.top_k = 0;
  o.temperature = 1.5;
  auto s1 = mqa::sample(lm, prompts, o), s2 = mqa::sample(lm, prompts, o);
  bool any_differs = false;
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(s1[i].tokens, s2[i].tokens);
    any_differs |= s1[i].tokens != greedy[i].tokens;
  }
  EXPECT_TRUE(any_differs);
}

// Streaming (mqa generate): the per-token callback sees every generated token of every prompt as it is chosen, in
// order, and never eos.
TEST(DecodeSearch, LanguageModelStreamingCallbackSeesEveryTokenInOrder) {
  Transformer lm = untrained("lm", 25, 1, 53);
  std::vector<std::vector<int64_t>> prompts = {{5, 6, 7}, {}, {9, 9}};
  for (bool greedy : {true, false}) {
    mqa::GenerateOptions o;
    o.max_new_tokens = 9;
    o.temperature = 1.3;
    o.seed = 4;
    std::vector<std::vector<int64_t>> streamed(prompts.size());
    size_t calls = 0;
    o.on_token = [&](int64_t row, int64_t token) {
      ++calls;
      ASSERT_GE(row, 0);
      ASSERT_LT(row, static_cast<int64_t>(prompts.size()));
      streamed[row].push_back(token);
    };
    auto out = greedy ? mqa::lm_greedy(lm, prompts, o) : mqa::sample(lm, prompts, o);
    size_t total = 0;
    for (size_t i = 0; i < prompts.size(); ++i) {
      EXPECT_EQ(streamed[i], out[i].tokens) << (greedy ? "greedy" : "sampled") << ", prompt " << i;
      for (int64_t t : streamed[i]) EXPECT_NE(t, kEos);
      total += out[i].tokens.size();
    }
    EXPECT_EQ(calls, total);
    EXPECT_GT(total, 0u);
  }
}

TEST(DecodeSearch, LanguageModelContinuationLogprobEqualsFullForward) {
  Transformer lm = untrained("lm", 25, 2, 52);
  std::vector<std::vector<int64_t>> prompts = {{5, 6, 7}, {9}, {}};
  mqa::GenerateOptions o;
  o.max_new_tokens = 10;
  o.top_p = 0.9;
  o.seed = 8;
  auto out = mqa::sample(lm, prompts, o);
  for (size_t i = 0; i < prompts.size(); ++i) {
    std::vector<int64_t> seq = {kEos};  // start_id: an lm stream reads as if it began with eos
    seq.insert(seq.end(), prompts[i].begin(), prompts[i].end());
    const size_t first = seq.size();
    seq.insert(seq.end(), out[i].tokens.begin(), out[i].tokens.end());
    if (out[i].ended_with_eos) seq.push_back(kEos);
    auto x = torch::tensor(seq, torch::kLong).unsqueeze(0);  // [1, L]
    torch::NoGradGuard no_grad;
    auto lp = torch::log_softmax(lm->forward({}, x.narrow(1, 0, x.size(1) - 1)).to(torch::kDouble), -1);  // [1, L-1, V]
    auto picked = lp.gather(2, x.narrow(1, 1, x.size(1) - 1).unsqueeze(2)).squeeze(2);                   // [1, L-1]
    const double want = picked.narrow(1, first - 1, picked.size(1) - (first - 1)).sum().item<double>();
    EXPECT_NEAR(out[i].logprob, want, 1e-4) << "prompt " << i;
  }
}

TEST(DecodeSearch, SamplingFilterKeepsTopKAndNucleus) {
  auto logits = torch::log(torch::tensor({{0.5, 0.2, 0.15, 0.1, 0.05}}, torch::kDouble)).to(torch::kFloat);
  auto p = mqa::filtered_probabilities(logits, 1.0, 2, 1.0);
  EXPECT_NEAR(p[0][0].item<double>(), 0.5 / 0.7, 1e-6);
  EXPECT_NEAR(p[0][1].item<double>(), 0.2 / 0.7, 1e-6);
  EXPECT_EQ(p[0][2].item<double>(), 0.0);
  // top_p 0.8: 0.5 + 0.2 = 0.7 < 0.8, so 0.15 is needed too; 0.1 is not.
  p = mqa::filtered_probabilities(logits, 1.0, 0, 0.8);
  EXPECT_GT(p[0][2].item<double>(), 0.0);
  EXPECT_EQ(p[0][3].item<double>(), 0.0);
  EXPECT_NEAR(p.sum().item<double>(), 1.0, 1e-6);
  // top_p smaller than the best token's mass keeps just that token.
  p = mqa::filtered_probabilities(logits, 1.0, 0, 0.1);
  EXPECT_NEAR(p[0][0].item<double>(), 1.0, 1e-6);
  EXPECT_THROW(mqa::filtered_probabilities(logits, 0.0, 0, 1.0), std::invalid_argument);
}
