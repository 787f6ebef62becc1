// `mqa translate CKPT`: translates sentences (stdin or --input, one a line) with a seq2seq checkpoint and writes the
// detokenised translations in input order, one a line; with --nbest N > 1, fairseq/Moses-style lines
// `i ||| text ||| score` (i counts input lines from 0, score is the length-penalised log-probability), the best
// first (also with --nbest 1 when --scores is given). Malformed lines (invalid UTF-8, more source tokens than
// model.max_positions) are skipped with a warning naming the line and give an empty output line (no n-best lines),
// or end the command with --strict.
#include <fmt/format.h>

#include <fstream>
#include <iostream>

#include "cli/checkpoint_args.h"
#include "mqa/config/config.h"
#include "mqa/decode/translator.h"
#include "mqa/train/autocast.h"
#include "mqa/train/checkpoint.h"
#include "mqa/train/metrics.h"

namespace {

struct TranslateArgs {
  mqa::cli::CheckpointArgs run;
  std::string input, output, json;
  int beam = 0, nbest = 0;
  bool strict = false, quiet = false, scores = false;
};

std::vector<std::string> read_lines(std::istream& in) {
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// --json FILE: the summary and every batch's shape and times (TranslateStats), one JSON object. memory: the peak
// allocated CUDA memory of the process (cuda_max_allocated), or its resident set on CPU (cpu_rss), at the end: what
// decode.prepare_shapes, which holds every batch shape's buffers at once, costs.
void write_json(const std::string& path, const mqa::TranslateStats& st, int beam, int64_t memory_bytes,
                const std::string& memory_kind) {
  std::vector<std::string> batches;
  for (const mqa::TranslateBatch& b : st.batches)
    batches.push_back(fmt::format(
        "{{\"sources\": {}, \"rows\": {}, \"width\": {}, \"steps\": {}, \"output_tokens\": {}, "
        "\"encode_ms\": {:.3f}, \"decode_ms\": {:.3f}, \"seconds\": {:.6f}, \"graph\": {}}}",
        b.sources, b.rows, b.width, b.steps, b.output_tokens, b.encode_ms, b.decode_ms, b.seconds, b.graph));
  std::ofstream out(path, std::ios::binary);
  out << fmt::format(
      "{{\n  \"sentences\": {},\n  \"skipped\": {},\n  \"source_tokens\": {},\n  \"output_tokens\": {},\n"
      "  \"seconds\": {:.6f},\n  \"startup_seconds\": {:.6f},\n  \"output_tokens_per_s\": {:.3f},\n"
      "  \"beam\": {},\n  \"memory_bytes\": {},\n  \"memory\": \"{}\",\n  \"batches\": [\n    {}\n  ]\n}}\n",
      st.sentences, st.skipped, st.source_tokens, st.output_tokens, st.seconds, st.startup_seconds,
      st.output_tokens / std::max(st.seconds, 1e-9), beam, memory_bytes, memory_kind, fmt::join(batches, ",\n    "));
  if (!out) throw std::runtime_error(fmt::format("{}: cannot write the results", path));
}

void run_translate(const TranslateArgs& a) {
  std::vector<std::string> flags;
  if (a.beam > 0) flags.push_back(fmt::format("decode.beam_size={}", a.beam));
  if (a.nbest > 0) flags.push_back(fmt::format("decode.nbest={}", a.nbest));
  mqa::cli::OpenedCheckpoint opened = mqa::cli::open_checkpoint(a.run, {"decode"}, flags);
  mqa::ModelBundle& bundle = opened.bundle;
  const mqa::Config& config = opened.config;
  if (!bundle.model->is_seq2seq())
    throw std::runtime_error(fmt::format("{}: a language model (model.type = {}); translate needs a seq2seq model "
                                         "(use mqa generate)",
                                         a.run.checkpoint, config.model.type));

  std::vector<std::string> lines;
  mqa::TranslateOptions options = mqa::translate_options(config.decode, *bundle.vocab, opened.precision);
  if (a.input.empty() || a.input == "-") {
    lines = read_lines(std::cin);
    options.input_name = "<stdin>";
  } else {
    std::ifstream in(a.input, std::ios::binary);
    if (!in) throw std::runtime_error(fmt::format("{}: cannot read the input", a.input));
    lines = read_lines(in);
    options.input_name = a.input;
  }
  options.strict = a.strict;
  options.log = a.quiet ? nullptr : &std::cerr;

  mqa::TranslateStats stats;
  // The decode engine runs in options.search.precision (bf16 weights and caches on CUDA by default).
  std::vector<mqa::Translation> result = mqa::translate_lines(bundle.model, *bundle.vocab, lines, options, &stats);

  std::ofstream file;
  if (!a.output.empty()) {
    file.open(a.output, std::ios::binary);
    if (!file) throw std::runtime_error(fmt::format("{}: cannot write the output", a.output));
  }
  std::ostream& out = a.output.empty() ? std::cout : file;
  const bool nbest = config.decode.nbest > 1 || a.scores;
  for (size_t i = 0; i < result.size(); ++i) {
    const mqa::Translation& t = result[i];
    if (!nbest) {
      out << (t.texts.empty() ? "" : t.texts[0]) << '\n';
      continue;
    }
    for (size_t k = 0; k < t.texts.size(); ++k)
      out << fmt::format("{} ||| {} ||| {:.6f}\n", i, t.texts[k], t.hypotheses[k].score);
  }
  out.flush();
  if (!out) throw std::runtime_error("cannot write the output");
  std::string memory_kind;
  const int64_t memory = mqa::memory_in_use(opened.device, &memory_kind);
  if (!a.json.empty()) write_json(a.json, stats, config.decode.beam_size, memory, memory_kind);
  if (!a.quiet)
    std::cerr << fmt::format("translate: {} sentences ({} skipped), {} source tokens, {} output tokens in {:.2f} s "
                             "({:.0f} output tokens/s), beam {}; start-up {:.2f} s; memory {:.0f} MiB ({})\n",
                             stats.sentences, stats.skipped, stats.source_tokens, stats.output_tokens, stats.seconds,
                             stats.output_tokens / std::max(stats.seconds, 1e-9), config.decode.beam_size,
                             stats.startup_seconds, memory / 1048576.0, memory_kind);
}

void setup_translate(CLI::App& app) {
  auto args = std::make_shared<TranslateArgs>();
  auto* cmd = app.add_subcommand("translate", "translate sentences (stdin or --input, one a line) with a checkpoint");
  mqa::cli::add_checkpoint_args(cmd, args->run, {"decode"});
  cmd->add_option("--input,-i", args->input, "input text, one sentence a line (default: stdin)");
  cmd->add_option("--output,-o", args->output, "output file (default: stdout)");
  cmd->add_option("--json", args->json, "also write the summary and each batch's shape and times to this file");
  cmd->add_option("--beam", args->beam, "beam size (decode.beam_size); 1 = greedy")->check(CLI::Range(1, 1024));
  cmd->add_option("--nbest", args->nbest, "hypotheses per sentence (decode.nbest); > 1 prints `i ||| text ||| score`")
      ->check(CLI::Range(1, 1024));
  cmd->add_flag("--scores", args->scores, "print `i ||| text ||| score` lines even with --nbest 1");
  cmd->add_flag("--strict", args->strict, "a malformed input line is an error (default: skip it with a warning)");
  cmd->add_flag("--quiet,-q", args->quiet, "no warnings, progress or summary on stderr");
  cmd->callback([args] { run_translate(*args); });
}

}  // namespace

MQA_COMMAND(translate, setup_translate);
