// `mqa eval CKPT`: evaluates a checkpoint on a prepared split (data.dir, see data/dataset.h) and writes one JSON
// object to stdout (and --json FILE):
//   all:     split, model_type, tokens and sequences evaluated, ln_ppl and ppl per target token (full forward,
//            teacher forcing, dropout off, no label smoothing; eval/perplexity.h)
//   lm:      word_ppl over the split's raw text {split}.txt (words + one per line; eval/perplexity.h), null with a
//            warning when that file is missing. --text FILE evaluates a raw text file instead of a split (encoded
//            with the checkpoint's vocabulary into a temporary shard); --word-count-from ORIGINAL divides by the
//            words + lines of ORIGINAL (same line count), e.g. the tokenized WikiText of a detokenized text
//   seq2seq: "decode": greedy (beam 1) and beam --beam (decode.beam_size) over {split}.src.txt, each with
//            sacreBLEU-compatible BLEU against {split}.tgt.txt (eval/bleu.h, its signature) and decoding speed in
//            output tokens/s (best hypotheses, eos included, over the wall time of encoding + search); --ppl-only
//            leaves it out (dev perplexity needs no decoding); --bleu-tokenize picks sacreBLEU's tokenizer (13a |
//            intl | none).
// --precision (auto | fp32 | bf16, default the checkpoint's train.precision): the forward passes and the decoder run
// as the run's validation did, so on the same device "ln_ppl" of the valid split is the value metrics.jsonl holds for
// the checkpoint's step (both are eval/perplexity.h over the same batches).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <unistd.h>

#include "cli/checkpoint_args.h"
#include "mqa/config/config.h"
#include "mqa/data/dataset.h"
#include "mqa/data/prepare.h"
#include "mqa/data/raw_split.h"
#include "mqa/decode/translator.h"
#include "mqa/eval/bleu.h"
#include "mqa/eval/perplexity.h"
#include "mqa/train/autocast.h"
#include "mqa/train/checkpoint.h"

namespace {

struct EvalArgs {
  mqa::cli::CheckpointArgs run;
  std::string split = "valid", json, text, word_count_from, bleu_tokenize = "13a";
  int beam = 0;  // 0: decode.beam_size
  int64_t bleu_sentences = 0;
  bool quiet = false, ppl_only = false;
};

std::string num(double x) { return std::isfinite(x) ? fmt::format("{}", x) : "null"; }

std::string str(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += static_cast<char>(c);
    } else if (c < 0x20) {
      o += fmt::format("\\u{:04x}", c);
    } else {
      o += static_cast<char>(c);
    }
  }
  return o + "\"";
}

void write_json(const EvalArgs& a, const std::vector<std::string>& fields) {
  const std::string json = fmt::format("{{\n  {}\n}}\n", fmt::join(fields, ",\n  "));
  std::cout << json;
  if (!a.json.empty()) {
    std::ofstream out(a.json, std::ios::binary);
    out << json;
    if (!out) throw std::runtime_error(fmt::format("{}: cannot write the results", a.json));
  }
}

// --text FILE (lm): per-token and per-word perplexity of a raw text file, through a temporary stream shard.
void evaluate_text(const EvalArgs& a, mqa::ModelBundle& bundle, const mqa::Config& config,
                   torch::ScalarType precision, std::vector<std::string>& fields, std::ostream* log) {
  namespace fs = std::filesystem;
  const fs::path tmp = fs::temp_directory_path() / fmt::format("mqa_eval_text_{}", ::getpid());
  fs::create_directories(tmp);
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{tmp};
  std::ostringstream quiet;
  const int64_t lines = mqa::encode_lm_text(*bundle.vocab, a.text, (tmp / "text").string(), log ? *log : quiet);
  auto data = mqa::Dataset::open_lm_stream((tmp / "text").string(), config.data.seq_len);
  if (log) *log << fmt::format("eval: perplexity over {} ({} lines, {} examples)\n", a.text, lines, data->size());
  mqa::PerplexityResult ppl = mqa::perplexity(bundle.model, data, config.data.batch_tokens, precision);
  const std::string counted = a.word_count_from.empty() ? a.text : a.word_count_from;
  if (!a.word_count_from.empty()) {
    const int64_t counted_lines = mqa::check_text_file(a.word_count_from, "word-count text");
    if (counted_lines != lines)
      throw std::runtime_error(fmt::format("--word-count-from {}: {} lines, but {} has {}: the words must be counted "
                                           "over the same lines", a.word_count_from, counted_lines, a.text, lines));
  }
  mqa::add_word_perplexity(ppl, counted);
  fields.push_back(fmt::format("\"text\": {}", str(a.text)));
  fields.push_back(fmt::format("\"word_count_from\": {}", str(counted)));
  fields.push_back(fmt::format("\"lines\": {}", lines));
  fields.push_back(fmt::format("\"tokens\": {}", ppl.tokens));
  fields.push_back(fmt::format("\"sequences\": {}", ppl.sequences));
  fields.push_back(fmt::format("\"ln_ppl\": {}", num(ppl.ln_ppl)));
  fields.push_back(fmt::format("\"ppl\": {}", num(ppl.ppl)));
  fields.push_back(fmt::format("\"words\": {}", ppl.words));
  fields.push_back(fmt::format("\"word_ppl\": {}", num(ppl.word_ppl)));
}

void run_eval(const EvalArgs& a) {
  if (a.split != "valid" && a.split != "test")
    throw std::runtime_error(fmt::format("--split {}: expected valid or test", a.split));
  std::vector<std::string> flags;
  if (a.beam > 0) flags.push_back(fmt::format("decode.beam_size={}", a.beam));
  mqa::cli::OpenedCheckpoint opened = mqa::cli::open_checkpoint(a.run, {"decode", "data"}, flags);
  mqa::ModelBundle& bundle = opened.bundle;
  const mqa::Config& config = opened.config;
  const torch::Device device = opened.device;
  std::ostream* log = a.quiet ? nullptr : &std::cerr;
  namespace fs = std::filesystem;
  const fs::path dir(config.data.dir);

  std::vector<std::string> fields;
  fields.push_back(fmt::format("\"checkpoint\": {}", str(a.run.checkpoint)));
  fields.push_back(fmt::format("\"split\": {}", str(a.text.empty() ? a.split : "text")));
  fields.push_back(fmt::format("\"model_type\": {}", str(config.model.type)));
  fields.push_back(fmt::format("\"precision\": {}", str(opened.precision == torch::kFloat32 ? "fp32" : "bf16")));
  if (!a.text.empty()) {
    if (bundle.model->is_seq2seq()) throw std::runtime_error("--text: only for lm checkpoints");
    evaluate_text(a, bundle, config, opened.precision, fields, log);
    return write_json(a, fields);
  }
  if (!a.word_count_from.empty()) throw std::runtime_error("--word-count-from: only with --text");

  auto data = mqa::Dataset::open(config.data, config.model.type, a.split);
  if (log) *log << fmt::format("eval: perplexity over {} {} examples\n", data->size(), a.split);
  mqa::PerplexityResult ppl = mqa::perplexity(bundle.model, data, config.data.batch_tokens, opened.precision);
  if (ppl.skipped_too_long > 0 && log)
    *log << fmt::format("eval: warning: {} of the {} {} pairs are longer than model.max_positions ({}) allows and "
                        "were left out of the perplexity (re-run mqa prepare: it now drops them from every split)\n",
                        ppl.skipped_too_long, data->size(), a.split, config.model.max_positions);
  fields.push_back(fmt::format("\"skipped_too_long\": {}", ppl.skipped_too_long));
  fields.push_back(fmt::format("\"tokens\": {}", ppl.tokens));
  fields.push_back(fmt::format("\"sequences\": {}", ppl.sequences));
  fields.push_back(fmt::format("\"ln_ppl\": {}", num(ppl.ln_ppl)));
  fields.push_back(fmt::format("\"ppl\": {}", num(ppl.ppl)));

  if (!bundle.model->is_seq2seq()) {
    const std::string raw = (dir / (a.split + ".txt")).string();
    if (fs::exists(raw)) {
      mqa::add_word_perplexity(ppl, raw);
      fields.push_back(fmt::format("\"words\": {}", ppl.words));
      fields.push_back(fmt::format("\"word_ppl\": {}", num(ppl.word_ppl)));
    } else {
      if (log) *log << fmt::format("eval: warning: {} is missing: no per-word perplexity\n", raw);
      fields.push_back("\"word_ppl\": null");
    }
  } else if (!a.ppl_only) {
    mqa::RawSplit text = mqa::read_raw_split(config.data.dir, a.split, a.bleu_sentences);
    const std::vector<std::string>& sources = text.sources;
    const std::vector<std::string>& refs = text.references;
    std::vector<int64_t> beams = {1};
    if (config.decode.beam_size != 1) beams.push_back(config.decode.beam_size);
    std::vector<std::string> runs;
    for (int64_t beam : beams) {
      mqa::TranslateOptions options = mqa::translate_options(config.decode, *bundle.vocab, opened.precision);
      options.search.beam_size = beam;
      options.search.nbest = 1;
      options.input_name = text.source_path;
      options.log = log;
      if (log) *log << fmt::format("eval: decoding {} sentences with beam {}\n", sources.size(), beam);
      mqa::TranslateStats st;
      auto result = mqa::translate_lines(bundle.model, *bundle.vocab, sources, options, &st);
      std::vector<std::string> hyps;
      for (const auto& t : result) hyps.push_back(t.texts.empty() ? "" : t.texts[0]);
      mqa::BleuOptions bleu_options;
      bleu_options.tokenize = mqa::parse_tokenizer(a.bleu_tokenize);
      mqa::BleuScore bleu = mqa::corpus_bleu(hyps, {refs}, bleu_options);
      if (log) *log << fmt::format("eval: beam {}: {}\n", beam, bleu.format(2, false, bleu.signature()));
      runs.push_back(fmt::format(
          "{{\"beam\": {}, \"length_penalty\": {}, \"keep_greedy_path\": {}, \"bleu\": {}, \"bleu_signature\": {}, "
          "\"bleu_verbose\": {}, \"sentences\": {}, \"skipped\": {}, \"source_tokens\": {}, \"output_tokens\": {}, "
          "\"seconds\": {}, \"output_tokens_per_s\": {}}}",
          beam, num(config.decode.length_penalty), config.decode.keep_greedy_path && beam > 1, num(bleu.score),
          str(bleu.signature()), str(bleu.verbose()), st.sentences, st.skipped, st.source_tokens, st.output_tokens,
          num(st.seconds), num(st.output_tokens / std::max(st.seconds, 1e-9))));
    }
    fields.push_back(fmt::format("\"device\": {}", str(device.str())));
    fields.push_back(fmt::format("\"decode\": [\n    {}\n  ]", fmt::join(runs, ",\n    ")));
  }
  write_json(a, fields);
}

void setup_eval(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand("eval", "perplexity (and for seq2seq BLEU with greedy and beam search) of a checkpoint");
  mqa::cli::add_checkpoint_args(cmd, args->run, {"decode", "data"});
  cmd->add_option("--split", args->split, "valid | test")->check(CLI::IsMember({"valid", "test"}));
  cmd->add_option("--json", args->json, "also write the JSON results to this file");
  cmd->add_option("--beam", args->beam, "seq2seq: the beam size compared with greedy (decode.beam_size)")
      ->check(CLI::Range(1, 1024));
  mqa::cli::refuse_renamed_option(cmd, "--out", "--json FILE");
  cmd->add_option("--bleu-sentences", args->bleu_sentences, "decode only the first N sentences for BLEU; 0 = all")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--ppl-only", args->ppl_only, "seq2seq: perplexity only, no decoding or BLEU");
  cmd->add_option("--bleu-tokenize", args->bleu_tokenize, "seq2seq: sacreBLEU tokenizer of the BLEU scores")
      ->check(CLI::IsMember({"13a", "intl", "none"}));
  cmd->add_option("--text", args->text,
                  "lm: evaluate this raw text file (one line a sentence or paragraph) instead of --split");
  cmd->add_option("--word-count-from", args->word_count_from,
                  "lm with --text: per-word perplexity divides by the words + lines of this file (same line count; "
                  "e.g. the tokenized original of a detokenized text)");
  cmd->add_flag("--quiet,-q", args->quiet, "no progress on stderr");
  cmd->callback([args] { run_eval(*args); });
}

}  // namespace

MQA_COMMAND(eval, setup_eval);
