// `mqa bench data CONFIG`: loader throughput (batches/s, tokens/s) and peak memory on one core; the last line
// printed is a JSON object (also appended to --json FILE).
#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <fstream>
#include <iostream>

#include "cli/command.h"
#include "mqa/config/config.h"
#include "mqa/data/batching.h"
#include "mqa/data/dataset.h"

namespace {

// kB value of a /proc/self/status field (VmHWM = peak resident set), or -1.
int64_t proc_status_kb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1));
  return -1;
}

}  // namespace

static void setup_bench_data(CLI::App& app) {
  auto* group = mqa::cli::command_group(app, "bench", "benchmarks");
  auto* cmd = group->add_subcommand("data", "iterate epochs of a prepared split; report batches/s, tokens/s, peak RSS");
  static mqa::cli::ConfigArgs args;
  static int epochs = 3, workers = 0;
  static std::string split = "train", json;
  mqa::cli::add_config_args(cmd, args);
  cmd->add_option("--json", json, "append the JSON result line (the last line printed) to this file");
  cmd->add_option("--epochs", epochs, "epochs to iterate")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--split", split, "train, valid or test")->check(CLI::IsMember({"train", "valid", "test"}))
      ->capture_default_str();
  cmd->add_option("--workers", workers, "background loader threads (BatchOptions::num_workers)")->capture_default_str();
  cmd->callback([] {
    const mqa::Config config = mqa::load_config(args.path, args.overrides).config;
    torch::set_num_threads(1);  // the loader's own cost, on one core
    mqa::ensure_data_ready(config);
    auto data = mqa::Dataset::open(config.data, config.model.type, split);
    mqa::BatchOptions opt;
    opt.batch_tokens = config.data.batch_tokens;
    opt.seed = static_cast<uint64_t>(config.train.seed);
    opt.num_workers = workers;
    const int64_t rss_before = proc_status_kb("VmRSS");
    mqa::BatchIterator it(data, opt);
    int64_t batches = 0, tokens = 0, padded = 0;
    auto start = std::chrono::steady_clock::now();
    for (int e = 0; e < epochs; ++e) {
      while (auto b = it.next()) {
        ++batches;
        tokens += b->src_tokens + b->tgt_tokens;
        padded += (b->src.defined() ? b->src.numel() : 0) + b->tgt_out.numel();
      }
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << fmt::format(
        "bench data: {} {} examples, {} epochs, batch_tokens {}: {} batches in {:.2f} s = {:.0f} batches/s, "
        "{:.2f} M tokens/s (non-pad, source + target; {:.1f}% of batch cells are padding)\n"
        "memory: VmRSS {:.1f} MB before the iterator, peak VmHWM {:.1f} MB; now RssAnon {:.1f} MB, RssFile {:.1f} MB\n",
        data->size(), split, epochs, opt.batch_tokens, batches, s, batches / s, tokens / s / 1e6,
        100.0 * (padded - tokens) / std::max<int64_t>(padded, 1), rss_before / 1024.0,
        proc_status_kb("VmHWM") / 1024.0, proc_status_kb("RssAnon") / 1024.0, proc_status_kb("RssFile") / 1024.0);
    const std::string result = fmt::format(
        "{{\"examples\": {}, \"batches\": {}, \"seconds\": {:.3f}, \"batches_per_s\": {:.1f}, \"tokens_per_s\": "
        "{:.0f}, \"vm_hwm_kb\": {}}}\n",
        data->size(), batches, s, batches / s, tokens / s, proc_status_kb("VmHWM"));
    std::cout << result;
    if (!json.empty()) {
      std::ofstream out(json, std::ios::app);
      out << result;
      if (!out) throw std::runtime_error(fmt::format("{}: cannot append the JSON result", json));
    }
  });
}
MQA_COMMAND(bench_data, setup_bench_data);
