#include "mqa/eval/chrf.h"

#include <unordered_map>

#include "mqa/eval/unicode_text.h"

namespace mqa {

namespace {

using Counter = std::unordered_map<std::u32string, int64_t>;

// extract_all_char_ngrams: orders 1..max_order over code points, whitespace removed unless kept.
std::vector<Counter> char_ngrams(const std::u32string& line, int max_order, bool keep_whitespace) {
  std::u32string text;
  if (keep_whitespace) {
    text = line;
  } else {
    for (const auto& w : unicode::split_whitespace(line)) text += w;
  }
  std::vector<Counter> out(max_order);
  for (int n = 1; n <= max_order; ++n)
    for (std::size_t i = 0; i + n <= text.size(); ++i) ++out[n - 1][text.substr(i, n)];
  return out;
}

// CHRF._remove_punctuation: one ASCII punctuation character is split off the end of a word, or else off its
// start ("(hi)" -> "(hi", ")"), for words longer than one character.
std::vector<std::u32string> remove_punctuation(const std::u32string& sent) {
  static const std::u32string puncts = U"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
  auto is_punct = [](char32_t c) { return puncts.find(c) != std::u32string::npos; };
  std::vector<std::u32string> out;
  for (auto& w : unicode::split_whitespace(sent)) {
    if (w.size() == 1) {
      out.push_back(w);
    } else if (is_punct(w.back())) {
      out.push_back(w.substr(0, w.size() - 1));
      out.push_back(w.substr(w.size() - 1));
    } else if (is_punct(w.front())) {
      out.push_back(w.substr(0, 1));
      out.push_back(w.substr(1));
    } else {
      out.push_back(w);
    }
  }
  return out;
}

// extract_word_ngrams: keys are ' '.join(tokens[i:i+n]).
Counter word_ngrams(const std::vector<std::u32string>& words, int n) {
  Counter out;
  for (std::size_t i = 0; i + n <= words.size(); ++i) {
    std::u32string key = words[i];
    for (int k = 1; k < n; ++k) key += U' ' + words[i + k];
    ++out[key];
  }
  return out;
}

std::vector<Counter> all_ngrams(const std::u32string& text, const ChrfOptions& opt) {
  auto out = char_ngrams(text, opt.char_order, opt.whitespace);
  if (opt.word_order > 0) {
    auto words = remove_punctuation(text);
    for (int n = 1; n <= opt.word_order; ++n) out.push_back(word_ngrams(words, n));
  }
  return out;
}

// [hyp count, ref count, matches]; no hypothesis count when the reference has no n-gram of this order.
void match_statistics(const Counter& hyp, const Counter& ref, std::vector<int64_t>& stats) {
  int64_t match = 0, hyp_count = 0, ref_count = 0;
  for (const auto& [ng, count] : hyp) {
    hyp_count += count;
    auto it = ref.find(ng);
    if (it != ref.end()) match += std::min(count, it->second);
  }
  for (const auto& [ng, count] : ref) ref_count += count;
  stats.push_back(ref.empty() ? 0 : hyp_count);
  stats.push_back(ref_count);
  stats.push_back(match);
}

// CHRF._compute_f_score.
double f_score(const std::vector<int64_t>& stats, const ChrfOptions& opt) {
  const double eps = 1e-16;
  const int order = opt.char_order + opt.word_order;
  const double factor = static_cast<double>(opt.beta) * opt.beta;
  double score = 0.0, avg_prec = 0.0, avg_rec = 0.0;
  int effective_order = 0;
  for (int i = 0; i < order; ++i) {
    int64_t n_hyp = stats[3 * i], n_ref = stats[3 * i + 1], n_match = stats[3 * i + 2];
    double prec = n_hyp > 0 ? static_cast<double>(n_match) / n_hyp : eps;
    double rec = n_ref > 0 ? static_cast<double>(n_match) / n_ref : eps;
    double denom = factor * prec + rec;
    score += denom > 0 ? (1 + factor) * prec * rec / denom : eps;
    if (n_hyp > 0 && n_ref > 0) {
      avg_prec += prec;
      avg_rec += rec;
      ++effective_order;
    }
  }
  if (opt.eps_smoothing) return 100 * score / order;
  if (effective_order == 0) {
    avg_prec = avg_rec = 0.0;
  } else {
    avg_prec /= effective_order;
    avg_rec /= effective_order;
  }
  if (avg_prec + avg_rec == 0) return 0.0;
  score = (1 + factor) * avg_prec * avg_rec;
  score /= factor * avg_prec + avg_rec;
  return 100 * score;
}

std::u32string preprocess(const std::string& sent, const ChrfOptions& opt) {
  std::u32string text = unicode::decode_utf8(sent);
  return opt.lowercase ? unicode::lower(text) : text;
}

}  // namespace

ChrfScore corpus_chrf(const std::vector<std::string>& hyps, const std::vector<std::vector<std::string>>& refs,
                      const ChrfOptions& opt) {
  if (opt.char_order < 0 || opt.word_order < 0 || opt.char_order + opt.word_order < 1)
    throw MetricError("chrF needs char_order + word_order >= 1");
  ChrfScore out;
  out.options = opt;
  auto segment_refs = metric_format::segment_references(hyps, refs, &out.nrefs);
  const int order = opt.char_order + opt.word_order;
  std::vector<int64_t> corpus(3 * order, 0);
  for (std::size_t i = 0; i < hyps.size(); ++i) {
    auto hyp_ngrams = all_ngrams(preprocess(hyps[i], opt), opt);
    // The reference with the best segment-level F-score supplies this segment's statistics (first on ties).
    std::vector<int64_t> best;
    double best_f = -1.0;
    for (const std::string* ref : segment_refs[i]) {
      auto ref_ngrams = all_ngrams(preprocess(*ref, opt), opt);
      std::vector<int64_t> stats;
      for (int k = 0; k < order; ++k) match_statistics(hyp_ngrams[k], ref_ngrams[k], stats);
      double f = f_score(stats, opt);
      if (f > best_f) {
        best_f = f;
        best = std::move(stats);
      }
    }
    for (int k = 0; k < 3 * order; ++k) corpus[k] += best[k];
  }
  out.score = f_score(corpus, opt);
  return out;
}

std::string ChrfScore::name() const { return "chrF" + std::to_string(options.beta) + std::string(options.word_order, '+'); }

std::string ChrfScore::signature(bool short_form) const {
  auto key = [&](const char* long_name, const char* short_name) { return short_form ? short_name : long_name; };
  return std::string(key("nrefs", "#")) + ":" + nrefs + "|" + key("case", "c") + ":" +
         (options.lowercase ? "lc" : "mixed") + "|" + key("eff", "e") + ":" + (options.eps_smoothing ? "no" : "yes") +
         "|nc:" + std::to_string(options.char_order) + "|nw:" + std::to_string(options.word_order) + "|" +
         key("space", "s") + ":" + (options.whitespace ? "yes" : "no") + "|" + key("version", "v") + ":" +
         metric_format::version_field();
}

std::string ChrfScore::format(int width, bool score_only, const std::string& sig) const {
  std::string sc = metric_format::fixed(score, width);
  if (score_only) return sc;
  return (sig.empty() ? name() : name() + "|" + sig) + " = " + sc;
}

std::string ChrfScore::json(int width) const {
  std::string sig = signature();
  return "{\n \"name\": " + metric_format::json_string(name()) + ",\n \"score\": " +
         metric_format::json_number(score, width) + ",\n \"signature\": " + metric_format::json_string(sig) +
         metric_format::json_signature_fields(sig) + "\n}";
}

}  // namespace mqa
