// The built-in corpus (see synth.h for the two grammars).
#include "mqa/data/synth.h"

#include "mqa/util/splitmix.h"

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

namespace mqa {

namespace fs = std::filesystem;

namespace {

struct Rng : SplitMix64 {
  using SplitMix64::SplitMix64;
  // A skewed pick (density ~ 1/sqrt(rank)): frequent words are frequent, yet the rarest of a few thousand words
  // still appear a few dozen times in 40k sentences.
  size_t zipf(size_t n) {
    double u = real();
    return std::min(n - 1, static_cast<size_t>(u * u * static_cast<double>(n)));
  }
};

struct Phonology {
  std::vector<std::string> onsets, vowels, codas;
  std::string syllable(Rng& r) const {
    return onsets[r.below(onsets.size())] + vowels[r.below(vowels.size())] + codas[r.below(codas.size())];
  }
  std::string word(Rng& r, int min_syllables, int max_syllables) const {
    int n = min_syllables + static_cast<int>(r.below(max_syllables - min_syllables + 1));
    std::string w;
    for (int i = 0; i < n; ++i) w += syllable(r);
    return w;
  }
};

const Phonology kSourceSounds{
    {"b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st", "pl", "kr", ""},
    {"a", "e", "i", "o", "u", "ai", "ou"},
    {"", "", "", "n", "r", "s", "l", "m", "k"}};
const Phonology kTargetSounds{
    {"ch", "sh", "th", "k", "l", "m", "n", "r", "s", "t", "w", "y", "h", "q", "dr", ""},
    {"a", "e", "i", "o", "u", "aa", "ei", "uo"},
    {"", "", "n", "x", "r", "sh", "t"}};

// Source function words and affixes.
const char* kSrcDef = "ta";       // definite, either number
const char* kSrcIndef = "ko";     // indefinite singular
const char* kSrcIndefPl = "sem";  // indefinite plural
const char* kSrcPlural = "en";    // noun suffix
const char* kSrcPast = "it";      // verb suffix
const char* kSrcNeg = "nu";       // before the verb
const char* kSrcRel = "wa";       // relative pronoun
const char* kSrcQuestion = "ne";  // sentence-initial

// Target morphology, indexed [gender][number].
const char* kTgtDef[2][2] = {{"du", "dun"}, {"di", "din"}};
const char* kTgtIndef[2][2] = {{"em", "emi"}, {"am", "ami"}};
const char* kTgtAdj[2][2] = {{"o", "os"}, {"a", "as"}};
const char* kTgtVerb[2][2] = {{"et", "etu"}, {"at", "atu"}};
const char* kTgtPlural = "ul";
const char* kTgtPast = "yo";      // verb prefix
const char* kTgtNeg = "mu";       // verb suffix, after agreement
const char* kTgtRel = "ke";       // opens a relative clause after its noun
const char* kTgtQuestion = "ka";  // sentence-final

struct Word {
  std::string src, tgt;
  int gender = 0;           // nouns: the target gender
  bool transitive = false;  // verbs
};

struct NP {
  std::vector<std::string> src, tgt;
  int gender = 0, number = 0;
};

class Grammar {
 public:
  explicit Grammar(uint64_t seed) {
    Rng r(seed * 0x2545F4914F6CDD1Dull + 17);
    for (const char* w : {kSrcDef, kSrcIndef, kSrcIndefPl, kSrcNeg, kSrcRel, kSrcQuestion}) src_forms_.insert(w);
    for (const char* w : {kTgtRel, kTgtQuestion}) tgt_forms_.insert(w);
    make(r, nouns_, 1600, 2, 3, {"", kSrcPlural});
    make(r, verbs_, 600, 2, 3, {"", kSrcPast});
    make(r, adjectives_, 500, 2, 3, {""});
    make(r, prepositions_, 12, 1, 1, {""});
    for (auto& n : nouns_) n.gender = static_cast<int>(r.below(2));
    for (auto& v : verbs_) v.transitive = r.chance(0.7);
  }

  // A (source, target) sentence; the target is a function of the source.
  std::pair<std::string, std::string> sentence(Rng& r) const {
    for (;;) {
      std::vector<std::string> src, tgt;
      const bool question = r.chance(0.12);
      if (question) src.push_back(kSrcQuestion);
      // Sentence-initial prepositional phrase, closed by a comma (which removes any attachment ambiguity).
      std::vector<std::string> pp_src, pp_tgt;
      if (r.chance(0.2)) {
        prepositional(r, pp_src, pp_tgt);
        pp_src.back() += ",";
        pp_tgt.back() += ",";
        append(src, pp_src);
        append(tgt, pp_tgt);
      }
      NP subject = noun_phrase(r, 0.5, true);
      const Word& verb = verbs_[r.zipf(verbs_.size())];
      const bool past = r.chance(0.35), negated = r.chance(0.1);
      append(src, subject.src);
      append(tgt, subject.tgt);
      if (negated) src.push_back(kSrcNeg);
      src.push_back(past ? verb.src + kSrcPast : verb.src);
      if (verb.transitive) {
        NP object = noun_phrase(r, 0.5, true);
        append(src, object.src);
        append(tgt, object.tgt);  // SOV: the object precedes the verb
      }
      tgt.push_back(verb_form(verb, subject, past, negated));
      if (question) tgt.push_back(kTgtQuestion);
      if (src.size() < 3 || src.size() > 20) continue;  // ~3-20 words
      return {finish(src, question), finish(tgt, question)};
    }
  }

 private:
  void make(Rng& r, std::vector<Word>& out, size_t n, int lo, int hi, const std::vector<std::string>& suffixes) {
    while (out.size() < n) {
      Word w;
      w.src = kSourceSounds.word(r, lo, hi);
      w.tgt = kTargetSounds.word(r, lo, hi);
      // Every inflected source form must be unique so that the source parses one way only.
      bool clash = tgt_forms_.count(w.tgt) > 0;
      for (const auto& s : suffixes) clash = clash || src_forms_.count(w.src + s) > 0;
      if (clash || w.src.size() < 2 || w.tgt.size() < 2) continue;
      for (const auto& s : suffixes) src_forms_.insert(w.src + s);
      tgt_forms_.insert(w.tgt);
      out.push_back(std::move(w));
    }
  }

  static void append(std::vector<std::string>& a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
  }

  // Det Adj* N [PP | relative clause]  ->  Det N Adj* [PP | relative clause], with gender/number agreement.
  NP noun_phrase(Rng& r, double modifier_p, bool allow_modifier) const {
    NP np;
    const Word& noun = nouns_[r.zipf(nouns_.size())];
    np.gender = noun.gender;
    np.number = r.chance(0.3) ? 1 : 0;
    const bool definite = r.chance(0.6);
    const int adjectives = r.chance(0.45) ? (r.chance(0.3) ? 2 : 1) : 0;
    std::vector<const Word*> adj;
    for (int i = 0; i < adjectives; ++i) adj.push_back(&adjectives_[r.zipf(adjectives_.size())]);
    np.src.push_back(definite ? kSrcDef : (np.number ? kSrcIndefPl : kSrcIndef));
    for (const Word* a : adj) np.src.push_back(a->src);
    np.src.push_back(np.number ? noun.src + kSrcPlural : noun.src);
    np.tgt.push_back(definite ? kTgtDef[np.gender][np.number] : kTgtIndef[np.gender][np.number]);
    np.tgt.push_back(np.number ? noun.tgt + kTgtPlural : noun.tgt);
    for (const Word* a : adj) np.tgt.push_back(a->tgt + kTgtAdj[np.gender][np.number]);
    if (allow_modifier && r.chance(modifier_p)) {
      if (r.chance(0.5)) {
        prepositional(r, np.src, np.tgt);
      } else {
        // Subject relative: "N wa V [NP]" -> "N ke [NP] V-agr" (SOV inside the clause too).
        const Word& verb = verbs_[r.zipf(verbs_.size())];
        const bool past = r.chance(0.3);
        np.src.push_back(kSrcRel);
        np.src.push_back(past ? verb.src + kSrcPast : verb.src);
        np.tgt.push_back(kTgtRel);
        if (verb.transitive) {
          NP object = noun_phrase(r, 0, false);
          append(np.src, object.src);
          append(np.tgt, object.tgt);
        }
        np.tgt.push_back(verb_form(verb, np, past, false));
      }
    }
    return np;
  }

  // Prep NP -> NP Postp.
  void prepositional(Rng& r, std::vector<std::string>& src, std::vector<std::string>& tgt) const {
    const Word& prep = prepositions_[r.below(prepositions_.size())];
    NP np = noun_phrase(r, 0, false);
    src.push_back(prep.src);
    append(src, np.src);
    append(tgt, np.tgt);
    tgt.push_back(prep.tgt);
  }

  static std::string verb_form(const Word& verb, const NP& subject, bool past, bool negated) {
    std::string v = (past ? std::string(kTgtPast) : "") + verb.tgt + kTgtVerb[subject.gender][subject.number];
    return negated ? v + kTgtNeg : v;
  }

  static std::string finish(const std::vector<std::string>& words, bool question) {
    std::string s;
    for (size_t i = 0; i < words.size(); ++i) {
      if (i) s += ' ';
      s += words[i];
    }
    s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
    return s + (question ? "?" : ".");
  }

  std::vector<Word> nouns_, verbs_, adjectives_, prepositions_;
  std::unordered_set<std::string> src_forms_, tgt_forms_;
};

// Writes lines to PATH atomically.
class AtomicTextFile {
 public:
  explicit AtomicTextFile(std::string path) : path_(std::move(path)), out_(path_ + ".tmp", std::ios::binary) {
    if (!out_) throw std::runtime_error(fmt::format("{}.tmp: cannot create", path_));
  }
  void line(const std::string& s) { out_ << s << '\n'; }
  void commit() {
    out_.close();
    if (!out_) throw std::runtime_error(fmt::format("{}.tmp: write failed", path_));
    fs::rename(path_ + ".tmp", path_);
  }

 private:
  std::string path_;
  std::ofstream out_;
};

}  // namespace

void generate_synth_corpus(const SynthOptions& o, const std::string& dir) {
  if (o.kind != "translation" && o.kind != "lm")
    throw std::runtime_error(fmt::format("synthetic corpus kind '{}': expected translation or lm", o.kind));
  if (o.train_sentences < 1 || o.eval_sentences < 1)
    throw std::runtime_error("synthetic corpus: need at least one training and one evaluation sentence");
  fs::create_directories(dir);
  Grammar grammar(o.seed);
  Rng r(o.seed ^ 0xD1B54A32D192ED03ull);
  const bool lm = o.kind == "lm";
  // Sentence hashes of earlier splits: evaluation sentences never repeat a training sentence (or each other).
  std::unordered_set<uint64_t> seen;  // 64-bit hashes: a few MB even for millions of sentences
  const std::pair<const char*, int64_t> splits[] = {
      {"train", o.train_sentences}, {"valid", o.eval_sentences}, {"test", o.eval_sentences}};
  for (const auto& [split, count] : splits) {
    const bool eval = std::string(split) != "train";
    auto base = (fs::path(dir) / split).string();
    AtomicTextFile src(base + (lm ? ".txt" : ".src"));
    std::unique_ptr<AtomicTextFile> tgt;
    if (!lm) tgt = std::make_unique<AtomicTextFile>(base + ".tgt");
    for (int64_t i = 0; i < count;) {
      auto [s, t] = grammar.sentence(r);
      const uint64_t h = std::hash<std::string>()(s);
      if (eval && seen.count(h)) continue;
      seen.insert(h);
      src.line(s);
      if (tgt) tgt->line(t);
      ++i;
    }
    src.commit();
    if (tgt) tgt->commit();
  }
}

void synth_raw_keys(const std::string& kind, const std::string& dir, DataConfig& d) {
  auto p = [&](const std::string& name) { return (fs::path(dir) / name).string(); };
  if (kind == "lm") {
    d.train_text = p("train.txt");
    d.valid_text = p("valid.txt");
    d.test_text = p("test.txt");
  } else {
    d.train_source = p("train.src");
    d.train_target = p("train.tgt");
    d.valid_source = p("valid.src");
    d.valid_target = p("valid.tgt");
    d.test_source = p("test.src");
    d.test_target = p("test.tgt");
  }
}

}  // namespace mqa
