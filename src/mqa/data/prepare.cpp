// `mqa prepare`: raw text -> vocabulary + shards (see prepare.h).
#include "mqa/data/prepare.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "mqa/data/dataset.h"
#include "mqa/data/parallel_encoder.h"
#include "mqa/data/shard.h"
#include "mqa/data/tokenizer.h"
#include "mqa/util/strings.h"

namespace mqa {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not valid (overlong forms, surrogates and
// code points above U+10FFFF are invalid, as in the Unicode standard's table 3-7).
size_t utf8_sequence(const std::string& s, size_t i) {
  auto b = [&](size_t k) { return k < s.size() ? static_cast<unsigned char>(s[k]) : 0u; };
  unsigned c = b(i);
  auto cont = [&](size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) { return b(k) >= lo && b(k) <= hi; };
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (c == 0xE0) return cont(i + 1, 0xA0) && cont(i + 2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(i + 1) && cont(i + 2) ? 3 : 0;
  if (c == 0xED) return cont(i + 1, 0x80, 0x9F) && cont(i + 2) ? 3 : 0;
  if (c == 0xF0) return cont(i + 1, 0x90) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  if (c == 0xF4) return cont(i + 1, 0x80, 0x8F) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  return 0;
}

std::ifstream open_text(const std::string& path, const std::string& what) {
  if (!fs::exists(path)) throw std::runtime_error(fmt::format("{}: {} not found", path, what));
  if (fs::is_directory(path)) throw std::runtime_error(fmt::format("{}: {} is a directory, expected a text file",
                                                                   path, what));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open {}", path, what));
  return in;
}

void strip_cr(std::string& line) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
}

// Prints "label: N lines (R lines/s, W words/s)" at most every two seconds, and a last line from done().
class Progress {
 public:
  Progress(std::ostream& log, std::string label) : log_(log), label_(std::move(label)), start_(Clock::now()),
                                                   last_(start_) {}
  void tick(int64_t lines, int64_t words) {
    auto now = Clock::now();
    if (now - last_ < std::chrono::seconds(2)) return;
    last_ = now;
    log_ << fmt::format("  {}: {} lines ({:.0f} lines/s, {:.0f} words/s)\n", label_, lines, rate(lines, now),
                        rate(words, now))
         << std::flush;
  }
  void done(int64_t lines, int64_t words, int threads, const std::string& extra = "") {
    auto now = Clock::now();
    log_ << fmt::format("  {}: {} lines, {} words in {:.1f} s ({:.0f} lines/s, {:.0f} words/s on {} threads){}\n",
                        label_, lines, words, seconds(now), rate(lines, now), rate(words, now), threads, extra)
         << std::flush;
  }

 private:
  double seconds(Clock::time_point now) const { return std::chrono::duration<double>(now - start_).count(); }
  double rate(int64_t n, Clock::time_point now) const { return n / std::max(seconds(now), 1e-9); }
  std::ostream& log_;
  std::string label_;
  Clock::time_point start_, last_;
};

constexpr size_t kBlock = 16384;  // lines read, encoded and written together

// Reads up to kBlock lines; returns false at the end of the file.
bool read_block(std::ifstream& in, std::vector<std::string>& lines) {
  lines.clear();
  std::string line;
  while (lines.size() < kBlock && std::getline(in, line)) {
    strip_cr(line);
    lines.push_back(std::move(line));
  }
  return !lines.empty();
}

void copy_atomically(const std::string& from, const std::string& to) {
  const std::string tmp = to + ".tmp";
  fs::copy_file(from, tmp, fs::copy_options::overwrite_existing);
  fs::rename(tmp, to);
}

void write_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    if (!out) throw std::runtime_error(fmt::format("{}: write failed", tmp));
  }
  fs::rename(tmp, path);
}

std::string in_dir(const DataConfig& d, const std::string& name) { return (fs::path(d.dir) / name).string(); }

// The raw text files a prepare needs, with the key that names each (for messages).
struct Input {
  const char* key;
  std::string path;
};

std::vector<Input> inputs_of(const DataConfig& d, bool lm) {
  if (lm)
    return {{"data.train_text", d.train_text}, {"data.valid_text", d.valid_text}, {"data.test_text", d.test_text}};
  return {{"data.train_source", d.train_source}, {"data.train_target", d.train_target},
          {"data.valid_source", d.valid_source}, {"data.valid_target", d.valid_target},
          {"data.test_source", d.test_source},   {"data.test_target", d.test_target}};
}

void train_vocabulary(const DataConfig& d, const std::vector<std::string>& train_files, std::ostream& log) {
  const std::string model = vocab_path(d);
  if (fs::exists(model)) {
    log << fmt::format("vocabulary: using existing {}\n", model);
    return;
  }
  log << fmt::format("vocabulary: training a shared {} SentencePiece model of {} pieces on {}\n", d.spm_model_type,
                     d.vocab_size, join(train_files, " + "))
      << std::flush;
  auto start = Clock::now();
  SpmTrainOptions o;
  o.inputs = train_files;
  o.model_prefix = in_dir(d, "spm.tmp");
  o.vocab_size = d.vocab_size;
  o.model_type = d.spm_model_type;
  o.num_threads = d.prepare_threads > 0 ? d.prepare_threads : available_cpus();
  o.input_sentence_size = d.spm_sentences;
  Tokenizer::train(o);
  // The .vocab (human-readable) first, the .model last: an existing spm.model is always complete.
  fs::rename(o.model_prefix + ".vocab", in_dir(d, "spm.vocab"));
  fs::rename(o.model_prefix + ".model", model);
  log << fmt::format("vocabulary: {} written in {:.1f} s\n", model,
                     std::chrono::duration<double>(Clock::now() - start).count());
}

void check_special_ids(const Tokenizer& tok) {
  if (tok.pad_id() != 0 || tok.unk_id() != 1 || tok.bos_id() != 2 || tok.eos_id() != 3)
    throw std::runtime_error(fmt::format(
        "{}: special ids are pad {} unk {} bos {} eos {}, expected pad 0 unk 1 bos 2 eos 3 (train it with mqa spm "
        "train, or delete it and let mqa prepare train one)",
        tok.path(), tok.pad_id(), tok.unk_id(), tok.bos_id(), tok.eos_id()));
}

// Seq2seq split: encodes a line-aligned pair of files into {split}.src / {split}.tgt shards. Every split drops
// pairs with a side longer than data.max_len (the model could not take them: data/position_fit.h); training also
// drops empty sides and length ratios above data.max_len_ratio (`training`).
void encode_pairs(const Tokenizer& tok, const DataConfig& d, const std::string& split, const std::string& src_path,
                  const std::string& tgt_path, bool training, PrepareStats& stats, std::ostream& log) {
  std::ifstream src_in = open_text(src_path, "source text"), tgt_in = open_text(tgt_path, "target text");
  ShardWriter src_out(in_dir(d, split + ".src")), tgt_out(in_dir(d, split + ".tgt"));
  Progress progress(log, "encoding " + split);
  // Two blocks of lines: the encoder works on one while the next is read. The encoder is declared after the
  // buffers, so that leaving by an exception joins its threads before the buffers go.
  std::vector<std::string> src_lines, tgt_lines, src_next, tgt_next;
  std::vector<std::vector<int>> src_ids, tgt_ids;
  ParallelEncoder encoder(tok, d.prepare_threads);
  int64_t lines = 0, words = 0, kept = 0, too_long = 0;
  auto read_pair = [&](std::vector<std::string>& s, std::vector<std::string>& t) {
    const bool more = read_block(src_in, s) | read_block(tgt_in, t);  // | not ||: both files are read
    if (s.size() != t.size())  // check_text_file compared the counts; the files changed since
      throw std::runtime_error(fmt::format("{} and {}: line counts differ (the files changed during prepare)",
                                           src_path, tgt_path));
    return more;
  };
  for (bool more = read_pair(src_lines, tgt_lines); more;) {
    encoder.start({&src_lines, &tgt_lines}, {&src_ids, &tgt_ids});
    const bool next = read_pair(src_next, tgt_next);
    words += encoder.wait();
    for (size_t i = 0; i < src_ids.size(); ++i) {
      const int64_t a = static_cast<int64_t>(src_ids[i].size()), b = static_cast<int64_t>(tgt_ids[i].size());
      if (training && (a == 0 || b == 0)) {
        ++stats.dropped_empty;
        continue;
      }
      if (a > d.max_len || b > d.max_len) {
        ++too_long;
        continue;
      }
      if (training &&
          static_cast<double>(std::max(a, b)) > d.max_len_ratio * static_cast<double>(std::min(a, b))) {
        ++stats.dropped_ratio;
        continue;
      }
      src_out.add(src_ids[i]);
      tgt_out.add(tgt_ids[i]);
      ++kept;
    }
    lines += static_cast<int64_t>(src_lines.size());
    progress.tick(lines, words);
    src_lines.swap(src_next);
    tgt_lines.swap(tgt_next);
    more = next;
  }
  src_out.finish();
  tgt_out.finish();
  progress.done(lines, words, encoder.threads(),
                fmt::format(", {} pairs kept, {} + {} tokens", kept, src_out.tokens(), tgt_out.tokens()));
  if (training) {
    stats.train_kept = kept;
    stats.dropped_too_long = too_long;
    return;
  }
  (split == "valid" ? stats.valid : stats.test) = kept;
  (split == "valid" ? stats.valid_too_long : stats.test_too_long) = too_long;
  log << fmt::format("filter ({}): {} of {} pairs kept; {} with a side longer than data.max_len={} tokens left out "
                     "of the {} shards (perplexity); {}.src.txt / {}.tgt.txt keep all {} lines for BLEU\n",
                     split, kept, lines, too_long, d.max_len, split, split, split, lines)
      << std::flush;
}

// Lm split: one stream of sentences, each followed by eos, into the shard `out_prefix` (.bin/.idx). Returns the
// number of sentences written; `filter` (training) drops empty ones and those longer than data.max_len, counted in
// stats.
int64_t encode_stream(const Tokenizer& tok, const DataConfig& d, const std::string& split, const std::string& path,
                      const std::string& out_prefix, bool filter, PrepareStats& stats, std::ostream& log) {
  std::ifstream in = open_text(path, "text");
  ShardWriter out(out_prefix);
  Progress progress(log, "encoding " + split);
  std::vector<std::string> lines, next_lines;  // the encoder works on one block while the next is read
  std::vector<std::vector<int>> ids;
  ParallelEncoder encoder(tok, d.prepare_threads);  // after the buffers: destroyed (joined) before them
  int64_t count = 0, words = 0, kept = 0;
  for (bool more = read_block(in, lines); more;) {
    encoder.start({&lines}, {&ids});
    const bool next = read_block(in, next_lines);
    words += encoder.wait();
    for (auto& s : ids) {
      if (filter && s.empty()) {
        ++stats.dropped_empty;
        continue;
      }
      if (filter && static_cast<int64_t>(s.size()) > d.max_len) {
        ++stats.dropped_too_long;
        continue;
      }
      s.push_back(tok.eos_id());
      out.add(s);
      ++kept;
    }
    count += static_cast<int64_t>(lines.size());
    progress.tick(count, words);
    lines.swap(next_lines);
    more = next;
  }
  out.finish();
  progress.done(count, words, encoder.threads(), fmt::format(", {} sentences kept, {} tokens", kept, out.tokens()));
  return kept;
}

std::vector<std::string> expected_files(const std::string& model_type) {
  std::vector<std::string> files = {"spm.model"};
  for (const char* split : {"train", "valid", "test"})
    for (const char* side : model_type == "lm" ? std::vector<const char*>{".lm"} : std::vector<const char*>{".src", ".tgt"})
      for (const char* ext : {".bin", ".idx"}) files.push_back(std::string(split) + side + ext);
  return files;
}

}  // namespace

int64_t encode_lm_text(const Tokenizer& tok, const std::string& text_path, const std::string& out_prefix,
                       std::ostream& log) {
  check_text_file(text_path, "text file");
  PrepareStats unused;
  return encode_stream(tok, DataConfig{}, "text", text_path, out_prefix, /*filter=*/false, unused, log);
}

std::string prepared_marker_path(const DataConfig& data) { return in_dir(data, "prepare.done"); }

bool data_dir_ready(const DataConfig& data, const std::string& model_type) {
  const std::string marker = prepared_marker_path(data);
  if (!fs::exists(marker)) return false;
  std::ifstream in(marker);
  std::string first;
  std::getline(in, first);
  const std::string want = "kind: " + model_type;
  if (first != want)
    throw std::runtime_error(fmt::format("{}: this directory holds a prepared corpus of '{}', but model.type is '{}' "
                                         "(point data.dir elsewhere, or delete the directory to re-prepare)",
                                         data.dir, first.substr(std::min<size_t>(6, first.size())), model_type));
  for (const auto& f : expected_files(model_type))
    if (!fs::exists(in_dir(data, f))) return false;
  return true;
}

int64_t check_text_file(const std::string& path, const std::string& what) {
  std::ifstream in = open_text(path, what);
  std::string line;
  int64_t lines = 0, bytes = 0;
  while (std::getline(in, line)) {
    ++lines;
    bytes += static_cast<int64_t>(line.size());
    for (size_t i = 0; i < line.size();) {
      size_t n = utf8_sequence(line, i);
      if (n == 0)
        throw std::runtime_error(fmt::format("{}:{}: invalid UTF-8 (byte 0x{:02X} at byte {} of the line); the {} "
                                             "must be UTF-8 text",
                                             path, lines, static_cast<unsigned char>(line[i]), i + 1, what));
      i += n;
    }
  }
  if (lines == 0 || bytes == 0) throw std::runtime_error(fmt::format("{}: {} is empty", path, what));
  return lines;
}

PrepareStats prepare_data(const DataConfig& d, const std::string& model_type, std::ostream& log) {
  if (model_type != "seq2seq" && model_type != "lm")
    throw std::runtime_error(fmt::format("model.type '{}': expected seq2seq or lm", model_type));
  const bool lm = model_type == "lm";
  const auto inputs = inputs_of(d, lm);
  std::vector<std::string> unset;
  for (const auto& in : inputs)
    if (in.path.empty()) unset.push_back(in.key);
  if (!unset.empty())
    throw std::runtime_error(fmt::format("cannot prepare {} ({} data): set {}", d.dir, model_type,
                                         join(unset, ", ")));

  log << fmt::format("prepare: checking {} text files\n", inputs.size()) << std::flush;
  std::vector<int64_t> lines;
  for (const auto& in : inputs) lines.push_back(check_text_file(in.path, fmt::format("text file ({})", in.key)));
  if (!lm)
    for (size_t i = 0; i < inputs.size(); i += 2)
      if (lines[i] != lines[i + 1])
        throw std::runtime_error(fmt::format("line counts differ: {} has {} lines but {} has {} lines ({} and {} "
                                             "must be line-aligned translations)",
                                             inputs[i].path, lines[i], inputs[i + 1].path, lines[i + 1],
                                             inputs[i].key, inputs[i + 1].key));

  fs::create_directories(d.dir);
  fs::remove(prepared_marker_path(d));  // from here until the end the directory is incomplete
  std::vector<std::string> train_files = {inputs[0].path};
  if (!lm) train_files.push_back(inputs[1].path);
  train_vocabulary(d, train_files, log);
  Tokenizer tok(vocab_path(d));
  check_special_ids(tok);

  PrepareStats stats;
  if (lm) {
    for (const auto& [split, path] : {std::pair<std::string, std::string>{"train", d.train_text},
                                      {"valid", d.valid_text},
                                      {"test", d.test_text}})
      (split == "train" ? stats.train_kept : split == "valid" ? stats.valid : stats.test) =
          encode_stream(tok, d, split, path, in_dir(d, split + ".lm"), split == "train", stats, log);
    copy_atomically(d.valid_text, in_dir(d, "valid.txt"));
    copy_atomically(d.test_text, in_dir(d, "test.txt"));
  } else {
    encode_pairs(tok, d, "train", d.train_source, d.train_target, true, stats, log);
    encode_pairs(tok, d, "valid", d.valid_source, d.valid_target, false, stats, log);
    encode_pairs(tok, d, "test", d.test_source, d.test_target, false, stats, log);
    copy_atomically(d.valid_source, in_dir(d, "valid.src.txt"));
    copy_atomically(d.valid_target, in_dir(d, "valid.tgt.txt"));
    copy_atomically(d.test_source, in_dir(d, "test.src.txt"));
    copy_atomically(d.test_target, in_dir(d, "test.tgt.txt"));
  }
  const int64_t train_lines = lines[0];
  log << fmt::format(
             "filter (train): {} of {} {} kept; dropped {} empty, {} longer than data.max_len={} tokens{}\n",
             stats.train_kept, train_lines, lm ? "sentences" : "pairs", stats.dropped_empty, stats.dropped_too_long,
             d.max_len,
             lm ? "" : fmt::format(", {} with length ratio > data.max_len_ratio={}", stats.dropped_ratio,
                                   d.max_len_ratio))
      << std::flush;
  if (stats.train_kept == 0)
    throw std::runtime_error(fmt::format("{}: no training {} left after filtering (check data.max_len and "
                                         "data.max_len_ratio)",
                                         inputs[0].path, lm ? "sentences" : "pairs"));

  std::string summary = fmt::format("kind: {}\nvocab_size: {}\ntrain: {}\nvalid: {}\ntest: {}\nmax_len: {}\n",
                                    model_type, tok.vocab_size(), stats.train_kept, stats.valid, stats.test, d.max_len);
  if (!lm)
    summary += fmt::format("valid_too_long: {}\ntest_too_long: {}\n", stats.valid_too_long, stats.test_too_long);
  for (const auto& in : inputs) summary += fmt::format("{}: {}\n", in.key, fs::absolute(in.path).string());
  write_atomically(prepared_marker_path(d), summary);
  log << fmt::format("prepare: {} is ready ({} pieces; train {}, valid {}, test {})\n", d.dir, tok.vocab_size(),
                     stats.train_kept, stats.valid, stats.test)
      << std::flush;
  return stats;
}

}  // namespace mqa
