// What a run reports: metrics.jsonl in the run directory (one JSON object a line) and the progress display.
//
// Training lines (every train.log_every steps), averaged over the steps since the previous line:
//   {"split":"train","step":..,"epoch":..,"loss":..,"ln_ppl":..,"lr":..,"tokens_per_s":..,"grad_norm":..,
//    "memory_bytes":..,"memory":"cpu_rss"|"cuda_max_allocated","elapsed":..,"tokens":..}
//   loss: label-smoothed loss per target token; ln_ppl: nll per target token (ln of the training perplexity);
//   grad_norm: global gradient norm before clipping; elapsed: training seconds (resumes continue the count).
// Validation lines: {"split":"valid","step":..,"ln_ppl":..,"ppl":..,"tokens":..,"elapsed":..} (+ extra metrics
//   from the validation hook: "valid_bleu" with train.valid_bleu_sentences).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <ostream>
#include <string>

namespace mqa {

struct TrainMetrics {
  int64_t step = 0, max_steps = 0, epoch = 0, tokens = 0;
  double loss = 0, ln_ppl = 0, lr = 0, tokens_per_s = 0, grad_norm = 0, elapsed_s = 0;
  int64_t memory_bytes = 0;
  std::string memory_kind;  // cpu_rss | cuda_max_allocated
};

struct ValidMetrics {
  int64_t step = 0, tokens = 0;
  double ln_ppl = 0, elapsed_s = 0;
  std::map<std::string, double> extra;  // from the validation hook (e.g. bleu)
};

// Memory in use: the process's resident set on CPU, the peak allocated CUDA memory on CUDA. Sets `kind`.
int64_t memory_in_use(const torch::Device& device, std::string* kind);

// A JSON number; NaN and infinities (not JSON) become null.
std::string json_number(double v);

class MetricsLog {
 public:
  // Appends to `path` (a resumed run continues the file). Throws naming the file when it cannot open it.
  explicit MetricsLog(const std::string& path);
  void write(const TrainMetrics& m);
  void write(const ValidMetrics& m);

 private:
  void line(const std::string& json);
  std::string path_;
  std::ofstream out_;
};

// The console view: on a terminal, one line rewritten in place (step/max, loss, lr, tok/s, ETA); otherwise plain
// lines, one per log step, for logs and CI.
class Progress {
 public:
  Progress(std::ostream& out, bool tty);
  // Whether stdout is a terminal (and TERM is not "dumb").
  static bool stdout_is_tty();
  void update(const TrainMetrics& m, double eta_s);
  // A message on its own line (validation, checkpoint, warnings); on a terminal it keeps the progress line below.
  void message(const std::string& text);
  void finish();

 private:
  std::ostream& out_;
  bool tty_;
  bool line_open_ = false;
  std::string last_;
};

std::string format_duration(double seconds);

}  // namespace mqa
