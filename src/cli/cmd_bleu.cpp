// `mqa bleu REF [REF...] [-i HYP]`: sacreBLEU's command line for one system (`sacrebleu REF... < HYP`), same
// numbers and same output lines. Default output is sacreBLEU's `--format text` line with the signature;
// `--format json` prints the JSON object that is sacreBLEU 2.x's default output; `-b` prints the score alone.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <stdexcept>

#include "cli/command.h"
#include "mqa/eval/bleu.h"
#include "mqa/eval/chrf.h"
#include "mqa/eval/unicode_text.h"

namespace {

struct BleuArgs {
  std::vector<std::string> refs;
  std::string input;  // "" or "-": stdin
  std::string tokenize = "13a";
  std::string smooth = "exp";
  double smooth_value = -1;  // < 0: the method's default
  bool lowercase = false;
  bool chrf = false;
  int chrf_word_order = 0;
  bool chrf_lowercase = false;
  std::string format = "text";
  bool score_only = false;
  bool short_signature = false;
  int width = 1;
};

// Reads a text file the way sacreBLEU does (UTF-8, lines end at '\n' only, each line rstrip()'ed). stdin gets
// Python's universal newlines ("\r\n" and "\r" end lines too), as sacreBLEU reads it through a TextIOWrapper.
std::vector<std::string> read_lines(const std::string& path, const std::string& what) {
  std::string bytes;
  bool from_stdin = path.empty() || path == "-";
  if (from_stdin) {
    bytes.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    std::string unified;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      if (bytes[i] == '\r') {
        unified.push_back('\n');
        if (i + 1 < bytes.size() && bytes[i + 1] == '\n') ++i;
      } else {
        unified.push_back(bytes[i]);
      }
    }
    bytes.swap(unified);
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + what + " file '" + path + "': " + std::strerror(errno));
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (in.bad()) throw std::runtime_error("cannot read " + what + " file '" + path + "': read error");
  }
  const std::string name = from_stdin ? "<stdin>" : path;
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < bytes.size()) {
    std::size_t end = bytes.find('\n', start);
    if (end == std::string::npos) end = bytes.size();
    std::string_view line(bytes.data() + start, end - start);
    std::size_t bad = mqa::unicode::first_invalid_utf8(line);
    if (bad != std::string::npos)
      throw std::runtime_error(what + " " + name + ":" + std::to_string(lines.size() + 1) +
                               ": invalid UTF-8 at byte " + std::to_string(bad + 1) + " of the line");
    lines.push_back(mqa::unicode::encode_utf8(mqa::unicode::rstrip(mqa::unicode::decode_utf8(line))));
    start = end + 1;
  }
  return lines;
}

// sacreBLEU's print_single_results for text: several results are right-aligned on their '='.
void print_text(const std::vector<std::string>& results) {
  if (results.size() == 1) {
    std::cout << results[0] << "\n";
    return;
  }
  std::vector<std::pair<std::size_t, const std::string*>> aligned;
  std::size_t w = 0;
  for (const auto& line : results) {
    std::size_t eq = line.find('=');
    if (eq == std::string::npos) {
      std::cout << line << "\n";
      continue;
    }
    aligned.emplace_back(eq - 1, &line);
    w = std::max(w, eq - 1);
  }
  for (const auto& [len, line] : aligned)
    std::cout << std::string(w - len, ' ') << line->substr(0, len) << line->substr(len) << "\n";
}

void run_bleu(const BleuArgs& a) {
  mqa::BleuOptions bleu_opt;
  bleu_opt.tokenize = mqa::parse_tokenizer(a.tokenize);
  bleu_opt.lowercase = a.lowercase;
  bleu_opt.smooth = mqa::parse_smooth(a.smooth);
  if (a.smooth_value >= 0) bleu_opt.smooth_value = a.smooth_value;

  std::vector<std::vector<std::string>> refs;
  for (const auto& path : a.refs) refs.push_back(read_lines(path, "reference"));
  std::vector<std::string> hyps = read_lines(a.input, "hypothesis");
  const std::string hyp_name = a.input.empty() || a.input == "-" ? "<stdin>" : a.input;
  if (hyps.empty()) throw std::runtime_error("hypothesis " + hyp_name + " is empty (no lines to score)");
  for (std::size_t r = 0; r < refs.size(); ++r) {
    if (refs[r].size() != hyps.size())
      throw std::runtime_error("line counts differ: hypothesis " + hyp_name + " has " + std::to_string(hyps.size()) +
                               " lines, reference " + a.refs[r] + " has " + std::to_string(refs[r].size()));
  }

  std::vector<std::string> results;
  const bool json = a.format == "json";
  auto add = [&](const auto& score) {
    if (json)
      results.push_back(score.json(a.width));
    else
      results.push_back(score.format(a.width, a.score_only, score.signature(a.short_signature)));
  };
  add(mqa::corpus_bleu(hyps, refs, bleu_opt));
  if (a.chrf) {
    mqa::ChrfOptions chrf_opt;
    chrf_opt.word_order = a.chrf_word_order;
    chrf_opt.lowercase = a.chrf_lowercase;
    add(mqa::corpus_chrf(hyps, refs, chrf_opt));
  }
  if (!json) {
    print_text(results);
  } else if (results.size() == 1) {
    std::cout << results[0] << "\n";
  } else {
    std::cout << "[\n" << results[0];
    for (std::size_t i = 1; i < results.size(); ++i) std::cout << ",\n" << results[i];
    std::cout << "\n]\n";
  }
}

}  // namespace

static void setup_bleu(CLI::App& app) {
  static BleuArgs a;
  auto* cmd = app.add_subcommand(
      "bleu", "corpus BLEU (and chrF) of a detokenized hypothesis against references, as sacreBLEU 2.x computes it");
  cmd->add_option("refs", a.refs, "reference files, one segment per line (several: multi-reference BLEU)")
      ->required();
  cmd->add_option("-i,--input", a.input, "hypothesis file (default: standard input)");
  cmd->add_option("--tokenize,--tok", a.tokenize, "BLEU tokenizer: 13a (sacreBLEU's default, mteval-v13a), "
                                                 "intl (mteval-v14 international) or none")
      ->check(CLI::IsMember({"13a", "intl", "none"}))
      ->capture_default_str();
  cmd->add_flag("--lowercase,--lc", a.lowercase, "case-insensitive BLEU (sacreBLEU's -lc)");
  cmd->add_option("--smooth-method", a.smooth, "BLEU smoothing: exp (default, mteval's), floor, add-k, none")
      ->check(CLI::IsMember({"exp", "floor", "add-k", "none"}))
      ->capture_default_str();
  cmd->add_option("--smooth-value", a.smooth_value, "value for floor (default 0.1) and add-k (default 1)");
  cmd->add_flag("--chrf", a.chrf, "also print chrF2 (sacreBLEU's -m bleu chrf)");
  cmd->add_option("--chrf-word-order", a.chrf_word_order, "word n-gram order of chrF (2: chrF++)")->capture_default_str();
  cmd->add_flag("--chrf-lowercase", a.chrf_lowercase, "case-insensitive chrF");
  cmd->add_option("-f,--format", a.format, "text (sacreBLEU's line with the signature) or json (sacreBLEU 2.x's "
                                           "default JSON object)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  mqa::cli::refuse_renamed_option(cmd, "--json", "--format json");
  cmd->add_flag("-b,--score-only", a.score_only, "print only the score");
  cmd->add_flag("--short", a.short_signature, "abbreviated signature (sacreBLEU's -sh)");
  cmd->add_option("-w,--width", a.width, "decimals of the score (sacreBLEU's CLI default: 1)")
      ->check(CLI::Range(0, 10))
      ->capture_default_str();
  cmd->callback([] { run_bleu(a); });
}
MQA_COMMAND(bleu, setup_bleu);
