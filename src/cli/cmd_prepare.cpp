// `mqa prepare CONFIG`: vocabulary + binary shards in data.dir (from data.train_* text, or the built-in corpus).
#include <filesystem>
#include <iostream>

#include "cli/command.h"
#include "mqa/config/config.h"
#include "mqa/data/dataset.h"
#include "mqa/data/prepare.h"

static void setup_prepare(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "prepare",
      "train the shared SentencePiece vocabulary (when data.dir has none) and encode train/valid/test into binary "
      "shards in data.dir; from data.train_*/valid_*/test_* text, or the built-in corpus when data.synth is set");
  static mqa::cli::ConfigArgs args;
  static bool force = false;
  mqa::cli::add_config_args(cmd, args);
  cmd->add_flag("--force", force,
                "prepare again even when data.dir is complete (an existing spm.model is kept: delete it to retrain)");
  cmd->callback([] {
    const mqa::Config config = mqa::load_config(args.path, args.overrides).config;
    if (mqa::data_dir_ready(config.data, config.model.type) && !force) {
      std::cout << config.data.dir << " is already prepared (" << mqa::prepared_marker_path(config.data)
                << "); use --force to prepare it again\n";
      return;
    }
    std::filesystem::remove(mqa::prepared_marker_path(config.data));
    mqa::ensure_data_ready(config);
  });
}
MQA_COMMAND(prepare, setup_prepare);
