// The decode step's CUDA kernels (src/mqa/kernels/) against the LibTorch path they replace (decode/decode_ops.h),
// on fresh random bf16 inputs: multi-head, grouped and multi-query attention, local windows, padded sources, beams
// sharing a source's cross-attention keys (several query rows per key row), the beam row table, positions split
// over CTAs; residual + layer norm, embedding, the greedy choice with its state update; and the searches on the
// kernel path against the LibTorch path. Each prints its largest difference. Skipped without CUDA or kernels.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <iostream>

#include "mqa/decode/decode_ops.h"
#include "mqa/decode/history_hash.h"
#include "mqa/decode/engine.h"
#include "mqa/decode/search.h"
#include "mqa/model/transformer.h"

#include "cuda_test_util.h"

namespace ops = mqa::decode_ops;

namespace {

using mqa::test::relative_error;
double max_abs(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

// Runs fn on the LibTorch path (the reference) and restores the kernel path.
template <typename F>
auto reference(F fn) {
  ops::force_reference(true);
  auto out = fn();
  ops::force_reference(false);
  return out;
}

torch::TensorOptions bf16() { return torch::TensorOptions(torch::kCUDA).dtype(torch::kBFloat16); }
torch::TensorOptions longs() { return torch::TensorOptions(torch::kCUDA).dtype(torch::kLong); }

class DecodeKernels : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
    if (!ops::kernels_built()) GTEST_SKIP() << "built without the CUDA kernels";
  }
};

// The attention kernels' settings each case runs under (decode_ops.h's switches): the default first, then again (the
// first launch must leave its merge tickets at zero for the next), the splits merged by a second kernel, and the
// CUDA-core kernel for 8 queries per key/value head.
struct KernelSetting {
  const char* name;
  bool merge_in_kernel, tensor_cores;
  void apply() const {
    ops::set_split_merge_in_kernel(merge_in_kernel);
    ops::set_tensor_core_attention(tensor_cores);
  }
};
const KernelSetting kKernelSettings[] = {{"default", true, true},
                                         {"default again", true, true},
                                         {"merged by a second kernel", false, true},
                                         {"CUDA cores", true, false},
                                         {"CUDA cores, second kernel", false, false}};

struct SelfCase {
  const char* name;
  int64_t rows, heads, kv_heads, d_k, d_v, window, max_len;
  bool table;
};

}  // namespace

TEST_F(DecodeKernels, SelfAttentionEqualsTheLibTorchPath) {
  torch::NoGradGuard no_grad;
  const SelfCase cases[] = {
      {"multi_head", 64, 8, 8, 64, 64, 0, 96, false},     {"grouped", 64, 8, 2, 64, 64, 0, 96, false},
      {"multi_query", 128, 8, 1, 128, 128, 0, 130, false}, {"local_window", 32, 8, 1, 64, 64, 31, 200, false},
      {"beam_table_mqa", 48, 8, 1, 128, 128, 0, 64, true}, {"beam_table_mha", 48, 4, 4, 32, 32, 5, 64, true},
      {"long_split_mha", 2, 8, 8, 128, 128, 0, 2048, false}, {"long_split_mqa", 1, 8, 1, 128, 128, 0, 2048, true},
      {"dk_ne_dv", 16, 4, 2, 16, 40, 0, 40, false},         {"tiny_heads", 16, 8, 8, 8, 8, 0, 33, false},
      // 5 to 7 queries per key/value head: the CUDA-core kernel with two groups of query threads.
      {"six_query_heads", 32, 6, 1, 64, 64, 0, 96, false},
      // The tensor-core kernels with head widths that are not multiples of 16, and above 128 (32-key tiles).
      {"mqa_odd_dims", 16, 8, 1, 24, 40, 0, 150, false}, {"mqa_wide_heads", 8, 8, 1, 256, 256, 0, 300, true},
      // Rows of 1 to 8 splits in one launch (the last row's 6 positions on one CTA, the first's 1024 on eight).
      {"mixed_lengths_mqa", 4, 8, 1, 128, 128, 0, 1024, true}, {"mixed_lengths_mha", 4, 4, 4, 64, 64, 0, 1024, false},
  };
  for (const auto& c : cases) {
    torch::manual_seed(101);
    const int64_t n = c.rows, width = c.heads * c.d_k + c.kv_heads * (c.d_k + c.d_v);
    auto qkv = torch::randn({n, width}, bf16());
    mqa::KVCache cache(n, c.kv_heads, c.max_len, c.d_k, c.d_v, bf16());
    cache.k.normal_();
    cache.v.normal_();
    auto pos = torch::randint(0, c.max_len, {n}, longs());
    pos[0] = c.max_len - 1;  // the longest history
    if (n > 1) pos[n - 1] = std::min<int64_t>(5, c.max_len - 1);  // a short one: fewer splits than the grid's
    torch::Tensor table;
    if (c.table) table = torch::randint(0, n, {n, c.max_len}, longs()).to(torch::kInt);
    const ops::HostRange range{pos.min().item<int64_t>(), pos.max().item<int64_t>()};
    const ops::AttentionShape shape{c.heads, c.kv_heads, c.d_k, c.d_v, c.window};
    mqa::KVCache a{}, b{};
    a.k = cache.k.clone(), a.v = cache.v.clone(), b.k = cache.k.clone(), b.v = cache.v.clone();
    torch::Tensor table_a = c.table ? table.clone() : table, table_b = c.table ? table.clone() : table;
    auto want = reference([&] { return ops::self_attention(qkv, b, pos, table_b, shape, range); });
    for (const KernelSetting& k : kKernelSettings) {
      k.apply();
      auto got = ops::self_attention(qkv, a, pos, table_a, shape, range);
      const double err = relative_error(got, want);
      std::cout << "[ self-attention " << c.name << ", " << k.name << " ] max |kernel - reference| "
                << max_abs(got, want) << ", relative " << err << "\n";
      EXPECT_LT(err, 1e-2) << c.name << ", " << k.name;
      EXPECT_TRUE(torch::equal(a.k, b.k)) << c.name << ": new keys not written where the reference writes them";
      EXPECT_TRUE(torch::equal(a.v, b.v)) << c.name;
      if (c.table) EXPECT_TRUE(torch::equal(table_a, table_b)) << c.name << ": the table's recorded writers differ";
    }
    kKernelSettings[0].apply();
  }
}

TEST_F(DecodeKernels, CrossAttentionEqualsTheLibTorchPath) {
  torch::NoGradGuard no_grad;
  struct Case {
    const char* name;
    int64_t sources, rows_per_source, heads, kv_heads, d_k, d_v, src_len;
  };
  const Case cases[] = {{"multi_head_greedy", 32, 1, 8, 8, 64, 64, 50},  {"multi_query_greedy", 32, 1, 8, 1, 128, 128, 50},
                        {"multi_head_beam4", 16, 4, 8, 8, 64, 64, 37},   {"multi_query_beam4", 16, 4, 8, 1, 128, 128, 37},
                        {"multi_query_beam5", 8, 5, 8, 1, 128, 128, 20}, {"grouped_beam4", 8, 4, 8, 2, 32, 48, 20},
                        {"long_source_split", 1, 4, 8, 1, 128, 128, 1500},
                        {"multi_head_beam5", 8, 5, 8, 8, 64, 64, 37}, {"grouped_beam3", 8, 3, 4, 2, 32, 32, 70},
                        // 64 queries per key/value head: four blocks of 16, a warp each.
                        {"multi_query_beam8", 4, 8, 8, 1, 64, 64, 90},
                        // Sources of 1 to 5 splits in one launch.
                        {"mixed_source_lengths", 4, 4, 8, 1, 128, 128, 600}};
  const int64_t layers = 2, layer = 1;
  for (const auto& c : cases) {
    torch::manual_seed(102);
    const int64_t n = c.sources * c.rows_per_source;
    auto kv = torch::randn({layers, c.sources, c.src_len, c.kv_heads * (c.d_k + c.d_v)}, bf16());
    auto q = torch::randn({n, c.heads * c.d_k}, bf16());
    auto lengths = torch::randint(1, c.src_len + 1, {c.sources}, longs());
    lengths[0] = c.src_len;
    if (c.sources > 1) lengths[c.sources - 1] = std::min<int64_t>(3, c.src_len);  // fewer splits than the grid's
    auto padding = torch::arange(c.src_len, longs()).unsqueeze(0).ge(lengths.unsqueeze(1));  // [B, S]
    const ops::AttentionShape shape{c.heads, c.kv_heads, c.d_k, c.d_v, 0};
    auto want = reference([&] { return ops::cross_attention(q, kv, layer, layers, lengths, padding, shape); });
    for (const KernelSetting& k : kKernelSettings) {
      k.apply();
      auto got = ops::cross_attention(q, kv, layer, layers, lengths, padding, shape);
      const double err = relative_error(got, want);
      std::cout << "[ cross-attention " << c.name << ", " << k.name << " ] max |kernel - reference| "
                << max_abs(got, want) << ", relative " << err << "\n";
      EXPECT_LT(err, 1e-2) << c.name << ", " << k.name;
    }
    kKernelSettings[0].apply();
  }
}

TEST_F(DecodeKernels, ResidualLayerNormAndEmbeddingEqualTheLibTorchPath) {
  torch::NoGradGuard no_grad;
  for (const bool block_per_row : {true, false}) {
    for (int64_t d : {1024, 512, 64, 2048, 1000}) {
      ops::set_norm_block_per_row(block_per_row);
      torch::manual_seed(103);
      auto x = torch::randn({100, d}, bf16()), r = torch::randn({100, d}, bf16());
      auto gamma = torch::randn({d}, bf16()), beta = torch::randn({d}, bf16()), bias = torch::randn({d}, bf16());
      auto xa = x.clone(), xb = x.clone();
      auto got = ops::add_layernorm(xa, r, bias, gamma, beta, 1e-5, true);
      auto want = reference([&] { return ops::add_layernorm(xb, r, bias, gamma, beta, 1e-5, true); });
      std::cout << "[ residual + layer norm d " << d << (block_per_row ? ", a CTA per row" : ", a warp per row")
                << " ] max |kernel - reference| " << max_abs(got, want) << "\n";
      EXPECT_LT(relative_error(got, want), 1e-2) << d;
      EXPECT_TRUE(torch::equal(xa, xb)) << d << ": the residual stream differs";
      auto plain = x.clone();
      auto ln = ops::add_layernorm(plain, {}, {}, gamma, beta, 1e-5, false);
      auto ln_ref = reference([&] { return ops::add_layernorm(x, {}, {}, gamma, beta, 1e-5, false); });
      auto xc = x.clone(), xd = x.clone();
      auto post = ops::add_layernorm(xc, r, {}, gamma, beta, 1e-5, false);
      auto post_ref = reference([&] { return ops::add_layernorm(xd, r, {}, gamma, beta, 1e-5, false); });
      EXPECT_LT(relative_error(post, post_ref), 1e-2) << d;
      EXPECT_LT(relative_error(ln, ln_ref), 1e-2) << d;
      EXPECT_TRUE(torch::equal(plain, x)) << d << ": layer norm alone changed its input";

      auto table = torch::randn({500, d}, bf16()), positions = torch::randn({300, d}, bf16());
      auto tokens = torch::randint(0, 500, {77}, longs()), pos = torch::randint(0, 300, {77}, longs());
      const double scale = std::sqrt(static_cast<double>(d));
      auto e = ops::embed(table, positions, tokens, pos, scale);
      auto e_ref = reference([&] { return ops::embed(table, positions, tokens, pos, scale); });
      EXPECT_TRUE(torch::equal(e, e_ref)) << d << ": max diff " << max_abs(e, e_ref);
    }
  }
  ops::set_norm_block_per_row(true);
}

TEST_F(DecodeKernels, GreedyPickEqualsTheLibTorchPath) {
  torch::NoGradGuard no_grad;
  for (int64_t vocab : {32000, 50, 1003}) {
    torch::manual_seed(104);
    const int64_t n = 64, steps = 12;
    auto logits = (torch::randn({n, vocab}, torch::TensorOptions(torch::kCUDA)) * 3);
    // A clear winner in most rows (bf16 ties would make either index right), eos on top in some.
    auto winner = torch::randint(4, vocab, {n}, longs());
    winner.narrow(0, 0, 8).fill_(3);
    logits.scatter_(1, winner.unsqueeze(1), 20.0);
    auto lg = logits.to(torch::kBFloat16);
    auto make_state = [&] {
      ops::GreedyState s;
      s.pos = torch::randint(0, steps, {n}, longs());
      s.start = torch::zeros({n}, longs());
      s.eos_at = torch::full({n}, steps, longs());
      s.eos_at.narrow(0, 8, 8).copy_(s.pos.narrow(0, 8, 8));  // forced eos in rows 8..15
      s.stop_at = torch::full({n}, steps, longs());
      s.stop_at.narrow(0, 16, 8).copy_(s.pos.narrow(0, 16, 8));  // stopping after this token in rows 16..23
      s.done = torch::zeros({n}, longs().dtype(torch::kBool));
      s.done.narrow(0, 24, 4).fill_(true);
      s.logprob = torch::randn({n}, longs().dtype(torch::kFloat64));
      s.length = torch::full({n}, -1, longs());
      s.next = torch::zeros({n}, longs());
      s.out = torch::full({steps, n}, -1, longs());
      s.min_len = 2;
      return s;
    };
    torch::manual_seed(105);
    auto a = make_state();
    torch::manual_seed(105);
    auto b = make_state();
    ops::greedy_pick(lg, a);
    reference([&] {
      ops::greedy_pick(lg, b);
      return 0;
    });
    EXPECT_TRUE(torch::equal(a.next, b.next)) << vocab;
    EXPECT_TRUE(torch::equal(a.out, b.out)) << vocab;
    EXPECT_TRUE(torch::equal(a.done, b.done)) << vocab;
    EXPECT_TRUE(torch::equal(a.length, b.length)) << vocab;
    EXPECT_TRUE(torch::equal(a.pos, b.pos)) << vocab;
    std::cout << "[ greedy pick V " << vocab << " ] max |logprob kernel - reference| " << max_abs(a.logprob, b.logprob)
              << "\n";
    EXPECT_LT(max_abs(a.logprob, b.logprob), 1e-3) << vocab;
  }
}

TEST_F(DecodeKernels, BeamCandidatesEqualTheLibTorchPath) {
  torch::NoGradGuard no_grad;
  for (int64_t vocab : {32000, 50, 1003}) {
    for (int64_t count : {2, 8, 10}) {
      torch::manual_seed(107);
      const int64_t n = 40;
      // Distinct logits per row (a permutation of a grid), so that the order is not at the mercy of ties.
      auto logits = (torch::rand({n, vocab}, torch::TensorOptions(torch::kCUDA)).argsort(1, false).to(torch::kFloat32) /
                     static_cast<double>(vocab) * 8.0)
                        .to(torch::kBFloat16);
      if (vocab > 256) logits = (torch::randn({n, vocab}, torch::TensorOptions(torch::kCUDA)) * 3).to(torch::kBFloat16);
      // Rows 10 and 11 all one value: every logit ties (at V 32000 more than the kernel's fast path takes).
      logits.narrow(0, 10, 2).fill_(0);
      auto score = torch::randn({n}, torch::TensorOptions(torch::kCUDA));
      score.narrow(0, 0, 3).fill_(-INFINITY);  // dead beams
      auto t = torch::full({1}, 4, longs());
      auto eos_at = torch::full({n}, 100, longs());
      eos_at.narrow(0, 5, 5).fill_(4);  // forced eos in rows 5..9
      auto got = ops::beam_candidates(logits, score, t, eos_at, count, 0, 2, 3, 6);  // t < min_len: no eos elsewhere
      auto want = reference([&] { return ops::beam_candidates(logits, score, t, eos_at, count, 0, 2, 3, 6); });
      // Values must agree; tokens wherever the value is tied with neither neighbour (bf16 ties are common, and tied
      // candidates may come in either order).
      std::cout << "[ beam candidates V " << vocab << " count " << count << " ] max |logprob kernel - reference| "
                << max_abs(got.logprob.nan_to_num(0, 0, 0), want.logprob.nan_to_num(0, 0, 0)) << "\n";
      EXPECT_TRUE(torch::allclose(got.logprob, want.logprob, 1e-4, 1e-4, /*equal_nan=*/true)) << vocab << " " << count;
      EXPECT_TRUE(torch::allclose(got.total, want.total, 1e-4, 1e-4, true)) << vocab << " " << count;
      auto lp = got.logprob;
      auto differs = lp.narrow(1, 1, count - 1).ne(lp.narrow(1, 0, count - 1));  // [n, count - 1]: i+1 vs i
      auto yes = torch::ones({n, 1}, differs.options());
      // The last one may tie with the next candidate, which is not returned: its token is not checked.
      auto untied = torch::cat({yes, differs}, 1).logical_and(torch::cat({differs, yes.logical_not()}, 1));
      auto tok_equal = got.token.eq(want.token);
      EXPECT_TRUE(tok_equal.logical_or(untied.logical_not()).all().item<bool>()) << vocab << " " << count;
      // Forced rows offer eos first and nothing else finite; no other row offers eos (t < min_len).
      EXPECT_TRUE(got.token.narrow(0, 5, 5).select(1, 0).eq(3).all().item<bool>());
      EXPECT_FALSE(got.token.narrow(0, 10, n - 10).eq(3).any().item<bool>());
      // Ties go to the lower token id: the all-equal rows offer 1, 4, 5, 6, ... (not pad 0, bos 2, nor eos 3 yet).
      std::vector<int64_t> lowest = {1};
      for (int64_t id = 4; static_cast<int64_t>(lowest.size()) < count; ++id) lowest.push_back(id);
      const auto lowest_t = torch::tensor(lowest, torch::kLong);
      for (int64_t r : {10, 11})
        EXPECT_TRUE(torch::equal(got.token[r].cpu(), lowest_t)) << vocab << " " << count << " row " << r;
    }
  }
}

namespace {
// A 2+2-layer seq2seq model on the GPU (d_model 128, h 8, d_k 16, 500 symbols, pad 0) with its weights scaled x3:
// peaked distributions, as a trained model's, so fewer bf16 near-ties between two decoding paths.
mqa::Transformer peaked_seq2seq(int kv_heads, uint64_t seed) {
  torch::manual_seed(seed);
  mqa::ModelConfig c;
  c.type = "seq2seq";
  c.encoder_layers = c.decoder_layers = 2;
  c.d_model = 128;
  c.heads = 8;
  c.kv_heads = kv_heads;
  c.d_k = c.d_v = 16;
  c.d_ff = 256;
  c.dropout = 0;
  c.max_positions = 64;
  mqa::Transformer m(c, 500, 0);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : m->parameters()) p.mul_(3.0);
  }
  m->to(torch::kCUDA);
  m->eval();
  return m;
}

// 24 sources of 20 tokens (500 symbols, pad 0), the first 12 of them padded after 12.
torch::Tensor padded_sources() {
  auto src = torch::randint(4, 500, {24, 20}, longs());
  src.narrow(1, 12, 8).narrow(0, 0, 12).fill_(0);
  return src;
}

mqa::SearchOptions best_only(int64_t beam) {  // beam 1 = greedy; the best hypothesis only
  mqa::SearchOptions o;
  o.beam_size = beam;
  o.nbest = 1;
  return o;
}
}  // namespace

TEST_F(DecodeKernels, SearchesOnTheKernelPathAgreeWithTheLibTorchPath) {
  torch::NoGradGuard no_grad;
  for (int kv_heads : {8, 1}) {
    mqa::Transformer m = peaked_seq2seq(kv_heads, 106);
    auto src = padded_sources();
    for (int64_t beam : {1, 4}) {
      const mqa::SearchOptions o = best_only(beam);
      mqa::DecodeEngine kernel(m, mqa::engine_options(torch::kBFloat16));
      ASSERT_TRUE(kernel.kernel_path());
      auto got = mqa::make_search(kernel, o)->search(src);
      auto want = reference([&] {
        mqa::DecodeEngine plain(m, mqa::engine_options(torch::kBFloat16));
        return mqa::make_search(plain, o)->search(src);
      });
      int64_t same = 0, total = 0;
      for (size_t b = 0; b < got.size(); ++b) {
        const auto &x = got[b][0].tokens, &y = want[b][0].tokens;
        for (size_t i = 0; i < std::min(x.size(), y.size()); ++i, ++total) {
          if (x[i] != y[i]) break;  // after a divergence the rest is another sentence
          ++same;
        }
      }
      const double agreement = static_cast<double>(same) / std::max<int64_t>(total, 1);
      std::cout << "[ search kv_heads " << kv_heads << " beam " << beam << " ] tokens equal before any divergence: "
                << agreement << "\n";
      EXPECT_GT(agreement, 0.9) << "kv_heads " << kv_heads << " beam " << beam;
    }
  }
}

// Beam search's step update as one kernel (decode_ops::fused_beam_update) against its tensor ops, both on the kernel
// path, so with the same logits: the same n-best lists bit for bit (tokens, log-probabilities, scores), for K * C of
// 8, 32 and 128 candidates a source, sources of several lengths (so several length limits: done sources keep
// stepping), without and with the greedy row (keep_greedy_path: its eos, its duplicate of a beam's, settling).
TEST_F(DecodeKernels, FusedBeamUpdateGivesTheTensorOpsHypotheses) {
  torch::NoGradGuard no_grad;
  for (int kv_heads : {8, 1}) {
    mqa::Transformer m = peaked_seq2seq(kv_heads, 108);
    auto src = padded_sources();
    src.narrow(1, 5, 15).narrow(0, 20, 4).fill_(0);  // and 4 of 5 tokens
    for (const int64_t beam : {4, 2, 8}) {
      for (const bool greedy_row : {false, true}) {
        mqa::SearchOptions o;
        o.beam_size = beam, o.nbest = beam, o.keep_greedy_path = greedy_row;
        mqa::DecodeEngine engine(m, mqa::engine_options(torch::kBFloat16));
        ops::set_fused_beam_update(true);
        const auto got = mqa::make_search(engine, o)->search(src);
        ops::set_fused_beam_update(false);
        const auto want = mqa::make_search(engine, o)->search(src);
        ops::set_fused_beam_update(true);
        ASSERT_EQ(got.size(), want.size());
        int64_t hypotheses = 0, equal = 0;
        for (size_t b = 0; b < got.size(); ++b) {
          ASSERT_EQ(got[b].size(), want[b].size()) << "source " << b;
          for (size_t k = 0; k < got[b].size(); ++k, ++hypotheses)
            equal += got[b][k].tokens == want[b][k].tokens && got[b][k].logprob == want[b][k].logprob &&
                     got[b][k].score == want[b][k].score;
        }
        std::cout << "[ fused beam update kv_heads " << kv_heads << " beam " << beam
                  << (greedy_row ? " + greedy row" : "") << " ] " << equal << " of " << hypotheses
                  << " hypotheses equal to the tensor ops'\n";
        EXPECT_EQ(equal, hypotheses) << "kv_heads " << kv_heads << " beam " << beam << " greedy row " << greedy_row;
      }
    }
  }
}

// The fused update on a step worked out by hand: 2 sources x 2 beams x 4 candidates, step t = 1. Source 0: its best
// candidate extends beam 1 (so the beams swap table rows), its second is eos from beam 0 (finishes into slot 0);
// source 1: one eos and nothing else alive (finishes into its last free slot; the source is done).
TEST_F(DecodeKernels, FusedBeamUpdateOnAStepWorkedOutByHand) {
  torch::NoGradGuard no_grad;
  const float inf = std::numeric_limits<float>::infinity();
  auto floats = torch::TensorOptions(torch::kCUDA).dtype(torch::kFloat32);
  auto on_gpu = [](std::vector<float> v, std::vector<int64_t> shape) {
    return torch::tensor(v).view(shape).to(torch::kCUDA);
  };
  auto longs_of = [](std::vector<int64_t> v, std::vector<int64_t> shape) {
    return torch::tensor(v, torch::kLong).view(shape).to(torch::kCUDA);
  };
  ops::BeamCandidates cand;
  cand.total = on_gpu({-1.0f, -0.95f, -3.0f, -4.0f,  // source 0, beam 0
                       -0.9f, -2.5f, -inf, -inf,     // beam 1
                       -0.5f, -inf, -inf, -inf,      // source 1, beam 0
                       -inf, -inf, -inf, -inf},      // beam 1
                      {4, 4});
  cand.logprob = cand.total - 0.25f;
  cand.token = longs_of({10, 3, 11, 12, 20, 21, 22, 23, 3, 30, 31, 32, 40, 41, 42, 43}, {4, 4});
  ops::BeamUpdateState u;
  u.beams = 2, u.rows_per_source = 2, u.slots = 4, u.eos = 3;
  u.pos = longs_of({1, 1, 1, 1}, {4});
  u.pen = on_gpu({1.f, 1.5f, 2.f, 2.5f, 3.f}, {5});
  u.scores = torch::zeros({2, 2}, floats);
  u.sums = torch::tensor({0.5, 0.25, 0.125, 0.0}, torch::kFloat64).view({2, 2}).to(torch::kCUDA);
  u.done = torch::zeros({2}, floats.dtype(torch::kBool));
  u.greedy_open = torch::zeros({2}, floats.dtype(torch::kBool));
  u.fin_count = longs_of({0, 3}, {2});
  u.beams_finished = longs_of({0, 3}, {2});
  u.fin_score = torch::full({2, 5}, -inf, floats);
  u.fin_lp = torch::full({2, 5}, -inf, floats.dtype(torch::kFloat64));
  u.fin_step = torch::full({2, 5}, -1, floats.dtype(torch::kLong));
  u.fin_row = torch::zeros({2, 5}, floats.dtype(torch::kLong));
  u.fin_hash = torch::full({2, 5}, -1, floats.dtype(torch::kLong));
  u.hash = longs_of({5, 7, 11, 13}, {4});
  u.hist_tok = torch::full({3, 4}, -1, floats.dtype(torch::kLong));
  u.hist_par = torch::full({3, 4}, -1, floats.dtype(torch::kLong));
  u.table = torch::arange(12, floats.dtype(torch::kInt32)).view({4, 3});
  u.tokens = torch::zeros({4}, floats.dtype(torch::kLong));
  ASSERT_TRUE(ops::fused_beam_update(cand, u));
  auto cpu = [](const torch::Tensor& x) { return x.cpu(); };
  EXPECT_TRUE(torch::equal(cpu(u.tokens), torch::tensor({20, 10, 3, 30}, torch::kLong)));
  EXPECT_TRUE(torch::equal(cpu(u.hist_tok[1]), torch::tensor({20, 10, 3, 30}, torch::kLong)));
  EXPECT_TRUE(torch::equal(cpu(u.hist_par[1]), torch::tensor({1, 0, 2, 2}, torch::kLong)));
  EXPECT_TRUE(torch::equal(cpu(u.hist_par[0]), torch::full({4}, -1, torch::kLong))) << "only step 1's row is written";
  EXPECT_TRUE(torch::equal(cpu(u.scores), torch::tensor({-0.9f, -1.0f, -inf, -inf}).view({2, 2})));
  const double dinf = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(torch::equal(cpu(u.sums), torch::tensor({0.25 + double(-0.9f - 0.25f), 0.5 + double(-1.0f - 0.25f),
                                                        0.125 + double(-0.5f - 0.25f), -dinf})
                                            .view({2, 2})));
  EXPECT_TRUE(
      torch::equal(cpu(u.table), torch::tensor({3, 4, 5, 0, 1, 2, 6, 7, 8, 6, 7, 8}, torch::kInt).view({4, 3})));
  const int64_t m = mqa::history_hash::kMultiplier, p = mqa::history_hash::kModulus;
  EXPECT_TRUE(torch::equal(cpu(u.hash), torch::tensor({(7 * m + 21) % p, (5 * m + 11) % p, (11 * m + 4) % p,
                                                       (11 * m + 31) % p}, torch::kLong)));
  EXPECT_TRUE(torch::equal(cpu(u.pos), torch::full({4}, 2, torch::kLong)));
  EXPECT_TRUE(torch::equal(cpu(u.done), torch::tensor({false, true})));
  EXPECT_TRUE(torch::equal(cpu(u.fin_count), torch::tensor({1, 4}, torch::kLong)));
  EXPECT_TRUE(torch::equal(cpu(u.beams_finished), torch::tensor({1, 4}, torch::kLong)));
  EXPECT_EQ(u.fin_score[0][0].item<float>(), -0.95f / 2.f);
  EXPECT_EQ(u.fin_lp[0][0].item<double>(), 0.5 + double(-0.95f - 0.25f));
  EXPECT_EQ(u.fin_score[1][3].item<float>(), -0.5f / 2.f);
  auto by_slot = [](std::vector<int64_t> v) { return torch::tensor(v, torch::kLong).view({2, 5}); };
  EXPECT_TRUE(torch::equal(cpu(u.fin_step), by_slot({1, -1, -1, -1, -1, -1, -1, -1, 1, -1})));
  EXPECT_TRUE(torch::equal(cpu(u.fin_row), by_slot({0, 0, 0, 0, 0, 0, 0, 0, 2, 0})));
  EXPECT_TRUE(torch::equal(cpu(u.fin_hash), by_slot({5, -1, -1, -1, -1, -1, -1, -1, 11, -1})));
}

TEST_F(DecodeKernels, HeldShapesReplayTheirWarmedUpGraphsAndSearchAsFreshSearches) {
  // translate's start-up (decode.prepare_shapes): a search holding three batch shapes, each warmed up (buffers
  // allocated, step captured), then searched in turn: every batch replays its shape's graph from the first step and
  // gives what a fresh search (its own eager step and capture) gives, token for token.
  torch::NoGradGuard no_grad;
  for (int kv_heads : {8, 1}) {
    mqa::Transformer m = peaked_seq2seq(kv_heads, 107);
    std::vector<torch::Tensor> batches = {padded_sources(), torch::randint(4, 500, {16, 12}, longs()),
                                          torch::randint(4, 500, {8, 28}, longs())};
    for (int64_t beam : {1, 4}) {
      const mqa::SearchOptions o = best_only(beam);
      mqa::DecodeEngine engine(m, mqa::engine_options(torch::kBFloat16));
      ASSERT_TRUE(engine.kernel_path());
      auto held = mqa::make_search(engine, o);
      held->keep_shapes(batches.size());
      for (const auto& b : batches) held->warm_up(b);
      int64_t compared = 0, equal = 0;
      for (size_t i : {0, 1, 2, 0}) {
        mqa::SearchTimings timings;
        auto got = held->search(batches[i], &timings);
        EXPECT_TRUE(timings.graph) << "kv_heads " << kv_heads << " beam " << beam << " batch " << i;
        auto fresh = mqa::make_search(engine, o)->search(batches[i]);
        for (size_t s = 0; s < fresh.size(); ++s, ++compared) equal += got[s][0].tokens == fresh[s][0].tokens;
      }
      std::cout << "[ held shapes kv_heads " << kv_heads << " beam " << beam << " ] " << equal << " of " << compared
                << " sentences equal to a fresh search's\n";
      EXPECT_EQ(equal, compared) << "kv_heads " << kv_heads << " beam " << beam;
      EXPECT_TRUE(engine.graph_error().empty()) << engine.graph_error();
    }
  }
}
