// Corpus chrF (Popović 2015) and chrF++ as sacreBLEU 2.x computes them (sacrebleu/metrics/chrf.py): character
// n-grams of orders 1..6 over the text with whitespace removed, optional word n-grams (chrF++: word_order 2),
// beta 2, per-segment statistics of the reference with the best segment F-score, summed over the corpus, and
// the final F-score averaged over the orders that occur ("effective order"; eps_smoothing switches to
// chrF++.py's epsilon smoothing). Input checks and the version field are as in bleu.h.
#pragma once
#include <string>
#include <vector>

#include "mqa/eval/bleu.h"

namespace mqa {

struct ChrfOptions {
  int char_order = 6;
  int word_order = 0;  // 2 gives chrF++
  int beta = 2;
  bool lowercase = false;
  bool whitespace = false;  // keep whitespace inside character n-grams
  bool eps_smoothing = false;
};

struct ChrfScore {
  double score = 0;  // 0..100
  std::string nrefs;
  ChrfOptions options;

  std::string name() const;  // "chrF2", "chrF2++"
  // "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:mqa-0.1.0"
  std::string signature(bool short_form = false) const;
  std::string format(int width = 2, bool score_only = false, const std::string& signature = "") const;
  std::string json(int width = 1) const;
};

ChrfScore corpus_chrf(const std::vector<std::string>& hyps, const std::vector<std::vector<std::string>>& refs,
                      const ChrfOptions& options = {});

}  // namespace mqa
