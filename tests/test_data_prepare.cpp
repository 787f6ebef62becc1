// mqa prepare / spm / synth: every input error names the file (and line), a prepared directory reads back what
// SentencePiece encodes, the built-in corpus is a function of its seed, and SentencePiece round-trips real text.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <sys/wait.h>

#include "mqa/config/config.h"
#include "mqa/data/dataset.h"
#include "mqa/data/position_fit.h"
#include "mqa/data/prepare.h"
#include "mqa/data/synth.h"
#include "mqa/data/tokenizer.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace {

using mqa::test::error_of;
using mqa::test::file_bytes;

// Runs a shell command; returns (exit status, stdout + stderr).
std::pair<int, std::string> run(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return {-1, "popen failed"};
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// What SentencePiece's normalizer does to whitespace: runs of spaces become one, none at either end.
std::string squeeze_spaces(const std::string& s) {
  std::istringstream in(s);
  std::string out;
  for (std::string w; in >> w;) out += (out.empty() ? "" : " ") + w;
  return out;
}

const std::string kMqa = mqa::test::mqa_binary();

// A seq2seq DataConfig over six small files in dir (each split: two lines).
mqa::DataConfig pair_config(const mqa::test::TempDir& dir) {
  mqa::DataConfig d;
  d.dir = dir.path("prepared");
  d.vocab_size = 60;
  for (const char* split : {"train", "valid", "test"}) {
    dir.write(std::string(split) + ".en", "a small house.\nthe dog sleeps.\n");
    dir.write(std::string(split) + ".de", "ein kleines haus.\nder hund schläft.\n");
  }
  d.train_source = dir.path("train.en");
  d.train_target = dir.path("train.de");
  d.valid_source = dir.path("valid.en");
  d.valid_target = dir.path("valid.de");
  d.test_source = dir.path("test.en");
  d.test_target = dir.path("test.de");
  return d;
}

// The built-in lm corpus as raw text in DIR/raw.
void write_lm_corpus(const mqa::test::TempDir& dir, int64_t train_sentences, int64_t eval_sentences) {
  mqa::SynthOptions o;
  o.kind = "lm";
  o.train_sentences = train_sentences;
  o.eval_sentences = eval_sentences;
  mqa::generate_synth_corpus(o, dir.path("raw"));
}

}  // namespace

TEST(DataPrepareErrors, MismatchedLineCountsNameBothFilesAndCounts) {
  mqa::test::TempDir dir;
  auto d = pair_config(dir);
  dir.write("train.de", "ein kleines haus.\nder hund schläft.\nnoch eine zeile.\n");
  std::ostringstream log;
  std::string msg = error_of([&] { mqa::prepare_data(d, "seq2seq", log); });
  EXPECT_NE(msg.find(d.train_source + " has 2 lines but " + d.train_target + " has 3 lines"), std::string::npos)
      << msg;
  EXPECT_FALSE(fs::exists(mqa::prepared_marker_path(d)));
}

TEST(DataPrepareErrors, InvalidUtf8NamesFileAndLine) {
  mqa::test::TempDir dir;
  auto d = pair_config(dir);
  dir.write("valid.de", "gut.\nschl\xE4" "ft.\n");  // Latin-1 'ä' on line 2
  std::ostringstream log;
  std::string msg = error_of([&] { mqa::prepare_data(d, "seq2seq", log); });
  EXPECT_NE(msg.find(d.valid_target + ":2: invalid UTF-8 (byte 0xE4 at byte 5"), std::string::npos) << msg;
  // Overlong encodings and surrogates are invalid too.
  dir.write("bad1.txt", "ok\n\xC0\xAF\n");
  EXPECT_NE(error_of([&] { mqa::check_text_file(dir.path("bad1.txt"), "text"); }).find("bad1.txt:2:"),
            std::string::npos);
  dir.write("bad2.txt", "\xED\xA0\x80\n");
  EXPECT_NE(error_of([&] { mqa::check_text_file(dir.path("bad2.txt"), "text"); }).find("bad2.txt:1:"),
            std::string::npos);
  dir.write("good.txt", "\xC3\xA4 \xE2\x82\xAC \xF0\x9F\x98\x80\n");
  EXPECT_EQ(mqa::check_text_file(dir.path("good.txt"), "text"), 1);
}

TEST(DataPrepareErrors, EmptyInputIsNamed) {
  mqa::test::TempDir dir;
  auto d = pair_config(dir);
  dir.write("test.en", "");
  std::ostringstream log;
  std::string msg = error_of([&] { mqa::prepare_data(d, "seq2seq", log); });
  EXPECT_NE(msg.find(d.test_source + ": text file (data.test_source) is empty"), std::string::npos) << msg;
}

TEST(DataPrepareErrors, MissingTextFileAndUnsetKeysAreNamed) {
  mqa::test::TempDir dir;
  auto d = pair_config(dir);
  d.valid_target = dir.path("nope.de");
  std::ostringstream log;
  std::string msg = error_of([&] { mqa::prepare_data(d, "seq2seq", log); });
  EXPECT_NE(msg.find(dir.path("nope.de") + ": text file (data.valid_target) not found"), std::string::npos) << msg;

  d.test_source.clear();
  d.test_target.clear();
  msg = error_of([&] { mqa::prepare_data(d, "seq2seq", log); });
  EXPECT_NE(msg.find("set data.test_source, data.test_target"), std::string::npos) << msg;

  mqa::DataConfig lm;
  lm.dir = dir.path("lm");
  msg = error_of([&] { mqa::prepare_data(lm, "lm", log); });
  EXPECT_NE(msg.find("set data.train_text, data.valid_text, data.test_text"), std::string::npos) << msg;
}

TEST(DataPrepareErrors, MissingVocabularyIsNamed) {
  mqa::test::TempDir dir;
  std::string msg = error_of([&] { mqa::Tokenizer tok(dir.path("none/spm.model")); });
  EXPECT_NE(msg.find(dir.path("none/spm.model") + ": vocabulary not found"), std::string::npos) << msg;
  auto [status, out] = run(kMqa + " spm encode --model " + dir.path("none/spm.model") + " < /dev/null");
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("vocabulary not found"), std::string::npos) << out;
}

TEST(DataPrepareErrors, CommandLineExitsNonZeroWithTheMessage) {
  mqa::test::TempDir dir;
  auto d = pair_config(dir);
  dir.write("train.de", "nur eine zeile.\n");
  dir.write("c.yaml", "data:\n  dir: " + d.dir + "\n  train_source: " + d.train_source + "\n  train_target: " +
                          d.train_target + "\n  valid_source: " + d.valid_source + "\n  valid_target: " +
                          d.valid_target + "\n  test_source: " + d.test_source + "\n  test_target: " + d.test_target +
                          "\n");
  auto [status, out] = run(kMqa + " prepare " + dir.path("c.yaml"));
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("has 2 lines but " + d.train_target + " has 1 lines"), std::string::npos) << out;

  dir.write("none.yaml", "data:\n  dir: " + dir.path("empty") + "\n");
  std::tie(status, out) = run(kMqa + " prepare " + dir.path("none.yaml"));
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("set data.synth: translation"), std::string::npos) << out;
}

TEST(DataPrepare, SynthCorpusIsAFunctionOfTheSeed) {
  mqa::test::TempDir dir;
  mqa::SynthOptions o;
  o.train_sentences = 300;
  o.eval_sentences = 20;
  mqa::generate_synth_corpus(o, dir.path("a"));
  mqa::generate_synth_corpus(o, dir.path("b"));
  o.seed = 2;
  mqa::generate_synth_corpus(o, dir.path("c"));
  for (const char* f : {"train.src", "train.tgt", "valid.src", "test.tgt"})
    EXPECT_EQ(file_bytes(dir.path(std::string("a/") + f)), file_bytes(dir.path(std::string("b/") + f))) << f;
  EXPECT_NE(file_bytes(dir.path("a/train.src")), file_bytes(dir.path("c/train.src")));
  // Shape: 300 lines, capitalised, ending in . or ?; evaluation sentences never repeat training ones.
  std::ifstream train(dir.path("a/train.src"));
  std::set<std::string> seen;
  std::string line;
  int lines = 0;
  while (std::getline(train, line)) {
    ++lines;
    seen.insert(line);
    ASSERT_FALSE(line.empty());
    EXPECT_TRUE(std::isupper(static_cast<unsigned char>(line[0]))) << line;
    EXPECT_TRUE(line.back() == '.' || line.back() == '?') << line;
  }
  EXPECT_EQ(lines, 300);
  std::ifstream valid(dir.path("a/valid.src"));
  while (std::getline(valid, line)) EXPECT_EQ(seen.count(line), 0u) << line;
}

TEST(DataPrepare, SynthTranslationIsConsistentAcrossTheCorpus) {
  // In every three-word sentence "Det Noun Verb." -> "Det' Noun' Verb'.", the same source noun always becomes the
  // same target noun, and the same (determiner, noun) the same agreeing target determiner: the translation is a
  // function of the source, so it can be learned.
  mqa::test::TempDir dir;
  mqa::SynthOptions o;
  o.train_sentences = 5000;
  mqa::generate_synth_corpus(o, dir.path());
  std::ifstream src(dir.path("train.src")), tgt(dir.path("train.tgt"));
  std::map<std::string, std::string> noun, det;
  std::string s, t;
  int checked = 0;
  auto words = [](const std::string& line) {
    std::istringstream in(line);
    std::vector<std::string> w;
    for (std::string x; in >> x;) w.push_back(x);
    return w;
  };
  while (std::getline(src, s) && std::getline(tgt, t)) {
    auto a = words(s), b = words(t);
    if (a.size() != 3 || s.back() != '.') continue;
    ASSERT_EQ(b.size(), 3u) << s << " -> " << t;
    auto [n, fresh_n] = noun.emplace(a[1], b[1]);
    auto [d, fresh_d] = det.emplace(a[0] + " " + a[1], b[0]);
    if (!fresh_n) {
      ++checked;
      EXPECT_EQ(n->second, b[1]) << s << " -> " << t;
      EXPECT_EQ(d->second, b[0]) << s << " -> " << t;
    }
    (void)fresh_d;
  }
  EXPECT_GT(checked, 10);  // frequent nouns recur, so the checks above ran
}

TEST(DataPrepare, EnsureDataReadyBuildsTheSynthCorpusAndShardsMatchTheVocabulary) {
  mqa::test::TempDir dir;
  auto c = mqa::default_config({"data.dir=" + dir.path("q"), "data.synth=translation", "data.vocab_size=300"}).config;
  // A small corpus keeps this test fast: the generator defaults (40k) are for training.
  mqa::SynthOptions o;
  o.train_sentences = 2000;
  o.eval_sentences = 50;
  mqa::generate_synth_corpus(o, dir.path("raw"));
  mqa::synth_raw_keys("translation", dir.path("raw"), c.data);
  c.data.synth = "";
  mqa::ensure_data_ready(c);
  ASSERT_TRUE(mqa::data_dir_ready(c.data, "seq2seq"));
  auto valid = mqa::Dataset::open(c.data, "seq2seq", "valid");
  ASSERT_EQ(valid->size(), 50);
  mqa::Tokenizer tok(mqa::vocab_path(c.data));
  std::ifstream src(dir.path("q/valid.src.txt")), tgt(dir.path("q/valid.tgt.txt"));
  std::string s, t;
  for (int64_t i = 0; std::getline(src, s) && std::getline(tgt, t); ++i) {
    auto a = tok.encode(s), b = tok.encode(t);
    EXPECT_EQ(valid->source(i), std::vector<int32_t>(a.begin(), a.end()));
    EXPECT_EQ(valid->target(i), std::vector<int32_t>(b.begin(), b.end()));
    EXPECT_EQ(tok.decode(b), t);
  }
  // Ready now: a second call does nothing (the marker is not rewritten).
  auto before = fs::last_write_time(mqa::prepared_marker_path(c.data));
  mqa::ensure_data_ready(c);
  EXPECT_EQ(before, fs::last_write_time(mqa::prepared_marker_path(c.data)));
}

TEST(SpmRoundTrip, TrainEncodeDecodeOnMulti30k) {
  if (!mqa::test::have_shared_data()) GTEST_SKIP() << mqa::test::shared_data_missing();
  mqa::test::TempDir dir;
  // A slice of the real corpus keeps training to about a second.
  std::ifstream en(mqa::test::shared_data("multi30k/train.en")), de(mqa::test::shared_data("multi30k/train.de"));
  std::ofstream slice(dir.path("slice.txt"));
  std::vector<std::string> lines;
  std::string a, b;
  for (int i = 0; i < 1500 && std::getline(en, a) && std::getline(de, b); ++i) {
    slice << a << '\n' << b << '\n';
    if (i < 200) lines.push_back(squeeze_spaces(i % 2 ? b : a));
  }
  slice.close();
  auto [status, out] = run(kMqa + " spm train --input " + dir.path("slice.txt") + " --model-prefix " +
                           dir.path("m") + " --vocab-size 800 --model-type bpe");
  ASSERT_EQ(status, 0) << out;
  mqa::Tokenizer tok(dir.path("m.model"));
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.eos_id(), 3);
  for (const auto& line : lines) EXPECT_EQ(tok.decode(tok.encode(line)), line);
  // The command line agrees with the library: encode to ids, decode back to the text.
  dir.write("in.txt", lines[0] + "\n" + lines[1] + "\n");
  std::tie(status, out) = run(kMqa + " spm encode --model " + dir.path("m.model") + " < " + dir.path("in.txt") +
                              " | " + kMqa + " spm decode --model " + dir.path("m.model"));
  ASSERT_EQ(status, 0) << out;
  EXPECT_EQ(out, lines[0] + "\n" + lines[1] + "\n");
  std::tie(status, out) = run(kMqa + " spm encode --model " + dir.path("m.model") + " --format pieces < " +
                              dir.path("in.txt") + " | " + kMqa + " spm decode --format pieces --model " +
                              dir.path("m.model"));
  ASSERT_EQ(status, 0) << out;
  EXPECT_EQ(out, lines[0] + "\n" + lines[1] + "\n");
}

TEST(DataPrepare, LmStreamEndsEverySentenceWithEosAndKeepsTheEvaluationText) {
  mqa::test::TempDir dir;
  write_lm_corpus(dir, 400, 30);
  mqa::DataConfig d;
  d.dir = dir.path("lm");
  d.vocab_size = 150;
  d.seq_len = 16;
  mqa::synth_raw_keys("lm", dir.path("raw"), d);
  std::ostringstream log;
  auto stats = mqa::prepare_data(d, "lm", log);
  EXPECT_EQ(stats.train_kept, 400);
  EXPECT_EQ(file_bytes(dir.path("lm/valid.txt")), file_bytes(dir.path("raw/valid.txt")));
  mqa::Tokenizer tok(mqa::vocab_path(d));
  auto valid = mqa::Dataset::open(d, "lm", "valid");
  // The stream read back: [eos] s1 eos s2 eos ...; example i covers stream tokens [16 i, 16 i + 16].
  std::vector<int32_t> stream = {static_cast<int32_t>(tok.eos_id())};
  std::ifstream text(dir.path("raw/valid.txt"));
  for (std::string line; std::getline(text, line);) {
    for (int id : tok.encode(line)) stream.push_back(id);
    stream.push_back(tok.eos_id());
  }
  ASSERT_EQ(valid->size(), (static_cast<int64_t>(stream.size()) - 2) / 16 + 1);
  for (int64_t i = 0; i < valid->size(); ++i) {
    auto x = valid->target(i);
    ASSERT_EQ(x, std::vector<int32_t>(stream.begin() + 16 * i, stream.begin() + std::min<size_t>(stream.size(), 16 * i + 17)));
  }
  EXPECT_NE(log.str().find("filter (train): 400 of 400 sentences kept"), std::string::npos) << log.str();
}

// Issue 15: valid/test were never length-filtered, so `mqa eval` met targets the model could not take. Every split
// now drops pairs with a side longer than data.max_len from its shards, with a count; the raw text copied for BLEU
// keeps every line (BLEU is scored on the whole test set).
TEST(DataPrepare, EvaluationSplitsAreFilteredToDataMaxLenWithCountsAndKeepTheirText) {
  mqa::test::TempDir dir;
  mqa::DataConfig d = pair_config(dir);
  std::string long_en, long_de;
  for (int i = 0; i < 25; ++i) {
    long_en += "a small house. the dog sleeps. ";
    long_de += "ein kleines haus. der hund schläft. ";
  }
  const std::string valid_en = "a small house.\n" + long_en + "\nthe dog sleeps.\n";
  const std::string valid_de = "ein kleines haus.\n" + long_de + "\nder hund schläft.\n";
  dir.write("valid.en", valid_en);
  dir.write("valid.de", valid_de);
  d.max_len = 30;  // the short lines have at most 18 characters, the long one 775
  std::ostringstream log;
  auto stats = mqa::prepare_data(d, "seq2seq", log);
  EXPECT_EQ(stats.valid, 2);
  EXPECT_EQ(stats.valid_too_long, 1);
  EXPECT_EQ(stats.test, 2);
  EXPECT_EQ(stats.test_too_long, 0);
  EXPECT_NE(log.str().find("filter (valid): 2 of 3 pairs kept; 1 with a side longer than data.max_len=30 tokens"),
            std::string::npos)
      << log.str();
  auto valid = mqa::Dataset::open(d, "seq2seq", "valid");
  ASSERT_EQ(valid->size(), 2);
  mqa::Tokenizer tok(mqa::vocab_path(d));
  auto ids = tok.encode("the dog sleeps.");
  EXPECT_EQ(valid->source(1), std::vector<int32_t>(ids.begin(), ids.end()));
  EXPECT_EQ(file_bytes(d.dir + "/valid.src.txt"), valid_en);
  EXPECT_EQ(file_bytes(d.dir + "/valid.tgt.txt"), valid_de);
  EXPECT_NE(file_bytes(mqa::prepared_marker_path(d)).find("valid_too_long: 1\n"), std::string::npos);
}

// A directory prepared before that filter (or for a longer model) still holds such pairs: training refuses it
// before the first step, naming the directory, the split and the fix, instead of aborting in the embedding.
TEST(DataPrepare, TrainingRefusesAPreparedDirectoryWithPairsTheModelCannotTake) {
  mqa::test::TempDir dir;
  mqa::DataConfig d = pair_config(dir);
  d.max_len = 1000;
  std::ostringstream log;
  mqa::prepare_data(d, "seq2seq", log);
  auto train = mqa::Dataset::open(d, "seq2seq", "train");
  const mqa::PositionFit fit = mqa::check_position_fit(*train, 1 << 20);
  ASSERT_GT(fit.longest_target, 3);
  auto c = mqa::default_config({"model.type=seq2seq", "model.max_positions=" + std::to_string(fit.longest_target),
                                "data.max_len=" + std::to_string(fit.longest_target - 1)})
               .config;
  c.data.dir = d.dir;
  c.data.train_source = d.train_source;  // raw keys set: an unprepared directory would be prepared
  const std::string msg = error_of([&] { mqa::ensure_data_ready(c); });
  EXPECT_NE(msg.find(d.dir + ": "), std::string::npos) << msg;
  EXPECT_NE(msg.find("train pairs do not fit model.max_positions (" + std::to_string(fit.longest_target) + ")"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("delete " + mqa::prepared_marker_path(d)), std::string::npos) << msg;
  // With room for the longest target and its bos, the same directory is fine.
  c.model.max_positions = static_cast<int>(std::max(fit.longest_target + 1, fit.longest_source));
  EXPECT_NO_THROW(mqa::ensure_data_ready(c));
}

// Issue 17: `mqa prepare` encodes on every CPU (data.prepare_threads) while it reads the next block; the shards must
// not depend on the schedule. More lines than one block (16384), so the read-ahead runs too.
TEST(DataPrepare, ShardsAreTheSameBytesForAnyNumberOfThreads) {
  mqa::test::TempDir dir;
  write_lm_corpus(dir, 20000, 20);
  std::map<int, std::string> shards;
  for (int threads : {1, 3}) {
    mqa::DataConfig d;
    d.dir = dir.path("t" + std::to_string(threads));
    d.vocab_size = 200;
    d.prepare_threads = threads;
    mqa::synth_raw_keys("lm", dir.path("raw"), d);
    if (threads != 1) {  // the same vocabulary: only the encoding differs
      fs::create_directories(d.dir);
      fs::copy_file(dir.path("t1/spm.model"), d.dir + "/spm.model");
    }
    std::ostringstream log;
    mqa::prepare_data(d, "lm", log);
    EXPECT_NE(log.str().find("words/s on " + std::to_string(threads) + " threads"), std::string::npos) << log.str();
    shards[threads] = file_bytes(d.dir + "/train.lm.bin") + file_bytes(d.dir + "/train.lm.idx");
  }
  EXPECT_GT(shards[1].size(), 20000u * 4);
  EXPECT_TRUE(shards[1] == shards[3]) << "the shards differ between 1 and 3 threads";
}
