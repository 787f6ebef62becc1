// `mqa synth`: writes the built-in corpus (two invented languages, see src/mqa/data/synth.h) as raw text.
#include <fmt/format.h>

#include <iostream>

#include "cli/command.h"
#include "mqa/data/synth.h"

static void setup_synth(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "synth", "write the built-in corpus as text: DIR/{train,valid,test}.{src,tgt} (translation) or .txt (lm)");
  static mqa::SynthOptions opts;
  static std::string out;
  cmd->add_option("--kind", opts.kind, "translation (parallel text) or lm (monolingual source-language text)")
      ->check(CLI::IsMember({"translation", "lm"}))
      ->capture_default_str();
  cmd->add_option("-o,--output", out, "output directory")->required();
  mqa::cli::refuse_renamed_option(cmd, "--out", "-o/--output DIR");
  cmd->add_option("--seed", opts.seed, "lexicon and sentences; same seed, same corpus")->capture_default_str();
  cmd->add_option("--sentences", opts.train_sentences, "training sentences")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--eval-sentences", opts.eval_sentences, "sentences in each of valid and test")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->callback([] {
    mqa::generate_synth_corpus(opts, out);
    std::cout << fmt::format("wrote the {} corpus (seed {}: {} train, {} valid, {} test sentences) to {}\n",
                             opts.kind, opts.seed, opts.train_sentences, opts.eval_sentences, opts.eval_sentences,
                             out);
  });
}
MQA_COMMAND(synth, setup_synth);
