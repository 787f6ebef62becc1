#include "mqa/train/trainer.h"

#include <torch/version.h>
#include <unistd.h>

#include <cerrno>

#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "mqa/data/dataset.h"
#include "mqa/data/tokenizer.h"
#include "mqa/eval/perplexity.h"
#include "mqa/train/autocast.h"
#include "mqa/train/checkpoint.h"
#include "mqa/train/checkpoint_writer.h"
#include "mqa/train/loss.h"
#include "mqa/train/lr_schedule.h"
#include "mqa/train/metrics.h"
#include "mqa/train/optimizers.h"
#include "mqa/train/run_directory.h"
#include "mqa/train/signals.h"
#include "mqa/train/step_stats.h"
#include "mqa/train/train_step.h"
#include "mqa/train/valid_bleu.h"
#include "mqa/util/device.h"

namespace fs = std::filesystem;

namespace mqa {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void write_text_atomically(const std::string& path, const std::string& text) {
  write_file_atomically(path, [&](int fd) {
    size_t off = 0;
    while (off < text.size()) {
      ssize_t w = ::write(fd, text.data() + off, text.size() - off);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) throw std::runtime_error(fmt::format("{}: write failed", path));
      off += static_cast<size_t>(w);
    }
  });
}

// On resume: metrics lines of steps after the checkpoint were written by the run that stopped; they are replayed
// now, so they go.
void truncate_metrics_after(const std::string& path, int64_t step) {
  std::ifstream in(path);
  if (!in) return;
  static const std::regex step_re("\"step\":(\\d+)");
  std::string line, kept;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, m, step_re) && std::stoll(m[1].str()) > step) continue;
    kept += line + "\n";
  }
  in.close();
  write_text_atomically(path, kept);
}

// checkpoint_<step>.pt files of a run directory, oldest first.
std::vector<std::pair<int64_t, std::string>> step_checkpoints(const std::string& dir) {
  static const std::regex name_re("checkpoint_(\\d+)\\.pt");
  std::vector<std::pair<int64_t, std::string>> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::smatch m;
    const std::string name = e.path().filename().string();
    if (std::regex_match(name, m, name_re)) out.emplace_back(std::stoll(m[1].str()), e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The stop signal every rank acts on: one that reached any rank stops them all before the same step (torchrun
// forwards Ctrl-C to every worker, but not at the same instant). One process: its own flag, no collective.
int agreed_stop_signal(Distributed& dist) {
  const int local = StopSignals::requested();
  if (!dist.enabled()) return local;
  auto flags = dist.allreduce_sum(torch::tensor({local == SIGINT ? 1.0 : 0.0, local == SIGTERM ? 1.0 : 0.0},
                                                torch::kFloat64))
                   .cpu();
  return flags[1].item<double>() > 0 ? SIGTERM : flags[0].item<double>() > 0 ? SIGINT : 0;
}

// Where the output of ranks other than 0 goes.
std::ostream& discarded_output() {
  static std::ostream null_stream(nullptr);  // no buffer: writes are dropped
  return null_stream;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------

struct Trainer::State {
  LoadedConfig loaded;
  const Config& cfg() const { return loaded.config; }
  int64_t vocab_size, pad_id;
  std::unique_ptr<BatchSource> train;
  ValidData valid;
  TrainerOptions opt;
  std::shared_ptr<Distributed> dist;  // never null: Distributed::single() for one process
  torch::Device device = torch::kCPU;
  torch::ScalarType precision = torch::kFloat32;
  Transformer model{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<TrainStep> step;  // forward, backward, all-reduce, clipping, update (train_step.h)
  std::unique_ptr<LrSchedule> schedule;
  std::string config_yaml;
  TrainState ts;  // step, epoch, data_state, elapsed, tokens
  std::string last_checkpoint;
  int64_t last_saved_step = -1, last_valid_step = -1;
  std::unique_ptr<CheckpointWriter> writer;  // rank 0's checkpoint writes (train.background_save)
  double save_blocked_s = 0;                 // how long the step loop waited for the save in flight

  std::string path(const std::string& name) const { return (fs::path(opt.run_dir) / name).string(); }
  // A checkpoint of the current step: checkpoint_<step>.pt, checkpoint_last.pt linked to it, the oldest beyond
  // train.keep_checkpoints removed. resume_point_only (a save because a signal stopped the run): checkpoint_last.pt
  // alone, so that an interruption off the save_every schedule neither pushes a scheduled checkpoint out nor joins
  // the ones a run averages (`mqa average` of checkpoint_<step>.pt: an interrupted and resumed run then averages
  // the same steps as one that never stopped); the resumed run's next save replaces it.
  void save(Progress& progress, bool resume_point_only = false);
  // Reports a finished checkpoint write (CheckpointWriter's report; nothing for nullopt).
  void saved(Progress& progress, const std::optional<CheckpointWriter::Done>& done);
  double validate(Progress& progress, MetricsLog* log, TrainResult& result, double elapsed);
};

Trainer::Trainer(LoadedConfig config, int64_t vocab_size, int64_t pad_id, std::unique_ptr<BatchSource> train,
                 ValidData valid, TrainerOptions options)
    : s_(std::make_unique<State>()) {
  auto& s = *s_;
  s.loaded = std::move(config);
  s.vocab_size = vocab_size;
  s.pad_id = pad_id;
  s.train = std::move(train);
  s.valid = std::move(valid);
  s.opt = std::move(options);
  s.dist = s.opt.dist ? s.opt.dist : Distributed::single();
  const bool main_rank = s.dist->is_main();
  if (!main_rank) s.opt.out = &discarded_output();
  const auto& c = s.cfg();
  if (s.opt.run_dir.empty()) throw std::invalid_argument("Trainer: no run directory");
  if (c.train.optimizer == "adafactor") {
    for (const auto& o : s.loaded.origins)
      if (o.key == "train.beta1")
        throw ConfigError(fmt::format("{}: train.beta1 is Adam's and is not used by Adafactor; for momentum in "
                                      "Adafactor set train.adafactor_beta1",
                                      o.where));
  }
  // The learning rate's scale depends on the optimizer and the schedule (a peak of ~1e-3 for Adam with inverse_sqrt,
  // a scale of ~1 for Adafactor with rsqrt_decay), so no default suits every config: each must state it.
  if (c.train.lr <= 0 && !(c.train.optimizer == "adafactor" && c.train.adafactor_relative_step)) {
    std::string where = s.loaded.files.empty() ? std::string("the config") : s.loaded.files.front();
    std::string problem = "not set";
    for (const auto& o : s.loaded.origins)
      if (o.key == "train.lr") {
        where = o.where;
        problem = fmt::format("{} is not positive", c.train.lr);
      }
    throw ConfigError(fmt::format("{}: train.lr: {}; training needs a learning rate and there is no default (e.g. "
                                  "0.001, the peak of Adam with inverse_sqrt; 1.0, the scale of Adafactor with "
                                  "rsqrt_decay)",
                                  where, problem));
  }
  if (c.train.stop_patience > 0 && !s.valid)
    throw ConfigError(fmt::format("{}: train.stop_patience: {} stops on the dev ln(PPL), but this run has no "
                                  "validation data (set the data's valid split, or train.stop_patience: 0)",
                                  where_is(s.loaded.origins, "train.stop_patience"), c.train.stop_patience));
  if (c.train.threads > 0) torch::set_num_threads(c.train.threads);
  s.device = resolve_device(c.train.device);
  if (s.dist->enabled()) {
    if (s.dist->device().type() != s.device.type())
      throw std::invalid_argument(fmt::format("Trainer: the process group is for {} but train.device gives {}",
                                              s.dist->device().str(), s.device.str()));
    s.device = s.dist->device();  // cuda:LOCAL_RANK
  }
  s.precision = resolve_precision(c.train.precision, s.device);
  s.config_yaml = config_to_yaml(c, s.loaded.origins);

  fs::create_directories(s.opt.run_dir);
  // Temporary files of writes that a crash interrupted (checkpoint.cpp names them .tmp-*); rank 0 is the only
  // writer.
  if (main_rank)
    for (const auto& e : fs::directory_iterator(s.opt.run_dir))
      if (e.path().filename().string().rfind(".tmp-", 0) == 0) fs::remove(e.path());
  const std::string last = s.path("checkpoint_last.pt");
  if (!s.opt.resume && fs::exists(last))
    throw std::runtime_error(fmt::format("{} already holds a run ({}); pass --resume to continue it or choose "
                                         "another --run-dir",
                                         s.opt.run_dir, last));
  if (s.opt.resume && !fs::exists(last))
    throw std::runtime_error(fmt::format("--resume: {} has no checkpoint_last.pt to resume from", s.opt.run_dir));

  torch::manual_seed(static_cast<uint64_t>(c.train.seed));
  s.model = build_model(c, vocab_size, pad_id);
  s.model->to(s.device);
  s.optimizer = make_optimizer(c.train, s.model->parameters());
  s.schedule = std::make_unique<LrSchedule>(c.train);
  s.ts.schedule = c.train.schedule;

  if (s.opt.resume) {
    CheckpointFile file(last, s.device);
    if (file.kind() != "train")
      throw std::runtime_error(fmt::format("{}: a {} checkpoint has no training state to resume", last, file.kind()));
    Config stored = file.config();
    Config now = c;
    make_data_paths_absolute(now.data);  // as file.config() gives them
    auto diff = differing_keys(stored, now, {"model.", "train.optimizer", "train.seed", "data.dir"});
    if (!diff.empty()) {
      std::string list;
      for (const auto& d : diff) list += "\n  " + d + "  (checkpoint vs now)";
      throw ConfigError(fmt::format("{}: cannot resume with a different model, optimizer, seed or data:{}", last,
                                    list));
    }
    if (file.vocab_size() != s.model->vocab_size())
      throw std::runtime_error(fmt::format("{}: vocabulary size {} but the data gives {}", last, file.vocab_size(),
                                           s.model->vocab_size()));
    s.ts = file.train_state();
    if (s.ts.world_size != s.dist->world_size())
      throw std::runtime_error(fmt::format(
          "{}: written by a run of world size {} but this run has world size {}; resume with {} rank(s) (each "
          "rank's data position and random state belong to that world size)",
          last, s.ts.world_size, s.dist->world_size(), s.ts.world_size));
    file.load_model_into(*s.model);
    file.load_optimizer_into(*s.optimizer);
    if (s.ts.schedule != c.train.schedule)
      *s.opt.out << fmt::format("note: the schedule changes from {} (checkpoint) to {} at step {}\n", s.ts.schedule,
                                c.train.schedule, s.ts.step);
    s.ts.schedule = c.train.schedule;
    s.train->restore(s.ts.data_state);
    if (s.ts.rng_cpu_ranks.defined()) s.ts.rng_cpu = s.ts.rng_cpu_ranks[s.dist->rank()];
    if (s.ts.rng_cuda_ranks.defined()) s.ts.rng_cuda = s.ts.rng_cuda_ranks[s.dist->rank()];
    restore_rng(s.ts, s.device);
    s.last_saved_step = s.ts.step;
    s.last_checkpoint = last;
    if (main_rank) truncate_metrics_after(s.path("metrics.jsonl"), s.ts.step);
  } else if (s.dist->rank() > 0) {
    // Same initialisation on every rank (the broadcast below makes it exact), then a dropout stream of its own.
    torch::manual_seed(static_cast<uint64_t>(c.train.seed) + 0x9E3779B97F4A7C15ULL * s.dist->rank());
  }
  s.ts.world_size = s.dist->world_size();
  // Rank 0's parameters everywhere, fresh or resumed (all ranks read the same checkpoint; this also guards
  // against a file that changed between their reads).
  std::vector<torch::Tensor> state = s.model->parameters();
  for (const auto& b : s.model->buffers()) state.push_back(b);
  s.dist->broadcast_parameters(state);
  s.step = std::make_unique<TrainStep>(s.model, *s.optimizer, c.train, s.device, s.precision, s.dist);
  s.writer = std::make_unique<CheckpointWriter>(c.train.background_save);
  if (main_rank) write_text_atomically(s.path("config.yaml"), s.config_yaml);
}

Trainer::~Trainer() = default;

Transformer& Trainer::model() { return s_->model; }

void Trainer::State::save(Progress& progress, bool resume_point_only) {
  const auto started = Clock::now();
  ts.epoch = train->epoch();
  ts.data_state = train->state();
  capture_rng(ts, device);
  if (dist->enabled()) {  // a collective: every rank saves at the same step, rank 0 writes
    ts.rng_cpu_ranks = dist->all_gather(ts.rng_cpu);
    if (ts.rng_cuda.defined()) ts.rng_cuda_ranks = dist->all_gather(ts.rng_cuda);
  }
  last_saved_step = ts.step;
  last_checkpoint = path("checkpoint_last.pt");
  if (!dist->is_main()) return;
  const std::string step_path = resume_point_only ? last_checkpoint : path(fmt::format("checkpoint_{}.pt", ts.step));
  // In the background, the archive holds copies of the tensors: the step loop goes on changing the originals.
  std::shared_ptr<torch::serialize::OutputArchive> archive =
      checkpoint_archive(config_yaml, *model, model->vocab_size(), pad_id, optimizer.get(), &ts, "train",
                         opt.vocab_model, /*copy_tensors=*/writer->background());
  auto write = [archive, step_path, last = last_checkpoint, dir = opt.run_dir,
                keep = static_cast<size_t>(cfg().train.keep_checkpoints)] {
    write_checkpoint_archive(step_path, *archive);  // atomic: a resume point replaces the link, not its target
    if (step_path == last) return;
    link_atomically(step_path, last);
    auto all = step_checkpoints(dir);
    for (size_t i = 0; i + keep < all.size(); ++i) fs::remove(all[i].second);
  };
  auto previous = writer->submit(step_path, std::move(write));
  const double blocked = seconds_since(started);
  saved(progress, previous);  // a background write of an earlier step, or (not background) this one
  save_blocked_s = blocked;
}

void Trainer::State::saved(Progress& progress, const std::optional<CheckpointWriter::Done>& done) {
  if (!done) return;
  // The seconds say what a save costs: copy from the device, serialisation, write, fsync. Not in the background,
  // the step loop waits for all of it; in the background, only for the snapshot (and a previous write in flight).
  if (writer->background())
    progress.message(fmt::format("saved {} in {:.2f} s in the background (training waited {:.2f} s)", done->name,
                                 done->seconds, save_blocked_s));
  else
    progress.message(fmt::format("saved {} in {:.2f} s", done->name, done->seconds));
}

double Trainer::State::validate(Progress& progress, MetricsLog* log, TrainResult& result, double elapsed) {
  last_valid_step = ts.step;
  if (!valid) return std::nan("");
  // Every rank scores its share of the dev batches, batch i on rank i mod W (as fairseq shards its validation
  // iterator), and the sums are added up. Were rank 0 to score them all, the others would wait for it in their
  // next collective and, on a long validation, time out (MQA_DIST_TIMEOUT).
  auto data = valid();
  const int rank = dist->rank(), world = dist->world_size();
  int64_t index = 0;
  PerplexityResult mine = perplexity_of_batches(
      model,
      [&]() -> std::optional<Batch> {
        while (auto batch = data->next())
          if (index++ % world == rank) return batch;
        return std::nullopt;
      },
      precision);
  // [W, 2]: each rank's nll sum and target tokens, in rank order, so every rank adds them up in the same order.
  auto shares = dist->all_gather(torch::tensor({mine.nll, static_cast<double>(mine.tokens)}, torch::kFloat64))
                    .to(torch::kCPU);
  PerplexityResult all;
  std::vector<std::string> rank_tokens;
  for (int r = 0; r < world; ++r) {
    all.nll += shares[r][0].item<double>();
    const auto tokens = static_cast<int64_t>(shares[r][1].item<double>());
    all.tokens += tokens;
    rank_tokens.push_back(std::to_string(tokens));
  }
  if (all.tokens == 0) throw std::runtime_error("validation data has no target tokens");
  finish_perplexity(all);
  // The hook runs on every rank: one that shares its work over the ranks (greedy BLEU does) reduces it itself.
  std::map<std::string, double> extra;
  if (opt.valid_hook) extra = opt.valid_hook(model, ts.step);
  if (!dist->is_main()) return all.ln_ppl;
  ValidMetrics m;
  m.step = ts.step;
  m.tokens = all.tokens;
  m.ln_ppl = all.ln_ppl;
  m.elapsed_s = elapsed;
  m.extra = std::move(extra);
  log->write(m);
  result.valid_ln_ppl.emplace_back(ts.step, m.ln_ppl);
  std::string extra_text;
  for (const auto& [k, v] : m.extra) extra_text += fmt::format(" {} {:.2f}", k, v);
  const std::string ranks_text =
      world > 1 ? fmt::format("; ranks scored {}", fmt::join(rank_tokens, " + ")) : std::string();
  progress.message(fmt::format("step {}: valid ln_ppl {:.4f} ppl {:.2f} ({} tokens{}){}", ts.step, m.ln_ppl,
                               std::exp(m.ln_ppl), all.tokens, ranks_text, extra_text));
  return m.ln_ppl;
}

TrainResult Trainer::run() {
  auto& s = *s_;
  const auto& tc = s.cfg().train;
  std::unique_ptr<StopSignals> signals;
  if (s.opt.handle_signals) signals = std::make_unique<StopSignals>();

  TrainResult result;
  result.start_step = s.ts.step;
  result.last_checkpoint = s.last_checkpoint;
  result.main_rank = s.dist->is_main();
  Progress progress(*s.opt.out, s.opt.tty);
  std::unique_ptr<MetricsLog> log;  // rank 0 only
  if (s.dist->is_main()) log = std::make_unique<MetricsLog>(s.path("metrics.jsonl"));
  s.model->train();

  const auto start = Clock::now();
  const double elapsed_before = s.ts.elapsed_s;
  auto elapsed = [&] { return elapsed_before + seconds_since(start); };

  // Sums since the last metrics line.
  double win_loss = 0, win_nll = 0, win_norm = 0, win_lr = 0;
  int64_t win_tokens = 0, win_steps = 0;
  auto win_start = Clock::now();
  const int64_t first_step = s.ts.step;
  bool out_of_epochs = false;
  int stop_signal = 0;

  // A step's statistics, read back: into the metrics window, or, non-finite, the end of the run (no update of that
  // step or later, no checkpoint). train.deferred_stats reads them one step late where the update can be skipped on
  // the device; data-parallel runs sync every step anyway (the token count and the stop signal are agreed on the
  // host), so they read at once.
  const bool deferred = tc.deferred_stats && s.device.is_cuda() && !s.dist->enabled() &&
                        s.step->updates_on_device_flag();
  std::optional<PendingStepStats> pending;  // deferred: the last step's, not yet read
  auto take = [&](const PendingStepStats& p) {
    const StepStats st = p.read();
    if (!st.finite) {
      progress.finish();
      result.status = TrainStatus::Diverged;
      result.message = fmt::format(
          "step {}: non-finite {} ({}); stopping without updating or saving. The last good checkpoint is {}",
          st.step, std::isfinite(st.loss) ? "gradient norm" : "loss",
          std::isfinite(st.loss) ? (std::isfinite(st.norm) ? std::nan("") : st.norm) : st.loss,
          s.last_checkpoint.empty() ? std::string("none (no checkpoint was written yet)")
                                    : fmt::format("{} (step {})", s.last_checkpoint, s.last_saved_step));
      result.step = st.step - 1;
      result.last_checkpoint = s.last_checkpoint;
      return false;
    }
    result.losses.push_back(st.loss);
    win_loss += st.loss * st.tokens;
    win_nll += st.nll * st.tokens;
    win_norm += st.norm;
    win_lr += st.lr;
    win_tokens += st.tokens;
    win_steps += 1;
    return true;
  };

  // Every return waits for the checkpoint write in flight: the run's last checkpoint is on disk when run() returns.
  auto saves_done = [&] {
    s.saved(progress, s.writer->wait());
    return result;
  };

  if (s.ts.step == 0 && s.opt.out)
    progress.message(fmt::format("training {} parameters on {} ({}), {} steps, run dir {}",
                                 [&] {
                                   int64_t n = 0;
                                   for (const auto& p : s.model->parameters()) n += p.numel();
                                   return n;
                                 }(),
                                 s.device.str(), s.precision == torch::kFloat32 ? "fp32" : "bf16 autocast",
                                 tc.max_steps, s.opt.run_dir) +
                     (s.dist->enabled() ? fmt::format(", data-parallel over {} ranks", s.dist->world_size())
                                        : std::string()) +
                     (s.step->reducer() ? fmt::format(" (gradients all-reduced in {} buckets during backward)",
                                                      s.step->reducer()->buckets())
                                        : std::string()) +
                     (deferred ? ", step statistics read one step late (train.deferred_stats)" : ""));
  else
    progress.message(fmt::format("resumed from {} at step {}", s.last_checkpoint, s.ts.step));

  // A run resumed after it converged (train.stop_patience) trains no further.
  result.converged = tc.stop_patience > 0 && s.ts.dev_stale >= tc.stop_patience;
  if (result.converged)
    progress.message(fmt::format("converged already at step {} (train.stop_patience): nothing to train", s.ts.step));
  while (s.ts.step < tc.max_steps && !out_of_epochs && !result.converged) {
    if ((stop_signal = agreed_stop_signal(*s.dist))) break;

    // 1. the batches of this step
    std::vector<Batch> batches;
    while (static_cast<int>(batches.size()) < tc.accumulate) {
      auto b = s.train->next();
      if (b) {
        batches.push_back(std::move(*b));
        continue;
      }
      if (tc.max_epochs > 0 && s.train->epoch() >= tc.max_epochs) {
        out_of_epochs = true;
        break;
      }
      b = s.train->next();  // first batch of the next epoch
      if (!b)
        throw std::runtime_error(s.dist->enabled()
                                     ? fmt::format("the training data yields no batches for rank {} of {} (fewer "
                                                   "batches than ranks?)",
                                                   s.dist->rank(), s.dist->world_size())
                                     : std::string("the training data yields no batches"));
      batches.push_back(std::move(*b));
    }
    if (batches.empty()) break;
    int64_t local_tokens = 0;
    for (const auto& b : batches) local_tokens += b.tgt_tokens;
    // The loss is the per-token mean over the whole step, all ranks' batches together.
    const auto step_tokens = static_cast<int64_t>(std::llround(s.dist->allreduce_sum(static_cast<double>(local_tokens))));
    if (step_tokens == 0) throw std::runtime_error(fmt::format("step {}: the batches hold no target tokens",
                                                               s.ts.step + 1));

    // 2-3. forward and backward of every batch, gradients summed over ranks, norm before clipping, clipping
    auto sums = s.step->compute_gradients(batches, step_tokens);
    auto loss_sum = sums.loss, nll_sum = sums.nll, total_norm = sums.grad_norm;

    // 4. the step's statistics: loss and nll sums, a non-finite flag and the norm. Data-parallel: the sums and the
    //    flag are summed over ranks in one collective, so every rank takes the same decision below.
    const auto non_finite = torch::logical_or(torch::isfinite(total_norm).logical_not(),
                                              torch::isfinite(loss_sum).logical_not()).to(torch::kFloat32);
    auto summed = s.dist->allreduce_sum(torch::stack({loss_sum, nll_sum, non_finite}));
    const int64_t this_step = s.ts.step + 1;
    const double lr = s.schedule->at(this_step);
    PendingStepStats stats(torch::cat({summed.to(torch::kFloat32), total_norm.to(torch::kFloat32).reshape({1})}),
                           this_step, step_tokens, lr, deferred);

    // 5. update. Deferred: the previous step's statistics are read now (its copy is long done), this step's update
    //    is skipped on the device if they are non-finite, and this step's are read one step later -- or now, where
    //    a log line, validation or checkpoint needs them. Otherwise: read (a host sync), then update.
    if (deferred) {
      if (pending && !take(*pending)) return saves_done();
      s.step->update(lr, (summed[2] > 0).to(torch::kFloat32));
      pending.emplace(std::move(stats));
    } else {
      if (!take(stats)) return saves_done();
      s.step->update(lr);
    }
    s.ts.step = this_step;
    s.ts.tokens += step_tokens;
    if (s.opt.after_step) s.opt.after_step(s.model, s.ts.step);
    const bool log_now = s.ts.step % tc.log_every == 0 || s.ts.step == tc.max_steps;
    const bool valid_now = s.ts.step % tc.valid_every == 0;
    const bool save_now = s.ts.step % tc.save_every == 0;
    if (pending && (log_now || valid_now || save_now)) {
      if (!take(*pending)) return saves_done();
      pending.reset();
    }

    if (log_now || (s.opt.tty && win_steps > 0)) {
      TrainMetrics m;
      m.step = s.ts.step;
      m.max_steps = tc.max_steps;
      m.epoch = s.train->epoch();
      m.tokens = s.ts.tokens;
      m.loss = win_loss / win_tokens;
      m.ln_ppl = win_nll / win_tokens;
      m.lr = lr;
      m.grad_norm = win_norm / win_steps;
      m.tokens_per_s = win_tokens / std::max(1e-9, seconds_since(win_start));
      m.elapsed_s = elapsed();
      m.memory_bytes = memory_in_use(s.device, &m.memory_kind);
      const double rate = seconds_since(start) / std::max<int64_t>(1, s.ts.step - first_step);
      progress.update(m, rate * static_cast<double>(tc.max_steps - s.ts.step));
      if (log_now) {
        if (log) log->write(m);
        win_loss = win_nll = win_norm = win_lr = 0;
        win_tokens = win_steps = 0;
        win_start = Clock::now();
      }
    }
    s.ts.elapsed_s = elapsed();
    if (valid_now) {
      const double dev = s.validate(progress, log.get(), result, elapsed());
      // Every rank has the same dev value (validate sums all ranks' shares), so every rank stops together.
      if (tc.stop_patience > 0 && std::isfinite(dev)) {
        if (dev < s.ts.dev_best - tc.stop_min_delta) {
          s.ts.dev_best = dev;
          s.ts.dev_stale = 0;
        } else if (++s.ts.dev_stale >= tc.stop_patience) {
          result.converged = true;
          progress.message(fmt::format(
              "converged at step {}: dev ln_ppl has not fallen more than {} below its best ({:.4f}) in {} "
              "validations (train.stop_patience)",
              s.ts.step, tc.stop_min_delta, s.ts.dev_best, s.ts.dev_stale));
        }
      }
    }
    if (save_now || result.converged) s.save(progress);
    s.saved(progress, s.writer->poll());  // a background write that has finished since
    if (result.converged) break;
  }

  if (pending && !take(*pending)) return saves_done();  // a step left unread by a break
  s.ts.elapsed_s = elapsed();
  if (!stop_signal) stop_signal = agreed_stop_signal(*s.dist);  // a signal during the last step
  if (int sig = stop_signal) {
    result.status = TrainStatus::Interrupted;
    result.signal = sig;
    progress.message(fmt::format("{} received: stopping at step {}", sig == SIGINT ? "SIGINT" : "SIGTERM",
                                 s.ts.step));
  } else {
    if (out_of_epochs)
      progress.message(fmt::format("reached train.max_epochs = {} at step {}", tc.max_epochs, s.ts.step));
    if (s.last_valid_step != s.ts.step && s.ts.step > first_step)
      s.validate(progress, log.get(), result, elapsed());
  }
  if (s.last_saved_step != s.ts.step) s.save(progress, /*resume_point_only=*/result.status == TrainStatus::Interrupted);
  result.step = s.ts.step;
  result.last_checkpoint = s.last_checkpoint;
  saves_done();
  progress.finish();
  return result;
}

// ---------------------------------------------------------------------------------------------------------------

TrainResult train_from_config(const std::string& config_path, const LoadedConfig& loaded, TrainerOptions options) {
  const Config& c = loaded.config;
  if (options.run_dir.empty())
    options.run_dir = default_run_dir(config_path);
  if (!options.dist) options.dist = Distributed::from_environment(resolve_device(c.train.device));
  auto& dist = *options.dist;
  // One writer of the prepared data; the others wait (within MQA_DIST_TIMEOUT: prepare big corpora beforehand
  // with `mqa prepare`).
  if (dist.is_main()) ensure_data_ready(c);
  dist.barrier();
  auto vocab = std::make_shared<const Tokenizer>(vocab_path(c.data));
  options.vocab_model = vocab->model_bytes();
  auto train_set = Dataset::open(c.data, c.model.type, "train");
  auto valid_set = Dataset::open(c.data, c.model.type, "valid");
  BatchOptions train_opts;
  train_opts.batch_tokens = c.data.batch_tokens;
  train_opts.shuffle = true;
  train_opts.seed = static_cast<uint64_t>(c.train.seed);
  train_opts.num_workers = c.data.num_workers;
  train_opts.rank = dist.rank();  // this rank's shard of the one shuffled batch order
  train_opts.world_size = dist.world_size();
  auto train = std::make_unique<IteratorBatchSource>(std::make_shared<BatchIterator>(train_set, train_opts));
  BatchOptions valid_opts = train_opts;
  valid_opts.shuffle = false;
  valid_opts.rank = 0;  // every rank reads the one batch order and scores its share of it (State::validate)
  valid_opts.world_size = 1;
  valid_opts.num_workers = 0;
  ValidData valid = [valid_set, valid_opts] {
    return std::make_unique<IteratorBatchSource>(std::make_shared<BatchIterator>(valid_set, valid_opts));
  };
  if (c.train.valid_bleu_sentences > 0 && !options.valid_hook) {
    const torch::Device device = dist.enabled() ? dist.device() : resolve_device(c.train.device);
    options.valid_hook = valid_bleu_hook(c, vocab, options.dist, resolve_precision(c.train.precision, device));
  }
  Trainer trainer(loaded, vocab->vocab_size(), train_set->pad_id, std::move(train), std::move(valid),
                  std::move(options));
  return trainer.run();
}

}  // namespace mqa
