#include "mqa/train/run_directory.h"

#include <filesystem>

#include <fmt/format.h>

#include "mqa/train/checkpoint.h"

namespace fs = std::filesystem;

namespace mqa {

namespace {

// The config of the run in run_dir: its config.yaml, else its last checkpoint's; data paths absolute.
Config run_config(const std::string& run_dir, const std::string& last) {
  const std::string yaml = (fs::path(run_dir) / "config.yaml").string();
  Config c = fs::exists(yaml) ? load_config(yaml).config : CheckpointFile(last).config();
  make_data_paths_absolute(c.data);
  return c;
}

}  // namespace

std::string default_run_dir(const std::string& config_path) {
  return (fs::path("runs") / fs::path(config_path).stem()).string();
}

RunStart decide_run_start(const std::string& run_dir, const Config& config, RunDirMode mode) {
  const std::string last = (fs::path(run_dir) / "checkpoint_last.pt").string();
  RunStart start;
  if (mode == RunDirMode::Overwrite) {
    start.message = fmt::format("{}: --overwrite: starting a new run", run_dir);
    return start;
  }
  if (!fs::exists(last)) {
    if (mode == RunDirMode::Resume)
      throw std::runtime_error(fmt::format("--resume: {} has no checkpoint_last.pt to resume from", run_dir));
    return start;
  }
  start.resume = true;
  if (mode == RunDirMode::Resume) {
    start.message = fmt::format("{}: --resume: continuing the run in it", run_dir);
    return start;
  }
  const auto diff = differing_keys(run_config(run_dir, last), config, {"model.", "data.", "train."});
  if (diff.empty()) {
    start.message = fmt::format("{} holds a run of this same config: continuing it from {} (a finished run stays as "
                                "it is; --overwrite starts anew)",
                                run_dir, last);
    return start;
  }
  std::string list;
  for (const auto& d : diff) list += "\n  " + d + "  (the run's vs now)";
  throw ConfigError(fmt::format(
      "{} holds a run of another config ({} key(s) differ):{}\nTo continue that run with the new values pass "
      "--resume (its model, optimizer, seed and data.dir must stay as they were); to delete it and start anew pass "
      "--overwrite; or train into another directory with --run-dir DIR",
      run_dir, diff.size(), list));
}

int clear_run(const std::string& run_dir) {
  if (!fs::is_directory(run_dir)) return 0;
  int removed = 0;
  for (const auto& e : fs::directory_iterator(run_dir)) {
    const std::string name = e.path().filename().string();
    const bool checkpoint = name.rfind("checkpoint_", 0) == 0 && e.path().extension() == ".pt";
    if (checkpoint || name == "metrics.jsonl" || name == "config.yaml" || name.rfind(".tmp-", 0) == 0) {
      fs::remove(e.path());
      ++removed;
    }
  }
  return removed;
}

}  // namespace mqa
