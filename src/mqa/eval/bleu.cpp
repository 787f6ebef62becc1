#include "mqa/eval/bleu.h"

#include <cmath>
#include <cstdio>
#include <set>
#include <unordered_map>

#include "mqa/eval/unicode_text.h"

namespace mqa {

std::string smooth_name(BleuSmooth smooth) {
  switch (smooth) {
    case BleuSmooth::kExp: return "exp";
    case BleuSmooth::kFloor: return "floor";
    case BleuSmooth::kAddK: return "add-k";
    case BleuSmooth::kNone: return "none";
  }
  return "?";
}

BleuSmooth parse_smooth(const std::string& name) {
  if (name == "exp") return BleuSmooth::kExp;
  if (name == "floor") return BleuSmooth::kFloor;
  if (name == "add-k") return BleuSmooth::kAddK;
  if (name == "none") return BleuSmooth::kNone;
  throw MetricError("unknown BLEU smoothing '" + name + "' (expected one of: exp, floor, add-k, none)");
}

namespace metric_format {

std::string fixed(double x, int width) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", width, x);  // glibc rounds the exact binary value, as Python does
  return buf;
}

std::string json_number(double x, int width) {
  // float("27.30") prints as 27.3, float("100.00") as 100.0: for these short decimals Python's shortest repr is
  // the decimal with trailing zeros dropped, keeping one digit after the point.
  std::string s = fixed(x, width);
  if (s.find('.') == std::string::npos) return s + ".0";
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.push_back('0');
  return s;
}

std::string json_string(const std::string& s) {
  // json.dumps(..., ensure_ascii=False): only quotes, backslashes and control characters are escaped.
  std::string out = "\"";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string json_signature_fields(const std::string& signature) {
  std::string out;
  std::size_t start = 0;
  while (start <= signature.size()) {
    std::size_t bar = signature.find('|', start);
    if (bar == std::string::npos) bar = signature.size();
    std::string field = signature.substr(start, bar - start);
    std::size_t colon = field.find(':');
    out += ",\n " + json_string(field.substr(0, colon)) + ": " + json_string(field.substr(colon + 1));
    start = bar + 1;
  }
  return out;
}

std::vector<std::vector<const std::string*>> segment_references(const std::vector<std::string>& hyps,
                                                                const std::vector<std::vector<std::string>>& refs,
                                                                std::string* nrefs) {
  if (hyps.empty()) throw MetricError("no hypotheses: the hypothesis stream is empty");
  if (refs.empty()) throw MetricError("no references: at least one reference stream is needed");
  for (std::size_t r = 0; r < refs.size(); ++r) {
    if (refs[r].size() != hyps.size())
      throw MetricError("reference stream " + std::to_string(r + 1) + " has " + std::to_string(refs[r].size()) +
                        " lines but there are " + std::to_string(hyps.size()) + " hypotheses");
  }
  std::vector<std::vector<const std::string*>> out(hyps.size());
  std::set<std::size_t> counts;
  for (std::size_t i = 0; i < hyps.size(); ++i) {
    // sacreBLEU 2.x's _cache_references drops only None references; "" is a reference of length 0 (checked
    // against sacrebleu 2.6.0). Text streams have no None, so every stream counts on every line.
    for (const auto& stream : refs) out[i].push_back(&stream[i]);
    counts.insert(out[i].size());
  }
  *nrefs = counts.size() == 1 ? std::to_string(*counts.begin()) : "var";
  return out;
}

std::string version_field() { return std::string("mqa-") + MQA_VERSION; }

}  // namespace metric_format

namespace {

// A segment's n-grams of orders 1..max_order, keyed by their tokens joined with ' ' (tokens never contain
// whitespace, so the key is unambiguous and also encodes the order).
using NgramCounts = std::unordered_map<std::string, int64_t>;

std::vector<std::string> preprocess(const std::string& sent, const BleuOptions& opt) {
  std::u32string text = unicode::decode_utf8(sent);
  if (opt.lowercase) text = unicode::lower(text);
  std::u32string tokenized = tokenize(opt.tokenize, unicode::rstrip(text));
  std::vector<std::string> tokens;
  for (const auto& t : unicode::split_whitespace(tokenized)) tokens.push_back(unicode::encode_utf8(t));
  return tokens;
}

NgramCounts extract_ngrams(const std::vector<std::string>& tokens, int max_order) {
  NgramCounts counts;
  for (int n = 1; n <= max_order; ++n) {
    for (std::size_t i = 0; i + n <= tokens.size(); ++i) {
      std::string key = tokens[i];
      for (int k = 1; k < n; ++k) key += ' ' + tokens[i + k];
      ++counts[key];
    }
  }
  return counts;
}

int order_of(const std::string& key) {
  int n = 1;
  for (char c : key) n += c == ' ';
  return n;
}

// sacreBLEU's _get_closest_ref_len: smallest |hyp - ref|, ties go to the shorter reference.
int64_t closest_ref_len(int64_t hyp_len, const std::vector<int64_t>& ref_lens) {
  int64_t best_diff = -1, best_len = -1;
  for (int64_t len : ref_lens) {
    int64_t diff = std::llabs(hyp_len - len);
    if (best_diff == -1 || diff < best_diff) {
      best_diff = diff;
      best_len = len;
    } else if (diff == best_diff && len < best_len) {
      best_len = len;
    }
  }
  return best_len;
}

// my_log in sacrebleu/utils.py: log(0) is floored, so a zero precision drives the score to 0.
double my_log(double x) { return x == 0.0 ? -9999999999.0 : std::log(x); }

}  // namespace

BleuScore corpus_bleu(const std::vector<std::string>& hyps, const std::vector<std::vector<std::string>>& refs,
                      const BleuOptions& opt) {
  if (opt.max_ngram_order < 1) throw MetricError("BLEU max_ngram_order must be at least 1");
  const int N = opt.max_ngram_order;
  BleuScore out;
  out.options = opt;
  auto segment_refs = metric_format::segment_references(hyps, refs, &out.nrefs);
  out.counts.assign(N, 0);
  out.totals.assign(N, 0);

  for (std::size_t i = 0; i < hyps.size(); ++i) {
    // Reference n-grams: per n-gram the maximum count over this segment's references (the clipping bound).
    NgramCounts ref_ngrams;
    std::vector<int64_t> ref_lens;
    for (const std::string* ref : segment_refs[i]) {
      auto tokens = preprocess(*ref, opt);
      ref_lens.push_back(static_cast<int64_t>(tokens.size()));
      for (const auto& [ngram, count] : extract_ngrams(tokens, N)) {
        int64_t& slot = ref_ngrams[ngram];
        slot = std::max(slot, count);
      }
    }
    auto hyp_tokens = preprocess(hyps[i], opt);
    auto hyp_len = static_cast<int64_t>(hyp_tokens.size());
    out.sys_len += hyp_len;
    out.ref_len += closest_ref_len(hyp_len, ref_lens);
    for (const auto& [ngram, count] : extract_ngrams(hyp_tokens, N)) {
      int n = order_of(ngram) - 1;
      out.totals[n] += count;
      auto it = ref_ngrams.find(ngram);
      if (it != ref_ngrams.end()) out.counts[n] += std::min(count, it->second);
    }
  }

  return compute_bleu(std::move(out));
}

BleuScore compute_bleu(BleuScore out) {
  // BLEU.compute_bleu, step for step.
  const BleuOptions& opt = out.options;
  const int N = opt.max_ngram_order;
  if (N < 1 || static_cast<int>(out.counts.size()) != N || static_cast<int>(out.totals.size()) != N)
    throw MetricError("BLEU statistics: expected " + std::to_string(N) + " counts and totals (max_ngram_order), got " +
                      std::to_string(out.counts.size()) + " and " + std::to_string(out.totals.size()));
  double smooth_value = opt.smooth_value.value_or(opt.smooth == BleuSmooth::kFloor ? 0.1 : 1.0);
  if (out.sys_len < out.ref_len)
    out.bp = out.sys_len > 0 ? std::exp(1.0 - static_cast<double>(out.ref_len) / out.sys_len) : 0.0;
  else
    out.bp = 1.0;
  out.precisions.assign(N, 0.0);
  bool any_match = false;
  for (int64_t c : out.counts) any_match = any_match || c != 0;
  if (!any_match) {
    out.score = 0.0;
    return out;
  }
  double smooth_mteval = 1.0;
  int eff_order = N;
  for (int n = 1; n <= N; ++n) {
    double correct = static_cast<double>(out.counts[n - 1]);
    double total = static_cast<double>(out.totals[n - 1]);
    if (opt.smooth == BleuSmooth::kAddK && n > 1) {
      correct += smooth_value;
      total += smooth_value;
    }
    // No hypothesis n-grams of this order (every segment shorter than n): the remaining precisions stay 0.
    if (total == 0) break;
    if (opt.effective_order) eff_order = n;
    if (correct == 0) {
      if (opt.smooth == BleuSmooth::kExp) {
        smooth_mteval *= 2;
        out.precisions[n - 1] = 100.0 / (smooth_mteval * total);
      } else if (opt.smooth == BleuSmooth::kFloor) {
        out.precisions[n - 1] = 100.0 * smooth_value / total;
      }
    } else {
      out.precisions[n - 1] = 100.0 * correct / total;
    }
  }
  double log_sum = 0;
  for (int n = 0; n < eff_order; ++n) log_sum += my_log(out.precisions[n]);
  out.score = out.bp * std::exp(log_sum / eff_order);
  return out;
}

std::string BleuScore::signature(bool short_form) const {
  std::string smooth = smooth_name(options.smooth);
  if (options.smooth == BleuSmooth::kFloor || options.smooth == BleuSmooth::kAddK) {
    double v = options.smooth_value.value_or(options.smooth == BleuSmooth::kFloor ? 0.1 : 1.0);
    smooth += "[" + metric_format::fixed(v, 2) + "]";
  }
  auto key = [&](const char* long_name, const char* short_name) { return short_form ? short_name : long_name; };
  return std::string(key("nrefs", "#")) + ":" + nrefs + "|" + key("case", "c") + ":" +
         (options.lowercase ? "lc" : "mixed") + "|" + key("eff", "e") + ":" + (options.effective_order ? "yes" : "no") +
         "|tok:" + tokenizer_name(options.tokenize) + "|" + key("smooth", "s") + ":" + smooth + "|" +
         key("version", "v") + ":" + metric_format::version_field();
}

std::string BleuScore::verbose() const {
  std::string prec;
  for (std::size_t i = 0; i < precisions.size(); ++i) prec += (i ? "/" : "") + metric_format::fixed(precisions[i], 1);
  return prec + " (BP = " + metric_format::fixed(bp, 3) + " ratio = " + metric_format::fixed(ratio(), 3) +
         " hyp_len = " + std::to_string(sys_len) + " ref_len = " + std::to_string(ref_len) + ")";
}

std::string BleuScore::format(int width, bool score_only, const std::string& sig) const {
  std::string sc = metric_format::fixed(score, width);
  if (score_only) return sc;
  return (sig.empty() ? std::string("BLEU") : "BLEU|" + sig) + " = " + sc + " " + verbose();
}

std::string BleuScore::json(int width) const {
  std::string sig = signature();
  return "{\n \"name\": \"BLEU\",\n \"score\": " + metric_format::json_number(score, width) +
         ",\n \"signature\": " + metric_format::json_string(sig) +
         ",\n \"verbose_score\": " + metric_format::json_string(verbose()) + metric_format::json_signature_fields(sig) +
         "\n}";
}

}  // namespace mqa
