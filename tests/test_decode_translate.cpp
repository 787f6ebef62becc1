// Translating text (issue 5): malformed input lines are reported by line and skipped (or are an error with
// strict), the output keeps input order whatever the length batching, and the UTF-8 check catches what it must.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "mqa/data/tokenizer.h"
#include "mqa/decode/beam_search.h"
#include "mqa/decode/translator.h"
#include "mqa/model/transformer.h"
#include "test_util.h"

namespace {

// A small SentencePiece vocabulary trained on made-up sentences, and an untrained model over it.
struct TinyTranslator {
  mqa::test::TempDir dir;
  std::unique_ptr<mqa::Tokenizer> vocab;
  mqa::Transformer model{nullptr};

  explicit TinyTranslator(int max_positions) {
    const std::vector<std::string> words = {"the", "cat", "sat", "on", "a", "mat", "dog", "ran", "far", "away",
                                            "house", "green", "blue", "big", "small", "über", "café"};
    std::string text;
    std::mt19937 rng(3);
    for (int i = 0; i < 400; ++i) {
      const int n = 3 + static_cast<int>(rng() % 8);
      for (int k = 0; k < n; ++k) text += (k ? " " : "") + words[rng() % words.size()];
      text += "\n";
    }
    mqa::SpmTrainOptions o;
    o.inputs = {dir.write("train.txt", text)};
    o.model_prefix = dir.path("spm");
    o.vocab_size = 60;
    o.num_threads = 1;
    mqa::Tokenizer::train(o);
    vocab = std::make_unique<mqa::Tokenizer>(dir.path("spm.model"));

    mqa::ModelConfig c;
    c.type = "seq2seq";
    c.encoder_layers = c.decoder_layers = 1;
    c.d_model = 32;
    c.heads = 4;
    c.kv_heads = 1;
    c.d_k = c.d_v = 8;
    c.d_ff = 64;
    c.dropout = 0;
    c.max_positions = max_positions;
    torch::manual_seed(5);
    model = mqa::Transformer(c, vocab->vocab_size(), vocab->pad_id());
    model->eval();
  }
};

mqa::TranslateOptions translate_options(int64_t beam, int64_t batch_tokens) {
  mqa::TranslateOptions o;
  o.search.beam_size = beam;
  o.search.nbest = beam;
  o.search.max_len_a = 1.0;
  o.search.max_len_b = 3;
  o.batch_tokens = batch_tokens;
  o.input_name = "in.txt";
  return o;
}

}  // namespace

TEST(DecodeTranslate, Utf8CheckFindsEveryKindOfMalformedSequence) {
  EXPECT_FALSE(mqa::utf8_error("plain ascii"));
  EXPECT_FALSE(mqa::utf8_error("na\xC3\xAFve \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x99\x82"));  // naïve 日本 🙂
  EXPECT_FALSE(mqa::utf8_error(""));
  auto bad = [](const std::string& s) { return mqa::utf8_error(s).value_or("<valid>"); };
  EXPECT_EQ(bad("ab\xFF"), "invalid UTF-8 at byte 3 (0xff cannot start a character)");
  EXPECT_EQ(bad("\x80"), "invalid UTF-8 at byte 1 (0x80 cannot start a character)");
  EXPECT_EQ(bad("x\xE6\x97"), "invalid UTF-8 at byte 2 (character cut short by the end of the line)");
  EXPECT_EQ(bad("\xC3" "a"), "invalid UTF-8 at byte 2 (0x61 is not a continuation byte)");
  EXPECT_EQ(bad("\xC0\xAF"), "invalid UTF-8 at byte 1 (overlong encoding)");
  EXPECT_EQ(bad("\xED\xA0\x80"), "invalid UTF-8 at byte 1 (U+D800 is not a character)");
  EXPECT_EQ(bad("\xF4\x90\x80\x80"), "invalid UTF-8 at byte 1 (U+110000 is not a character)");
}

TEST(DecodeTranslate, MalformedLinesAreSkippedWithAWarningNamingTheLine) {
  TinyTranslator t(/*max_positions=*/24);
  std::string too_long;
  for (int i = 0; i < 40; ++i) too_long += "house green ";
  const std::vector<std::string> lines = {"the cat sat on a mat", "bad \xFF\xFE bytes", "", too_long,
                                          "a dog ran far away\r", "café über"};
  std::ostringstream log;
  auto o = translate_options(2, 1000);
  o.log = &log;
  mqa::TranslateStats stats;
  auto out = mqa::translate_lines(t.model, *t.vocab, lines, o, &stats);
  ASSERT_EQ(out.size(), lines.size());
  EXPECT_FALSE(out[0].skipped);
  EXPECT_TRUE(out[1].skipped);
  EXPECT_NE(out[1].error.find("invalid UTF-8 at byte 5"), std::string::npos) << out[1].error;
  EXPECT_FALSE(out[2].skipped);  // empty: an empty translation, no model run
  EXPECT_TRUE(out[2].hypotheses.empty());
  EXPECT_TRUE(out[3].skipped);
  EXPECT_NE(out[3].error.find("more than model.max_positions (24)"), std::string::npos) << out[3].error;
  for (int i : {0, 4, 5}) {
    EXPECT_FALSE(out[i].skipped) << i;
    EXPECT_EQ(out[i].hypotheses.size(), 2u) << i;
    EXPECT_EQ(out[i].texts.size(), 2u) << i;
  }
  EXPECT_EQ(stats.skipped, 2);
  EXPECT_EQ(stats.sentences, 6);
  EXPECT_NE(log.str().find("in.txt:2: invalid UTF-8"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("in.txt:4: "), std::string::npos) << log.str();

  o.strict = true;
  try {
    mqa::translate_lines(t.model, *t.vocab, lines, o);
    ADD_FAILURE() << "strict mode accepted a malformed line";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("in.txt:2: invalid UTF-8 at byte 5"), std::string::npos) << e.what();
  }
}

TEST(DecodeTranslate, OutputKeepsInputOrderWhateverTheBatching) {
  TinyTranslator t(/*max_positions=*/64);
  const std::vector<std::string> lines = {"the big green house", "a cat", "the dog ran far away from the small mat",
                                          "blue", "on a mat the cat sat", "café"};
  // One sentence per batch (each decoded alone) against everything in as few batches as possible.
  auto alone = mqa::translate_lines(t.model, *t.vocab, lines, translate_options(3, 1));
  auto batched = mqa::translate_lines(t.model, *t.vocab, lines, translate_options(3, 100000));
  for (size_t i = 0; i < lines.size(); ++i) {
    auto ids = t.vocab->encode(lines[i]);
    auto one = mqa::translate_lines(t.model, *t.vocab, {lines[i]}, translate_options(3, 100000));
    ASSERT_EQ(one[0].hypotheses.size(), 3u);
    for (size_t k = 0; k < 3; ++k) {
      EXPECT_EQ(alone[i].hypotheses[k].tokens, one[0].hypotheses[k].tokens) << "line " << i;
      EXPECT_EQ(batched[i].hypotheses[k].tokens, one[0].hypotheses[k].tokens) << "line " << i;
      EXPECT_EQ(batched[i].texts[k], one[0].texts[k]);
    }
    // The length limit follows this line's own source length: a * S + b tokens at most.
    EXPECT_LE(batched[i].hypotheses[0].tokens.size(), ids.size() + 3) << "line " << i;
  }
}
