// BLEU and chrF against sacreBLEU. The reference numbers come from the real sacreBLEU through
// scripts/bleu_reference_cases.py (tests/data/bleu_cases.json); the unit tests below pin down the 13a and intl
// tokenizers and Python's string semantics rule by rule, and the CLI tests run the `mqa` binary end to end.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <sys/wait.h>

#include "mqa/eval/bleu.h"
#include "mqa/eval/chrf.h"
#include "mqa/eval/unicode_text.h"
#include "test_util.h"

namespace {

using mqa::BleuOptions;
using mqa::corpus_bleu;
using Lines = std::vector<std::string>;

const std::string kCasesFile = "tests/data/bleu_cases.json";

std::string u8(const std::u32string& s) { return mqa::unicode::encode_utf8(s); }
std::string tok13a(const std::string& s) { return mqa::tokenize(mqa::BleuTokenizer::k13a, s); }
std::string tokintl(const std::string& s) { return mqa::tokenize(mqa::BleuTokenizer::kIntl, s); }

// --- the transforms of scripts/bleu_reference_cases.py, rule for rule ------------------------------------------
// Words are str.split(' ') fields (empty fields kept), positions are 1-based.
Lines split_space(const std::string& line) {
  Lines out;
  std::size_t start = 0;
  while (true) {
    std::size_t sp = line.find(' ', start);
    if (sp == std::string::npos) {
      out.push_back(line.substr(start));
      return out;
    }
    out.push_back(line.substr(start, sp - start));
    start = sp + 1;
  }
}

std::string join_space(const Lines& words) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) out += (i ? " " : "") + words[i];
  return out;
}

Lines apply_transform(const Lines& lines, const YAML::Node& t) {
  const std::string op = t["op"].as<std::string>();
  Lines out;
  for (std::size_t li = 1; li <= lines.size(); ++li) {
    Lines words = split_space(lines[li - 1]);
    if (op == "drop_every_kth_word") {
      const auto k = t["k"].as<std::size_t>();
      Lines kept;
      for (std::size_t j = 1; j <= words.size(); ++j)
        if (j % k != 0) kept.push_back(words[j - 1]);
      words = kept;
    } else if (op == "swap_adjacent_words_every_kth_line") {
      if (li % t["k"].as<std::size_t>() == 0)
        for (std::size_t j = 0; j + 1 < words.size(); j += 2) std::swap(words[j], words[j + 1]);
    } else if (op == "lowercase_every_kth_line") {
      if (li % t["k"].as<std::size_t>() == 0)
        for (auto& w : words)
          for (auto& c : w)
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    } else if (op == "truncate_words") {
      words.resize(words.size() * t["num"].as<std::size_t>() / t["den"].as<std::size_t>());
    } else if (op == "empty_every_kth_line") {
      if (li % t["k"].as<std::size_t>() == 0) words.clear();
    } else if (op == "replace_word") {
      for (auto& w : words)
        if (w == t["from"].as<std::string>()) w = t["to"].as<std::string>();
    } else if (op == "first_lines") {
      if (li > t["n"].as<std::size_t>()) break;
    } else {
      throw std::runtime_error(kCasesFile + ": unknown transform '" + op + "'");
    }
    out.push_back(join_space(words));
  }
  return out;
}

// A file of the shared corpora: UTF-8, lines end at '\n', no final empty line (as the script reads it).
Lines read_shared(const std::string& rel) {
  std::ifstream in(mqa::test::shared_data(rel), std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + mqa::test::shared_data(rel));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  Lines lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

bool needs_shared_data(const YAML::Node& spec) { return static_cast<bool>(spec["file"]); }

Lines build(const YAML::Node& spec) {
  if (spec["lines"]) return spec["lines"].as<Lines>();
  Lines lines = read_shared(spec["file"].as<std::string>());
  for (const auto& t : spec["transforms"]) lines = apply_transform(lines, t);
  return lines;
}

YAML::Node load_cases() { return YAML::LoadFile(mqa::test::source_path(kCasesFile)); }

std::vector<std::string> case_names() {
  std::vector<std::string> names;
  try {
    for (const auto& c : load_cases()["cases"]) names.push_back(c["name"].as<std::string>());
  } catch (const std::exception&) {
    // BleuCases.FileHasEnoughCases reports the problem; instantiating no cases here keeps the binary loadable.
  }
  return names;
}

YAML::Node find_case(const std::string& name) {
  for (const auto& c : load_cases()["cases"])
    if (c["name"].as<std::string>() == name) return c;
  throw std::runtime_error(kCasesFile + ": no case named " + name);
}

// sacreBLEU's signature with its version field replaced by ours.
std::string with_our_version(const std::string& sacrebleu_sig, bool short_form = false) {
  std::string key = short_form ? "|v:" : "|version:";
  return sacrebleu_sig.substr(0, sacrebleu_sig.rfind(key)) + key + mqa::metric_format::version_field();
}

}  // namespace

TEST(BleuCases, FileHasEnoughCases) {
  YAML::Node doc = load_cases();
  ASSERT_TRUE(doc["cases"].IsSequence()) << kCasesFile << ": no 'cases' list";
  EXPECT_GE(doc["cases"].size(), 24u) << kCasesFile;
  int with_values = 0;
  for (const auto& c : doc["cases"]) with_values += c["expected"] ? 1 : 0;
  EXPECT_EQ(with_values, static_cast<int>(doc["cases"].size())) << "every case needs an 'expected' block";
}

class BleuReference : public ::testing::TestWithParam<std::string> {};

TEST_P(BleuReference, MatchesSacreBleu) {
  const YAML::Node c = find_case(GetParam());
  const std::string where = kCasesFile + " case '" + GetParam() + "' (" + c["source"].as<std::string>() + ")";
  bool shared = needs_shared_data(c["hyp"]);
  for (const auto& r : c["refs"]) shared = shared || needs_shared_data(r);
  if (shared && !mqa::test::have_shared_data())
    GTEST_SKIP() << mqa::test::shared_data_missing() << " (" << where << ")";

  Lines hyps = build(c["hyp"]);
  std::vector<Lines> refs;
  for (const auto& r : c["refs"]) refs.push_back(build(r));

  BleuOptions opt;
  opt.tokenize = mqa::parse_tokenizer(c["tokenize"].as<std::string>());
  opt.lowercase = c["lowercase"].as<bool>();
  if (c["smooth_method"]) opt.smooth = mqa::parse_smooth(c["smooth_method"].as<std::string>());
  if (c["smooth_value"]) opt.smooth_value = c["smooth_value"].as<double>();
  if (c["effective_order"]) opt.effective_order = c["effective_order"].as<bool>();
  const YAML::Node e = c["expected"];

  if (e["error"]) {
    try {
      corpus_bleu(hyps, refs, opt);
      FAIL() << where << ": sacreBLEU refused this input (" << e["error"].as<std::string>() << ") but mqa scored it";
    } catch (const mqa::MetricError& err) {
      EXPECT_NE(std::string(err.what()).find(e["error"].as<std::string>()), std::string::npos)
          << where << ": message '" << err.what() << "' does not quote sacreBLEU's";
    }
    return;
  }

  mqa::BleuScore s = corpus_bleu(hyps, refs, opt);
  EXPECT_NEAR(s.score, e["score"].as<double>(), 0.01) << where;
  EXPECT_NEAR(s.score, e["score"].as<double>(), 1e-9 * std::max(1.0, s.score)) << where << " (beyond rounding)";
  auto counts = e["counts"].as<std::vector<int64_t>>();
  auto totals = e["totals"].as<std::vector<int64_t>>();
  if (opt.smooth == mqa::BleuSmooth::kAddK) {
    // sacreBLEU returns add-k's counts and totals with k added for orders above 1; mqa keeps the raw statistics
    // (bleu.h). The precisions below are compared as they are.
    auto k = static_cast<int64_t>(opt.smooth_value.value_or(1.0));
    for (std::size_t n = 1; n < counts.size(); ++n) counts[n] -= k, totals[n] -= k;
  }
  EXPECT_EQ(s.counts, counts) << where;
  EXPECT_EQ(s.totals, totals) << where;
  auto precisions = e["precisions"].as<std::vector<double>>();
  ASSERT_EQ(s.precisions.size(), precisions.size()) << where;
  for (std::size_t n = 0; n < precisions.size(); ++n) EXPECT_NEAR(s.precisions[n], precisions[n], 1e-9) << where;
  EXPECT_NEAR(s.bp, e["bp"].as<double>(), 1e-12) << where;
  EXPECT_EQ(s.sys_len, e["sys_len"].as<int64_t>()) << where;
  EXPECT_EQ(s.ref_len, e["ref_len"].as<int64_t>()) << where;
  EXPECT_EQ(s.format(), e["format"].as<std::string>()) << where;
  EXPECT_EQ(s.signature(), with_our_version(e["signature"].as<std::string>())) << where;

  mqa::ChrfOptions copt;
  if (const YAML::Node o = c["chrf_options"]) {
    if (o["word_order"]) copt.word_order = o["word_order"].as<int>();
    if (o["lowercase"]) copt.lowercase = o["lowercase"].as<bool>();
  }
  mqa::ChrfScore chrf = mqa::corpus_chrf(hyps, refs, copt);
  EXPECT_NEAR(chrf.score, e["chrf"].as<double>(), 1e-9 * std::max(1.0, chrf.score)) << where;
  EXPECT_EQ(chrf.format(), e["chrf_format"].as<std::string>()) << where;
  EXPECT_EQ(chrf.signature(), with_our_version(e["chrf_signature"].as<std::string>())) << where;
}

INSTANTIATE_TEST_SUITE_P(BleuCases, BleuReference, ::testing::ValuesIn(case_names()),
                         [](const auto& info) { return info.param; });

// --- 13a: each expectation follows from tokenizer_13a.py / tokenizer_re.py -------------------------------------

TEST(Bleu13a, SplitsAsciiPunctuationButNotApostrophes) {
  // The first regex pads [{-~ [-` space-& (-+ :-@ /]; ' , - . are left to later rules or kept.
  EXPECT_EQ(tok13a("Hello, world! (yes) \"q\" a/b it's #1 50% a&b"),
            "Hello , world ! ( yes ) \" q \" a / b it's # 1 50 % a & b");
}

TEST(Bleu13a, PeriodsAndCommasStayInsideNumbers) {
  // ([^0-9])([.,]) and ([.,])([^0-9]): a separator between two digits is kept. The padding " {} " makes the final
  // period of "3.14." followed by a space, so it is split off.
  EXPECT_EQ(tok13a("1,000.50 and 3.14."), "1,000.50 and 3.14 .");
  EXPECT_EQ(tok13a("a.b 5.b a.5 x,y"), "a . b 5 . b a . 5 x , y");
}

TEST(Bleu13a, DashSplitOnlyAfterADigit) {
  // ([0-9])(-) -> "\1 \2 ": "2-3" splits, "a-b" and "-5" do not.
  EXPECT_EQ(tok13a("2-3 a-b -5 well-known"), "2 - 3 a-b -5 well-known");
}

TEST(Bleu13a, UnescapesEntitiesInSacreBleusOrder) {
  // &quot; &amp; &lt; &gt; are replaced in that order, so "&amp;lt;" becomes "&lt;" and then "<".
  EXPECT_EQ(tok13a("&quot;x&quot; &amp;lt; &gt;"), "\" x \" < >");
  // &apos; is not one of the four: '&' and ';' are both in the first class and split off.
  EXPECT_EQ(tok13a("&apos;kept&apos;"), "& apos ; kept & apos ;");
}

TEST(Bleu13a, SkippedMarkersAndLineBreaks) {
  // "<skipped>" is deleted, "-\n" joins a hyphenated word, any other "\n" becomes a space.
  EXPECT_EQ(tok13a("<skipped>co-\noperate line\nbreak"), "cooperate line break");
}

TEST(Bleu13a, LeavesNonAsciiAlone) {
  // Only ASCII characters are in 13a's classes: curly quotes, dashes and CJK punctuation stay attached.
  EXPECT_EQ(tok13a("“Straße”—ok。 ä,"), "“Straße”—ok。 ä ,");
}

TEST(BleuIntl, SplitsUnicodePunctuationAndSymbols) {
  // (\P{N})(\p{P}) and (\p{P})(\P{N}) split punctuation not between numbers; (\p{S}) pads every symbol.
  EXPECT_EQ(tokintl("“Straße”—ok。"), "“ Straße ” — ok 。");
  EXPECT_EQ(tokintl("$5 a+b 3€ 🙂x"), "$ 5 a + b 3 € 🙂 x");
  EXPECT_EQ(tokintl("1,000.50 and 3.14"), "1,000.50 and 3.14");
}

TEST(BleuIntl, NumberKeepsItsFinalPeriodLikeMteval14) {
  // No padding in intl: "2019." has nothing after the period, so neither punctuation rule matches.
  EXPECT_EQ(tokintl("in 2019."), "in 2019.");
  EXPECT_EQ(tokintl("in 2019. Then"), "in 2019 . Then");
}

// --- Python string semantics -----------------------------------------------------------------------------------

TEST(BleuUnicode, WhitespaceIsPythonsIsspace) {
  using mqa::unicode::is_space;
  EXPECT_TRUE(is_space(U'\u00a0'));   // NO-BREAK SPACE: str.split() splits on it
  EXPECT_TRUE(is_space(U'\u3000'));   // IDEOGRAPHIC SPACE
  EXPECT_TRUE(is_space(U'\x1c'));     // FILE SEPARATOR counts for Python
  EXPECT_FALSE(is_space(U'\u200b'));  // ZERO WIDTH SPACE does not
  auto words = mqa::unicode::split_whitespace(U"a\u00a0b\u3000 c\t");
  ASSERT_EQ(words.size(), 3u);
  EXPECT_EQ(u8(words[2]), "c");
}

TEST(BleuUnicode, LowerIsPythonsStrLower) {
  using mqa::unicode::lower;
  EXPECT_EQ(u8(lower(U"ÄÖÜ STRASSE Straße")), "äöü strasse straße");
  EXPECT_EQ(u8(lower(U"İ")), "i\u0307");  // full mapping: one code point becomes two
  // Final_Sigma: Σ after a cased letter and not before one becomes ς; alone or word-initial it is σ.
  EXPECT_EQ(u8(lower(U"ΟΔΟΣ ΣΑΣ Σ ΑΣ' ΑΣ1")), "οδος σας σ ας' ας1");
}

TEST(BleuUnicode, InvalidUtf8BecomesReplacementCharacters) {
  EXPECT_EQ(mqa::unicode::decode_utf8("a\xff" "b"), U"a\uFFFDb");
  EXPECT_EQ(mqa::unicode::decode_utf8("\xc0\xaf"), U"\uFFFD\uFFFD");  // overlong '/'
  EXPECT_EQ(mqa::unicode::decode_utf8("\xe2\x82"), U"\uFFFD\uFFFD");  // truncated sequence
  EXPECT_EQ(mqa::unicode::first_invalid_utf8("ok\xed\xa0\x80"), 2u);  // a surrogate
  EXPECT_EQ(mqa::unicode::first_invalid_utf8("Straße 🙂"), std::string::npos);
  // Scoring invalid text does not crash: the bad byte is a token of its own.
  auto s = corpus_bleu({"a \xff b c d"}, {{"a \xff b c d"}});
  EXPECT_DOUBLE_EQ(s.score, 100.0);
}

// --- input errors ------------------------------------------------------------------------------------------------

namespace {
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const mqa::MetricError& e) {
    return e.what();
  }
  return "<no error>";
}
}  // namespace

TEST(BleuErrors, LineCountMismatchNamesBothCounts) {
  std::string msg = error_of([] { corpus_bleu({"a", "b", "c"}, {{"a", "b", "c"}, {"a", "b"}}); });
  EXPECT_NE(msg.find("reference stream 2 has 2 lines but there are 3 hypotheses"), std::string::npos) << msg;
  msg = error_of([] { mqa::corpus_chrf({"a"}, {{"a", "b"}}); });
  EXPECT_NE(msg.find("reference stream 1 has 2 lines but there are 1 hypotheses"), std::string::npos) << msg;
}

TEST(BleuErrors, EmptyCorpusAndMissingReferences) {
  EXPECT_NE(error_of([] { corpus_bleu({}, {{}}); }).find("no hypotheses"), std::string::npos);
  EXPECT_NE(error_of([] { corpus_bleu({"a"}, {}); }).find("no references"), std::string::npos);
  // An empty reference line is a reference of length 0, as in sacreBLEU 2.6 (not an error, not dropped).
  auto s = corpus_bleu({"a b", "c d"}, {{"a b", ""}});
  EXPECT_EQ(s.ref_len, 2);
  EXPECT_EQ(s.sys_len, 4);
}

// The statistics of the parts of a corpus scored apart, summed, give the score of the whole corpus (what
// data-parallel validation does with train.valid_bleu_sentences): compute_bleu is corpus_bleu's last step.
TEST(BleuStatistics, PartsScoredApartAndSummedGiveTheWholeCorpusScore) {
  const Lines hyps = {"the cat sat on the mat", "a dog barked loudly at night", "it rained", "",
                      "the quick brown fox jumps over the lazy dog", "we went home early"};
  const Lines refs = {"the cat sat on a mat", "the dog barked at night", "it rained all day", "nothing here",
                      "the quick brown fox jumped over the lazy dog", "we went home"};
  for (const char* smooth : {"exp", "floor", "add-k", "none"}) {
    BleuOptions options;
    options.smooth = mqa::parse_smooth(smooth);
    const mqa::BleuScore whole = corpus_bleu(hyps, {refs}, options);
    mqa::BleuScore summed;
    summed.options = options;
    summed.nrefs = "1";
    summed.counts.assign(4, 0);
    summed.totals.assign(4, 0);
    for (size_t part = 0; part < 2; ++part) {  // lines 0, 2, 4 and 1, 3, 5, as two ranks would take them
      Lines h, r;
      for (size_t i = part; i < hyps.size(); i += 2) {
        h.push_back(hyps[i]);
        r.push_back(refs[i]);
      }
      const mqa::BleuScore s = corpus_bleu(h, {r}, options);
      for (int n = 0; n < 4; ++n) {
        summed.counts[n] += s.counts[n];
        summed.totals[n] += s.totals[n];
      }
      summed.sys_len += s.sys_len;
      summed.ref_len += s.ref_len;
    }
    const mqa::BleuScore total = mqa::compute_bleu(summed);
    EXPECT_GT(whole.score, 0.0) << smooth;
    EXPECT_EQ(total.score, whole.score) << smooth;
    EXPECT_EQ(total.bp, whole.bp) << smooth;
    EXPECT_EQ(total.precisions, whole.precisions) << smooth;
    EXPECT_EQ(total.format(), whole.format()) << smooth;
  }
  mqa::BleuScore wrong;
  wrong.counts = {1, 0};
  wrong.totals = {2, 1};
  EXPECT_THROW(mqa::compute_bleu(wrong), mqa::MetricError);  // max_ngram_order 4 needs 4 of each
}

TEST(BleuFormat, JsonMatchesSacreBleusDefaultOutput) {
  auto s = corpus_bleu({"the cat sat on the mat"}, {{"the cat sat on a mat"}});
  std::string v = mqa::metric_format::version_field();
  EXPECT_EQ(s.json(1),
            "{\n \"name\": \"BLEU\",\n \"score\": 53.7,\n \"signature\": \"nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|"
            "version:" + v + "\",\n \"verbose_score\": \"83.3/60.0/50.0/33.3 (BP = 1.000 ratio = 1.000 hyp_len = 6 "
            "ref_len = 6)\",\n \"nrefs\": \"1\",\n \"case\": \"mixed\",\n \"eff\": \"no\",\n \"tok\": \"13a\",\n "
            "\"smooth\": \"exp\",\n \"version\": \"" + v + "\"\n}");
  EXPECT_EQ(mqa::metric_format::json_number(100.0, 1), "100.0");
  EXPECT_EQ(mqa::metric_format::json_number(0.0, 2), "0.0");
  EXPECT_EQ(mqa::metric_format::json_number(27.304, 2), "27.3");
  EXPECT_EQ(s.signature(true), "#:1|c:mixed|e:no|tok:13a|s:exp|v:" + v);
}

// --- the `mqa bleu` command -----------------------------------------------------------------------------------------

namespace {
struct CliRun {
  int status;
  std::string output;  // stdout and stderr
};

CliRun run_mqa(const std::string& args) {
  std::string cmd = mqa::test::mqa_binary() + " " + args + " 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run " + cmd);
  std::string out;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}
}  // namespace

TEST(BleuCli, ScoresFilesLikeSacreBleusTextFormat) {
  mqa::test::TempDir dir;
  std::string ref = dir.write("ref.txt", "the cat sat on a mat\nthere is a dog\n");
  std::string hyp = dir.write("hyp.txt", "the cat sat on the mat\nthere is one dog\n");
  std::string v = mqa::metric_format::version_field();
  auto expected_score = corpus_bleu({"the cat sat on the mat", "there is one dog"},
                                    {{"the cat sat on a mat", "there is a dog"}});
  std::string line = "BLEU|nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:" + v + " = " +
                     expected_score.format(1, true) + " " + expected_score.verbose() + "\n";

  CliRun r = run_mqa("bleu " + ref + " -i " + hyp);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output, line);
  // Standard input, with Windows line ends (Python's universal newlines on stdin).
  std::string crlf = dir.write("hyp_crlf.txt", "the cat sat on the mat\r\nthere is one dog\r\n");
  r = run_mqa("bleu " + ref + " < " + crlf);
  EXPECT_EQ(r.output, line);
  r = run_mqa("bleu " + ref + " -i " + hyp + " -b -w 2");
  EXPECT_EQ(r.output, expected_score.format(2, true) + "\n");
  r = run_mqa("bleu " + ref + " -i " + hyp + " --format json");
  EXPECT_EQ(r.output, expected_score.json(1) + "\n");
}

TEST(BleuCli, ChrfLinesAlignOnTheEqualsSign) {
  mqa::test::TempDir dir;
  std::string ref = dir.write("ref.txt", "the cat sat on a mat\n");
  std::string hyp = dir.write("hyp.txt", "the cat sat on the mat\n");
  CliRun r = run_mqa("bleu " + ref + " -i " + hyp + " --chrf --short");
  ASSERT_EQ(r.status, 0) << r.output;
  std::istringstream lines(r.output);
  std::string bleu_line, chrf_line;
  std::getline(lines, bleu_line);
  std::getline(lines, chrf_line);
  EXPECT_EQ(bleu_line.find(" = "), chrf_line.find(" = ")) << r.output;
  EXPECT_NE(chrf_line.find("chrF2|#:1|c:mixed|e:yes|nc:6|nw:0|s:no|v:"), std::string::npos) << r.output;
}

TEST(BleuCli, MultipleReferencesAndTokenizerOptions) {
  mqa::test::TempDir dir;
  std::string r1 = dir.write("r1.txt", "It costs $1,000.50 in 2019.\n");
  std::string r2 = dir.write("r2.txt", "It is $1,000.50 in 2019 .\n");
  std::string hyp = dir.write("hyp.txt", "IT costs $1,000.50 in 2019.\n");
  auto s = corpus_bleu({"IT costs $1,000.50 in 2019."}, {{"It costs $1,000.50 in 2019."}, {"It is $1,000.50 in 2019 ."}},
                       BleuOptions{mqa::BleuTokenizer::kIntl, true});
  CliRun r = run_mqa("bleu " + r1 + " " + r2 + " -i " + hyp + " --tokenize intl --lowercase -w 2");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output, s.format(2, false, s.signature()) + "\n");
  EXPECT_NE(r.output.find("nrefs:2|case:lc|eff:no|tok:intl"), std::string::npos) << r.output;
}

TEST(BleuCli, LineCountMismatchNamesFilesAndCounts) {
  mqa::test::TempDir dir;
  std::string ref = dir.write("ref.txt", "a\nb\nc\n");
  std::string hyp = dir.write("hyp.txt", "a\nb\n");
  CliRun r = run_mqa("bleu " + ref + " -i " + hyp);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("hypothesis " + hyp + " has 2 lines, reference " + ref + " has 3"), std::string::npos)
      << r.output;
}

TEST(BleuCli, UnreadableAndInvalidFilesAreNamed) {
  mqa::test::TempDir dir;
  std::string hyp = dir.write("hyp.txt", "a\n");
  CliRun r = run_mqa("bleu " + dir.path("missing.txt") + " -i " + hyp);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("cannot read reference file '" + dir.path("missing.txt") + "'"), std::string::npos)
      << r.output;
  std::string bad = dir.write("bad.txt", "fine\nnot \xff fine\n");
  r = run_mqa("bleu " + bad + " -i " + dir.write("h2.txt", "a\nb\n"));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("reference " + bad + ":2: invalid UTF-8 at byte 5"), std::string::npos) << r.output;
}
