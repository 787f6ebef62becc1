#include "mqa/train/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <torch/version.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <type_traits>

#include <fmt/format.h>

#include "mqa/config/schema.h"
#include "mqa/train/adafactor.h"

namespace fs = std::filesystem;

namespace mqa {

namespace {

std::string value_text(const ConfigValue& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>)
          return "'" + x + "'";
        else if constexpr (std::is_same_v<T, bool>)
          return x ? "true" : "false";
        else
          return fmt::format("{}", x);
      },
      v);
}

const char* kFormat = "mqa-checkpoint-1";

std::string errno_text() { return std::strerror(errno); }

void fsync_path(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  if (fd < 0) throw std::runtime_error(fmt::format("{}: cannot open to fsync: {}", path, errno_text()));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) throw std::runtime_error(fmt::format("{}: fsync failed: {}", path, std::strerror(err)));
}

std::string dir_of(const std::string& path) {
  auto parent = fs::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

void write_model(torch::serialize::OutputArchive& archive, const NamedTensors& tensors) {
  torch::serialize::OutputArchive m(archive.compilation_unit());
  std::string names;
  for (size_t i = 0; i < tensors.size(); ++i) {
    names += (i ? "\n" : "") + tensors[i].first;
    m.write("t" + std::to_string(i), tensors[i].second.detach());
  }
  m.write("names", c10::IValue(names));
  archive.write("model", m);
}

NamedTensors module_tensors(torch::nn::Module& model) {
  NamedTensors out;
  for (const auto& p : model.named_parameters(/*recurse=*/true)) out.emplace_back(p.key(), p.value());
  for (const auto& b : model.named_buffers(/*recurse=*/true)) out.emplace_back(b.key(), b.value());
  return out;
}

void write_header(torch::serialize::OutputArchive& a, const std::string& kind, const std::string& config_yaml,
                  int64_t vocab_size, int64_t pad_id, int64_t step, const std::string& vocab_model) {
  a.write("format", c10::IValue(std::string(kFormat)));
  a.write("kind", c10::IValue(kind));
  a.write("config", c10::IValue(config_yaml));
  a.write("vocab_size", c10::IValue(vocab_size));
  a.write("pad_id", c10::IValue(pad_id));
  a.write("step", c10::IValue(step));
  a.write("torch_version", c10::IValue(std::string(TORCH_VERSION)));
  // Bytes as a uint8 tensor: a pickled string must be valid UTF-8 text, a serialized protobuf is not.
  if (!vocab_model.empty()) {
    torch::Tensor bytes = torch::empty({static_cast<int64_t>(vocab_model.size())}, torch::kUInt8);
    std::memcpy(bytes.data_ptr<uint8_t>(), vocab_model.data(), vocab_model.size());
    a.write("vocab_model", bytes);
  }
}

void write_archive_atomically(const std::string& path, torch::serialize::OutputArchive& archive) {
  write_file_atomically(path, [&](int fd) {
    archive.save_to([fd, &path](const void* data, size_t n) -> size_t {
      const char* p = static_cast<const char*>(data);
      size_t left = n;
      while (left > 0) {
        ssize_t w = ::write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) throw std::runtime_error(fmt::format("{}: write failed: {}", path, errno_text()));
        p += w;
        left -= static_cast<size_t>(w);
      }
      return n;
    });
  });
}

}  // namespace

// ---- atomic files ----------------------------------------------------------------------------------------------

void write_file_atomically(const std::string& path, const std::function<void(int fd)>& write) {
  const std::string dir = dir_of(path);
  const std::string tmp =
      (fs::path(dir) / fmt::format(".tmp-{}.{}", fs::path(path).filename().string(), ::getpid())).string();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error(fmt::format("{}: cannot create temporary file: {}", tmp, errno_text()));
  try {
    write(fd);
    if (::fsync(fd) != 0) throw std::runtime_error(fmt::format("{}: fsync failed: {}", tmp, errno_text()));
    if (::close(fd) != 0) {
      fd = -1;
      throw std::runtime_error(fmt::format("{}: close failed: {}", tmp, errno_text()));
    }
    fd = -1;
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      throw std::runtime_error(fmt::format("cannot rename {} to {}: {}", tmp, path, errno_text()));
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  fsync_path(dir, /*directory=*/true);
}

void link_atomically(const std::string& target, const std::string& link_path) {
  const std::string dir = dir_of(link_path);
  const std::string tmp =
      (fs::path(dir) / fmt::format(".tmp-{}.{}", fs::path(link_path).filename().string(), ::getpid())).string();
  ::unlink(tmp.c_str());
  if (::link(target.c_str(), tmp.c_str()) == 0) {
    if (::rename(tmp.c_str(), link_path.c_str()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      throw std::runtime_error(fmt::format("cannot rename {} to {}: {}", tmp, link_path, std::strerror(err)));
    }
    fsync_path(dir, /*directory=*/true);
    return;
  }
  // No hard links here (some network and FUSE file systems): copy.
  std::ifstream in(target, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot read: {}", target, errno_text()));
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string bytes = buf.str();
  write_file_atomically(link_path, [&](int fd) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t w = ::write(fd, bytes.data() + off, bytes.size() - off);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) throw std::runtime_error(fmt::format("{}: write failed: {}", link_path, errno_text()));
      off += static_cast<size_t>(w);
    }
  });
}

// ---- RNG -------------------------------------------------------------------------------------------------------

void capture_rng(TrainState& state, const torch::Device& device) {
  {
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    state.rng_cpu = gen.get_state();
  }
  state.rng_cuda = torch::Tensor();
  if (device.is_cuda()) {
    at::Generator gen = at::globalContext().defaultGenerator(device);
    std::lock_guard<std::mutex> lock(gen.mutex());
    state.rng_cuda = gen.get_state();
  }
}

void restore_rng(const TrainState& state, const torch::Device& device) {
  if (state.rng_cpu.defined()) {
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state.rng_cpu.to(torch::kCPU));
  }
  if (device.is_cuda() && state.rng_cuda.defined()) {
    at::Generator gen = at::globalContext().defaultGenerator(device);
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state.rng_cuda.to(torch::kCPU));
  }
}

// ---- writing ---------------------------------------------------------------------------------------------------

namespace {

// A copy of one parameter's optimizer state whose tensors are copies too. The optimizers mqa builds keep AdamW's or
// Adafactor's state (optimizers.h); another state type is a programming error, not something to skip silently.
std::unique_ptr<torch::optim::OptimizerParamState> copy_param_state(const torch::optim::OptimizerParamState& state) {
  auto copy = state.clone();  // the same tensors, shared
  auto fresh = [](const torch::Tensor& t) { return t.defined() ? t.detach().clone() : t; };
  if (auto* a = dynamic_cast<torch::optim::AdamWParamState*>(copy.get())) {
    a->exp_avg(fresh(a->exp_avg()));
    a->exp_avg_sq(fresh(a->exp_avg_sq()));
    a->max_exp_avg_sq(fresh(a->max_exp_avg_sq()));
  } else if (auto* f = dynamic_cast<AdafactorParamState*>(copy.get())) {
    f->exp_avg(fresh(f->exp_avg()));
    f->exp_avg_sq_row(fresh(f->exp_avg_sq_row()));
    f->exp_avg_sq_col(fresh(f->exp_avg_sq_col()));
    f->exp_avg_sq(fresh(f->exp_avg_sq()));
  } else {
    throw std::logic_error("checkpoint_archive: cannot copy the state of this optimizer (AdamW and Adafactor only)");
  }
  return copy;
}

// optimizer->save(archive) from copies of its state: the live state is swapped out for a copy while save() runs, so
// that the archive holds the copies.
void write_optimizer_copy(torch::optim::Optimizer& optimizer, torch::serialize::OutputArchive& archive) {
  auto& live = optimizer.state();
  std::remove_reference_t<decltype(live)> copies;
  for (const auto& [key, state] : live) copies.emplace(key, copy_param_state(*state));
  std::swap(live, copies);
  try {
    optimizer.save(archive);
  } catch (...) {
    std::swap(live, copies);
    throw;
  }
  std::swap(live, copies);
}

}  // namespace

std::unique_ptr<torch::serialize::OutputArchive> checkpoint_archive(
    const std::string& config_yaml, torch::nn::Module& model, int64_t vocab_size, int64_t pad_id,
    torch::optim::Optimizer* optimizer, const TrainState* state, const std::string& kind,
    const std::string& vocab_model, bool copy_tensors) {
  if (kind == "train" && (optimizer == nullptr || state == nullptr))
    throw std::invalid_argument("save_checkpoint: a training checkpoint needs the optimizer and the train state");
  torch::NoGradGuard no_grad;
  auto archive = std::make_unique<torch::serialize::OutputArchive>();
  write_header(*archive, kind, config_yaml, vocab_size, pad_id, state ? state->step : 0, vocab_model);
  NamedTensors tensors = module_tensors(model);
  if (copy_tensors)
    for (auto& named : tensors) named.second = named.second.detach().clone();
  write_model(*archive, tensors);
  if (optimizer) {
    torch::serialize::OutputArchive opt(archive->compilation_unit());
    if (copy_tensors)
      write_optimizer_copy(*optimizer, opt);
    else
      optimizer->save(opt);
    archive->write("optimizer", opt);
  }
  if (state) {  // the state's tensors (generator states) are the caller's copies already
    torch::serialize::OutputArchive t(archive->compilation_unit());
    t.write("step", c10::IValue(state->step));
    t.write("epoch", c10::IValue(state->epoch));
    t.write("data_state", c10::IValue(state->data_state));
    t.write("schedule", c10::IValue(state->schedule));
    t.write("elapsed_s", c10::IValue(state->elapsed_s));
    t.write("tokens", c10::IValue(state->tokens));
    t.write("dev_best", c10::IValue(state->dev_best));
    t.write("dev_stale", c10::IValue(state->dev_stale));
    if (state->rng_cpu.defined()) t.write("rng_cpu", state->rng_cpu);
    if (state->rng_cuda.defined()) t.write("rng_cuda", state->rng_cuda.to(torch::kCPU));
    t.write("world_size", c10::IValue(state->world_size));
    if (state->rng_cpu_ranks.defined()) t.write("rng_cpu_ranks", state->rng_cpu_ranks.to(torch::kCPU));
    if (state->rng_cuda_ranks.defined()) t.write("rng_cuda_ranks", state->rng_cuda_ranks.to(torch::kCPU));
    archive->write("train", t);
  }
  return archive;
}

void write_checkpoint_archive(const std::string& path, torch::serialize::OutputArchive& archive) {
  write_archive_atomically(path, archive);
}

void save_checkpoint(const std::string& path, const std::string& config_yaml, torch::nn::Module& model,
                     int64_t vocab_size, int64_t pad_id, torch::optim::Optimizer* optimizer, const TrainState* state,
                     const std::string& kind, const std::string& vocab_model) {
  write_archive_atomically(path, *checkpoint_archive(config_yaml, model, vocab_size, pad_id, optimizer, state, kind,
                                                     vocab_model, /*copy_tensors=*/false));
}

void save_model_tensors(const std::string& path, const std::string& config_yaml, const NamedTensors& tensors,
                        int64_t vocab_size, int64_t pad_id, int64_t step, const std::string& kind,
                        const std::string& vocab_model) {
  torch::serialize::OutputArchive archive;
  write_header(archive, kind, config_yaml, vocab_size, pad_id, step, vocab_model);
  write_model(archive, tensors);
  write_archive_atomically(path, archive);
}

// ---- reading ---------------------------------------------------------------------------------------------------

namespace {

c10::IValue read_value(torch::serialize::InputArchive& a, const std::string& key, const std::string& path) {
  c10::IValue v;
  if (!a.try_read(key, v)) throw std::runtime_error(fmt::format("{}: malformed checkpoint: no '{}'", path, key));
  return v;
}

std::string read_string(torch::serialize::InputArchive& a, const std::string& key, const std::string& path) {
  auto v = read_value(a, key, path);
  if (!v.isString()) throw std::runtime_error(fmt::format("{}: malformed checkpoint: '{}' is not text", path, key));
  return v.toStringRef();
}

int64_t read_int(torch::serialize::InputArchive& a, const std::string& key, const std::string& path) {
  auto v = read_value(a, key, path);
  if (!v.isInt()) throw std::runtime_error(fmt::format("{}: malformed checkpoint: '{}' is not an integer", path, key));
  return v.toInt();
}

}  // namespace

CheckpointFile::CheckpointFile(const std::string& path, const torch::Device& device) : path_(path) {
  if (!fs::exists(path)) throw std::runtime_error(fmt::format("{}: checkpoint not found", path));
  try {
    archive_.load_from(path, device);
  } catch (const std::exception& e) {
    std::string what = e.what();
    throw std::runtime_error(fmt::format("{}: not a readable checkpoint (truncated or not written by mqa): {}", path,
                                         what.substr(0, what.find('\n'))));
  }
  const std::string format = read_string(archive_, "format", path);
  if (format != kFormat)
    throw std::runtime_error(fmt::format("{}: checkpoint format '{}', expected '{}'", path, format, kFormat));
  kind_ = read_string(archive_, "kind", path);
  config_yaml_ = read_string(archive_, "config", path);
  vocab_size_ = read_int(archive_, "vocab_size", path);
  pad_id_ = read_int(archive_, "pad_id", path);
  step_ = read_int(archive_, "step", path);
  torch::Tensor vocab;
  if (archive_.try_read("vocab_model", vocab)) {
    vocab = vocab.to(torch::kCPU).contiguous();
    if (vocab.scalar_type() != torch::kUInt8 || vocab.dim() != 1)
      throw std::runtime_error(fmt::format("{}: malformed checkpoint: 'vocab_model' is not a byte vector", path));
    vocab_model_.assign(reinterpret_cast<const char*>(vocab.data_ptr<uint8_t>()), static_cast<size_t>(vocab.numel()));
  }
}

Config CheckpointFile::config() const {
  Config c = config_from_yaml_text(config_yaml_, path_ + " (stored config)");
  make_data_paths_absolute(c.data);
  return c;
}

NamedTensors CheckpointFile::model_tensors() {
  torch::serialize::InputArchive m;
  if (!archive_.try_read("model", m)) throw std::runtime_error(fmt::format("{}: malformed checkpoint: no model", path_));
  const std::string names = read_string(m, "names", path_);
  NamedTensors out;
  std::stringstream ss(names);
  std::string name;
  size_t i = 0;
  while (std::getline(ss, name, '\n')) {
    torch::Tensor t;
    if (!m.try_read("t" + std::to_string(i), t))
      throw std::runtime_error(fmt::format("{}: malformed checkpoint: tensor {} ({}) missing", path_, i, name));
    out.emplace_back(name, t);
    ++i;
  }
  return out;
}

void CheckpointFile::load_model_into(torch::nn::Module& model) {
  auto stored = model_tensors();
  std::map<std::string, torch::Tensor> by_name(stored.begin(), stored.end());
  auto targets = module_tensors(model);
  std::vector<std::string> missing, wrong_shape;
  std::set<std::string> used;
  for (auto& [name, target] : targets) {
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      missing.push_back(name);
    } else if (it->second.sizes() != target.sizes()) {
      wrong_shape.push_back(fmt::format("{} (stored {}, model {})", name, c10::str(it->second.sizes()),
                                        c10::str(target.sizes())));
    }
    used.insert(name);
  }
  std::vector<std::string> unexpected;
  for (auto& [name, t] : stored)
    if (!used.count(name)) unexpected.push_back(name);
  if (!missing.empty() || !wrong_shape.empty() || !unexpected.empty()) {
    auto list = [](const std::vector<std::string>& v) {
      std::string s;
      for (size_t i = 0; i < v.size() && i < 5; ++i) s += (i ? ", " : "") + v[i];
      if (v.size() > 5) s += fmt::format(", ... ({} in all)", v.size());
      return s;
    };
    std::string msg = fmt::format("{}: the stored model does not fit this model", path_);
    if (!missing.empty()) msg += "; missing: " + list(missing);
    if (!unexpected.empty()) msg += "; unexpected: " + list(unexpected);
    if (!wrong_shape.empty()) msg += "; other shape: " + list(wrong_shape);
    throw std::runtime_error(msg);
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, target] : targets) target.copy_(by_name.at(name));
}

void CheckpointFile::load_optimizer_into(torch::optim::Optimizer& optimizer) {
  torch::serialize::InputArchive opt;
  if (!archive_.try_read("optimizer", opt))
    throw std::runtime_error(fmt::format("{}: no optimizer state (a {} checkpoint); cannot resume from it", path_,
                                         kind_));
  try {
    optimizer.load(opt);
  } catch (const std::exception& e) {
    std::string what = e.what();
    throw std::runtime_error(fmt::format("{}: cannot restore the optimizer state (was it saved with another "
                                         "train.optimizer or model?): {}",
                                         path_, what.substr(0, what.find('\n'))));
  }
}

TrainState CheckpointFile::train_state() {
  torch::serialize::InputArchive t;
  if (!archive_.try_read("train", t))
    throw std::runtime_error(fmt::format("{}: no training state (a {} checkpoint); cannot resume from it", path_,
                                         kind_));
  TrainState s;
  s.step = read_int(t, "step", path_);
  s.epoch = read_int(t, "epoch", path_);
  s.data_state = read_string(t, "data_state", path_);
  s.schedule = read_string(t, "schedule", path_);
  s.tokens = read_int(t, "tokens", path_);
  auto e = read_value(t, "elapsed_s", path_);
  s.elapsed_s = e.toDouble();
  c10::IValue best, stale;  // absent before train.stop_patience: nothing validated yet counts
  if (t.try_read("dev_best", best)) s.dev_best = best.toDouble();
  if (t.try_read("dev_stale", stale)) s.dev_stale = stale.toInt();
  torch::Tensor cpu, cuda;
  if (t.try_read("rng_cpu", cpu)) s.rng_cpu = cpu.to(torch::kCPU);
  if (t.try_read("rng_cuda", cuda)) s.rng_cuda = cuda.to(torch::kCPU);
  c10::IValue world;
  if (t.try_read("world_size", world)) s.world_size = world.toInt();  // absent before data parallelism: 1
  torch::Tensor cpu_ranks, cuda_ranks;
  if (t.try_read("rng_cpu_ranks", cpu_ranks)) s.rng_cpu_ranks = cpu_ranks.to(torch::kCPU);
  if (t.try_read("rng_cuda_ranks", cuda_ranks)) s.rng_cuda_ranks = cuda_ranks.to(torch::kCPU);
  return s;
}


// ---- averaging --------------------------------------------------------------------------------------------------

std::vector<std::string> differing_keys(const Config& a, const Config& b, const std::vector<std::string>& prefixes) {
  std::vector<std::string> out;
  for (const auto& def : config_schema()) {
    bool match = false;
    for (const auto& p : prefixes) match = match || def.name.rfind(p, 0) == 0;
    if (!match) continue;
    auto va = def.get(a), vb = def.get(b);
    if (va != vb) out.push_back(fmt::format("{}: {} vs {}", def.name, value_text(va), value_text(vb)));
  }
  return out;
}

void average_checkpoints(const std::vector<std::string>& inputs, const std::string& output) {
  if (inputs.empty()) throw std::invalid_argument("average_checkpoints: no checkpoints given");
  CheckpointFile first(inputs[0]);
  const Config config = first.config();
  NamedTensors sum = first.model_tensors();
  std::vector<torch::ScalarType> dtypes;
  for (auto& [name, t] : sum) {
    dtypes.push_back(t.scalar_type());
    t = t.to(torch::kFloat64);
  }
  int64_t max_step = first.step();
  for (size_t i = 1; i < inputs.size(); ++i) {
    CheckpointFile file(inputs[i]);
    auto diff = differing_keys(config, file.config(), {"model.", "data.dir", "data.vocab_size"});
    if (!diff.empty() || file.vocab_size() != first.vocab_size() || file.pad_id() != first.pad_id()) {
      std::string list;
      for (const auto& d : diff) list += "\n  " + d;
      if (diff.empty())
        list = fmt::format("\n  vocab_size / pad_id: {} / {} vs {} / {}", first.vocab_size(), first.pad_id(),
                           file.vocab_size(), file.pad_id());
      throw std::runtime_error(fmt::format("{} and {} are not checkpoints of the same model (first vs second):{}",
                                           inputs[0], inputs[i], list));
    }
    if (file.vocab_model() != first.vocab_model())
      throw std::runtime_error(fmt::format("{} and {} embed different vocabularies (SentencePiece models of {} and "
                                           "{} bytes); average checkpoints of one run",
                                           inputs[0], inputs[i], first.vocab_model().size(),
                                           file.vocab_model().size()));
    auto tensors = file.model_tensors();
    if (tensors.size() != sum.size())
      throw std::runtime_error(
          fmt::format("{}: {} tensors, but {} has {}", inputs[i], tensors.size(), inputs[0], sum.size()));
    for (size_t k = 0; k < sum.size(); ++k) {
      if (tensors[k].first != sum[k].first || tensors[k].second.sizes() != sum[k].second.sizes())
        throw std::runtime_error(fmt::format("{}: tensor {} is {} {}, but in {} it is {} {}", inputs[i], k,
                                             tensors[k].first, c10::str(tensors[k].second.sizes()), inputs[0],
                                             sum[k].first, c10::str(sum[k].second.sizes())));
      sum[k].second += tensors[k].second.to(torch::kFloat64);
    }
    max_step = std::max(max_step, file.step());
  }
  const double n = static_cast<double>(inputs.size());
  for (size_t k = 0; k < sum.size(); ++k) {
    auto mean = sum[k].second / n;
    // Integer buffers (none in the Transformer today) are kept from the first checkpoint, not averaged.
    sum[k].second = c10::isFloatingType(dtypes[k]) ? mean.to(dtypes[k]) : first.model_tensors()[k].second;
  }
  save_model_tensors(output, first.config_yaml(), sum, first.vocab_size(), first.pad_id(), max_step, "average",
                     first.vocab_model());
}

// ---- config text ------------------------------------------------------------------------------------------------

Config config_from_yaml_text(const std::string& yaml, const std::string& origin) {
  // load_config reads files; give it the text in a private temporary file and name `origin` in its errors.
  char tmpl[] = "/tmp/mqa-config-XXXXXX";
  int fd = ::mkstemp(tmpl);
  if (fd < 0) throw std::runtime_error(fmt::format("{}: cannot create a temporary file: {}", origin, errno_text()));
  const std::string tmp = tmpl;
  size_t off = 0;
  while (off < yaml.size()) {
    ssize_t w = ::write(fd, yaml.data() + off, yaml.size() - off);
    if (w <= 0) break;
    off += static_cast<size_t>(w);
  }
  ::close(fd);
  try {
    Config c = load_config(tmp).config;
    ::unlink(tmp.c_str());
    return c;
  } catch (const ConfigError& e) {
    ::unlink(tmp.c_str());
    std::string msg = e.what();
    for (size_t pos; (pos = msg.find(tmp)) != std::string::npos;) msg.replace(pos, tmp.size(), origin);
    throw ConfigError(msg);
  }
}

}  // namespace mqa
