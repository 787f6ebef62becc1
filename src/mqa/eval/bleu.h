// Corpus BLEU that agrees with sacreBLEU 2.x (`sacrebleu.corpus_bleu`, `sacrebleu REF < HYP`) to the last
// printed digit: same tokenizers (bleu_tokenizers.h), n-gram statistics up to order 4 summed over the corpus,
// clipped by the maximum count over references, closest reference length (ties -> the shorter), brevity penalty,
// the four smoothing methods (default `exp`, mteval's), optional effective order, and the same output lines.
//
// Differences from sacreBLEU, all deliberate:
//  - the signature's version field says which program computed the score: `version:mqa-<MQA_VERSION>`, where
//    sacreBLEU prints its own version (e.g. `version:2.4.3`); every other field is sacreBLEU's;
//  - hypothesis and reference streams of different lengths are an error (sacreBLEU's API silently truncates
//    to the shortest stream; its command line refuses them too);
//  - an empty corpus is an error with a message (sacreBLEU fails with an IndexError);
//  - with `add-k` smoothing, `counts`/`totals` hold the raw statistics (sacreBLEU returns them with k added for
//    orders above 1); precisions and score are sacreBLEU's.
// Like sacreBLEU: a segment's references equal to "" are ignored for that segment (variable reference counts
// make the signature say `nrefs:var`), and a segment whose references are all "" is an error.
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "mqa/eval/bleu_tokenizers.h"

namespace mqa {

// Bad input to a metric (stream lengths, empty references, ...). The message says what and where.
struct MetricError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

enum class BleuSmooth { kExp, kFloor, kAddK, kNone };
std::string smooth_name(BleuSmooth smooth);       // "exp", "floor", "add-k", "none"
BleuSmooth parse_smooth(const std::string& name);  // throws MetricError naming the choices

struct BleuOptions {
  BleuTokenizer tokenize = BleuTokenizer::k13a;
  bool lowercase = false;  // Python's str.lower(), applied before tokenizing
  BleuSmooth smooth = BleuSmooth::kExp;
  std::optional<double> smooth_value;  // floor: 0.1, add-k: 1 when unset; ignored by exp and none
  bool effective_order = false;
  int max_ngram_order = 4;
};

struct BleuScore {
  double score = 0;                 // 0..100
  std::vector<int64_t> counts;      // matched n-grams per order (clipped by the references)
  std::vector<int64_t> totals;      // hypothesis n-grams per order
  std::vector<double> precisions;   // per order, in percent, smoothed
  double bp = 0;                    // brevity penalty
  int64_t sys_len = 0, ref_len = 0;  // tokens; ref_len sums each segment's closest reference length
  std::string nrefs;                // "1", "2", ... or "var" when segments have different reference counts
  BleuOptions options;

  double ratio() const { return ref_len ? static_cast<double>(sys_len) / ref_len : 0.0; }
  // "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:mqa-0.1.0"; short: "#:1|c:mixed|e:no|...|v:..."
  std::string signature(bool short_form = false) const;
  // "60.0/33.3/20.0/11.1 (BP = 1.000 ratio = 1.000 hyp_len = 10 ref_len = 10)"
  std::string verbose() const;
  // sacreBLEU's Score.format(): "BLEU = 27.31 60.0/..." (signature "" ) or "BLEU|<signature> = 27.31 60.0/...";
  // score_only: "27.31". width is the number of decimals of the score (sacreBLEU's API: 2, its CLI: 1).
  std::string format(int width = 2, bool score_only = false, const std::string& signature = "") const;
  // sacreBLEU's `--format json` object (its CLI default), indent 1.
  std::string json(int width = 1) const;
};

// hyps[line]; refs[r][line], one stream per reference. Throws MetricError on inconsistent input.
BleuScore corpus_bleu(const std::vector<std::string>& hyps, const std::vector<std::vector<std::string>>& refs,
                      const BleuOptions& options = {});

// sacreBLEU's BLEU.compute_bleu: score, precisions and brevity penalty from the statistics of `stats` (counts,
// totals, sys_len, ref_len, options; nrefs is kept), e.g. the sums of the corpus_bleu statistics of the parts of a
// corpus scored apart (data-parallel validation), which give the score of the whole corpus.
BleuScore compute_bleu(BleuScore stats);

// Helpers shared with chrF (chrf.h): sacreBLEU's Score.format()/json pieces.
namespace metric_format {
// f"{x:.{width}f}"
std::string fixed(double x, int width);
// json.dumps(float(f"{x:.{width}f}")): the rounded value printed as Python's shortest float repr.
std::string json_number(double x, int width);
// The "<key>": "<value>" lines sacreBLEU adds to its JSON for every signature field.
std::string json_signature_fields(const std::string& signature);
std::string json_string(const std::string& s);
// Checks stream lengths, drops empty references per segment, and returns the per-segment references plus the
// signature's nrefs value. Throws MetricError (sacreBLEU's conditions, with line numbers).
std::vector<std::vector<const std::string*>> segment_references(const std::vector<std::string>& hyps,
                                                                const std::vector<std::vector<std::string>>& refs,
                                                                std::string* nrefs);
// "mqa-" MQA_VERSION, the signature's version field.
std::string version_field();
}  // namespace metric_format

}  // namespace mqa
