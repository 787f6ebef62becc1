// The shard-backed datasets (layout and token conventions in dataset.h) and ensure_data_ready.
#include "mqa/data/dataset.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <stdexcept>

#include <fmt/format.h>

#include "mqa/data/position_fit.h"
#include "mqa/data/prepare.h"
#include "mqa/data/shard.h"
#include "mqa/data/synth.h"

namespace mqa {

namespace fs = std::filesystem;

void Dataset::copy_source(int64_t i, int64_t* dst) const {
  for (int32_t id : source(i)) *dst++ = id;
}
void Dataset::copy_target(int64_t i, int64_t* dst) const {
  for (int32_t id : target(i)) *dst++ = id;
}

std::string vocab_path(const DataConfig& data) { return (fs::path(data.dir) / "spm.model").string(); }

namespace {

void check_split(const std::string& split) {
  if (split != "train" && split != "valid" && split != "test")
    throw std::runtime_error(fmt::format("unknown data split '{}': expected train, valid or test", split));
}

class Seq2SeqDataset final : public Dataset {
 public:
  Seq2SeqDataset(const std::string& prefix, bool pread) : src_(prefix + ".src"), tgt_(prefix + ".tgt"), pread_(pread) {
    if (src_.records() != tgt_.records())
      throw std::runtime_error(fmt::format("{}.idx holds {} sentences but {}.idx holds {}: re-run mqa prepare",
                                           src_.path(), src_.records(), tgt_.path(), tgt_.records()));
  }
  bool is_lm() const override { return false; }
  int64_t size() const override { return src_.records(); }
  std::vector<int32_t> source(int64_t i) const override { return {src_.data(i), src_.data(i) + src_.length(i)}; }
  std::vector<int32_t> target(int64_t i) const override { return {tgt_.data(i), tgt_.data(i) + tgt_.length(i)}; }
  int64_t source_length(int64_t i) const override { return src_.length(i); }
  int64_t target_length(int64_t i) const override { return tgt_.length(i); }
  void copy_source(int64_t i, int64_t* dst) const override { copy(src_, i, dst); }
  void copy_target(int64_t i, int64_t* dst) const override { copy(tgt_, i, dst); }
  void release_pages() const override {
    src_.release_pages();
    tgt_.release_pages();
  }

 private:
  void copy(const ShardReader& shard, int64_t i, int64_t* dst) const {
    const int64_t n = shard.length(i);
    if (pread_) {
      // Read the int32 ids into the int64 row itself (n int32 fit in its first half), then widen from the back
      // so that nothing is overwritten before it is read.
      auto* narrow = reinterpret_cast<int32_t*>(dst);
      shard.read(shard.offset(i), n, narrow);
      for (int64_t k = n - 1; k >= 0; --k) dst[k] = narrow[k];
    } else {
      const int32_t* p = shard.data(i);
      for (int64_t k = 0; k < n; ++k) dst[k] = p[k];
    }
  }
  ShardReader src_, tgt_;
  bool pread_;
};

// The stream is read as [eos] + bin, so position p of the virtual stream is eos for p == 0 and bin[p - 1] after.
class LmDataset final : public Dataset {
 public:
  LmDataset(const std::string& shard, int64_t seq_len, bool pread) : lm_(shard), seq_len_(seq_len), pread_(pread) {
    const int64_t n = lm_.tokens() + 1;  // with the leading eos
    // Examples start every seq_len tokens; the last one still needs a token to predict (>= 2 tokens).
    examples_ = n >= 2 ? (n - 2) / seq_len_ + 1 : 0;
    virtual_tokens_ = n;
  }
  bool is_lm() const override { return true; }
  int64_t size() const override { return examples_; }
  std::vector<int32_t> source(int64_t) const override { return {}; }
  std::vector<int32_t> target(int64_t i) const override {
    std::vector<int64_t> wide(target_length(i));
    copy_target(i, wide.data());
    return {wide.begin(), wide.end()};
  }
  int64_t source_length(int64_t) const override { return 0; }
  int64_t target_length(int64_t i) const override {
    return std::min(seq_len_ + 1, virtual_tokens_ - i * seq_len_);
  }
  void copy_source(int64_t, int64_t*) const override {}
  void copy_target(int64_t i, int64_t* dst) const override {
    int64_t start = i * seq_len_, n = target_length(i);
    int64_t k = 0;
    if (start == 0) dst[k++] = eos_id;
    if (pread_) {  // as in Seq2SeqDataset::copy: int32 into the row's front, widened from the back
      auto* narrow = reinterpret_cast<int32_t*>(dst + k);
      lm_.read(start + k - 1, n - k, narrow);
      for (int64_t m = n - k - 1; m >= 0; --m) dst[k + m] = narrow[m];
      return;
    }
    const int32_t* p = lm_.ids() + (start + k - 1);
    for (; k < n; ++k) dst[k] = *p++;
  }
  void release_pages() const override { lm_.release_pages(); }

 private:
  ShardReader lm_;
  int64_t seq_len_, examples_ = 0, virtual_tokens_ = 0;
  bool pread_;
};

// Holds an exclusive lock on DIR/.lock: ranks of one job (or two jobs) preparing the same directory take turns,
// and the later ones find it ready.
class DirLock {
 public:
  explicit DirLock(const std::string& dir) {
    fs::create_directories(dir);
    std::string path = (fs::path(dir) / ".lock").string();
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw std::runtime_error(fmt::format("{}: cannot create lock file", path));
    ::flock(fd_, LOCK_EX);
  }
  ~DirLock() {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }

 private:
  int fd_ = -1;
};

bool any_raw_keys(const DataConfig& d, bool lm) {
  return lm ? !d.train_text.empty() : !d.train_source.empty() || !d.train_target.empty();
}

}  // namespace

std::shared_ptr<const Dataset> Dataset::open(const DataConfig& data, const std::string& model_type,
                                             const std::string& split) {
  check_split(split);
  if (model_type != "seq2seq" && model_type != "lm")
    throw std::runtime_error(fmt::format("unknown model type '{}': expected seq2seq or lm", model_type));
  if (!fs::exists(prepared_marker_path(data)))
    throw std::runtime_error(fmt::format(
        "{}: data directory is not prepared (no prepare.done): run `mqa prepare CONFIG`, or set data.synth",
        data.dir));
  const std::string prefix = (fs::path(data.dir) / split).string();
  const bool pread = data.read == "pread";
  if (model_type == "lm") return std::make_shared<LmDataset>(prefix + ".lm", data.seq_len, pread);
  return std::make_shared<Seq2SeqDataset>(prefix, pread);
}

namespace {

// Prepares data.dir unless it is ready (see ensure_data_ready).
void prepare_if_missing(const Config& config) {
  const DataConfig& data = config.data;
  const std::string& type = config.model.type;
  const bool lm = type == "lm";
  if (data_dir_ready(data, type)) return;
  DirLock lock(data.dir);
  if (data_dir_ready(data, type)) return;  // another process prepared it while we waited

  if (!data.synth.empty()) {
    const std::string want = lm ? "lm" : "translation";
    if (data.synth != want)
      throw std::runtime_error(fmt::format("data.synth: '{}' makes a {} corpus, but model.type is '{}': set "
                                           "data.synth: {}",
                                           data.synth, data.synth == "lm" ? "language-model" : "translation", type,
                                           want));
    SynthOptions opts;
    opts.kind = data.synth;
    const std::string raw = (fs::path(data.dir) / "raw").string();
    std::cout << fmt::format("data: generating the built-in {} corpus into {} (seed {}, {} training sentences)\n",
                             opts.kind, raw, opts.seed, opts.train_sentences)
              << std::flush;
    generate_synth_corpus(opts, raw);
    DataConfig d = data;
    synth_raw_keys(opts.kind, raw, d);
    prepare_data(d, type, std::cout);
    return;
  }
  if (any_raw_keys(data, lm)) {
    prepare_data(data, type, std::cout);
    return;
  }
  throw std::runtime_error(fmt::format(
      "{}: no prepared data (no {}). Either set data.synth: {} to generate the built-in corpus, or name raw text "
      "with {} and run `mqa prepare CONFIG` (or let training prepare it)",
      data.dir, prepared_marker_path(data), lm ? "lm" : "translation",
      lm ? "data.train_text, data.valid_text, data.test_text"
         : "data.train_source/train_target, data.valid_source/valid_target, data.test_source/test_target"));
}

}  // namespace

std::shared_ptr<const Dataset> Dataset::open_lm_stream(const std::string& prefix, int64_t seq_len, bool pread) {
  if (seq_len < 1) throw std::invalid_argument(fmt::format("open_lm_stream: seq_len {} < 1", seq_len));
  return std::make_shared<LmDataset>(prefix, seq_len, pread);
}

void ensure_data_ready(const Config& config) {
  prepare_if_missing(config);
  // A directory prepared earlier (or for another config) may hold pairs this model cannot take: say so now, not
  // with an abort in the embedding at the first such batch.
  check_prepared_fits_model(config);
}

}  // namespace mqa
