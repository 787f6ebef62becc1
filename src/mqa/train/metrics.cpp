#include "mqa/train/metrics.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include <fmt/format.h>

#ifdef MQA_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace mqa {

int64_t memory_in_use(const torch::Device& device, std::string* kind) {
#ifdef MQA_WITH_CUDA
  if (device.is_cuda()) {
    if (kind) *kind = "cuda_max_allocated";
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
    return stats.allocated_bytes[0].peak;  // [0]: the aggregate over pool kinds
  }
#else
  (void)device;
#endif
  if (kind) *kind = "cpu_rss";
  long pages_total = 0, pages_resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = 0;
    std::fclose(f);
  }
  return static_cast<int64_t>(pages_resident) * ::sysconf(_SC_PAGESIZE);
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  return fmt::format("{}", v);
}

MetricsLog::MetricsLog(const std::string& path) : path_(path), out_(path, std::ios::app) {
  if (!out_) throw std::runtime_error(fmt::format("{}: cannot open for appending", path));
}

void MetricsLog::line(const std::string& json) {
  out_ << json << '\n';
  out_.flush();
  if (!out_) throw std::runtime_error(fmt::format("{}: write failed", path_));
}

void MetricsLog::write(const TrainMetrics& m) {
  line(fmt::format(
      "{{\"split\":\"train\",\"step\":{},\"epoch\":{},\"loss\":{},\"ln_ppl\":{},\"lr\":{},\"tokens_per_s\":{},"
      "\"grad_norm\":{},\"memory_bytes\":{},\"memory\":\"{}\",\"elapsed\":{},\"tokens\":{}}}",
      m.step, m.epoch, json_number(m.loss), json_number(m.ln_ppl), json_number(m.lr), json_number(m.tokens_per_s),
      json_number(m.grad_norm), m.memory_bytes, m.memory_kind, json_number(m.elapsed_s), m.tokens));
}

void MetricsLog::write(const ValidMetrics& m) {
  std::string extra;
  for (const auto& [k, v] : m.extra) extra += fmt::format(",\"{}\":{}", k, json_number(v));
  line(fmt::format("{{\"split\":\"valid\",\"step\":{},\"ln_ppl\":{},\"ppl\":{},\"tokens\":{},\"elapsed\":{}{}}}", m.step,
                   json_number(m.ln_ppl), json_number(std::exp(m.ln_ppl)), m.tokens, json_number(m.elapsed_s),
                   extra));
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  auto t = static_cast<int64_t>(s + 0.5);
  if (t >= 3600) return fmt::format("{}h{:02d}m", t / 3600, (t % 3600) / 60);
  if (t >= 60) return fmt::format("{}m{:02d}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}

Progress::Progress(std::ostream& out, bool tty) : out_(out), tty_(tty) {}

bool Progress::stdout_is_tty() {
  const char* term = std::getenv("TERM");
  return ::isatty(STDOUT_FILENO) && !(term && std::string(term) == "dumb");
}

void Progress::update(const TrainMetrics& m, double eta_s) {
  const double mib = m.memory_bytes / 1048576.0;
  if (tty_) {
    const int width = 20;
    const double frac = m.max_steps > 0 ? std::min(1.0, static_cast<double>(m.step) / m.max_steps) : 0.0;
    const int filled = static_cast<int>(frac * width);
    std::string bar = std::string(filled, '#') + std::string(width - filled, '.');
    out_ << fmt::format("\r\033[K[{}] {}/{} loss {:.3f} ln_ppl {:.3f} lr {:.2e} {:.0f} tok/s |g| {:.2f} {:.0f} MiB ETA {}",
                        bar, m.step, m.max_steps, m.loss, m.ln_ppl, m.lr, m.tokens_per_s, m.grad_norm, mib,
                        format_duration(eta_s))
         << std::flush;
    line_open_ = true;
  } else {
    out_ << fmt::format("step {}/{} epoch {} loss {:.4f} ln_ppl {:.4f} lr {:.3e} tok/s {:.0f} grad_norm {:.3f} "
                        "mem {:.0f} MiB elapsed {} eta {}\n",
                        m.step, m.max_steps, m.epoch, m.loss, m.ln_ppl, m.lr, m.tokens_per_s, m.grad_norm, mib,
                        format_duration(m.elapsed_s), format_duration(eta_s))
         << std::flush;
  }
}

void Progress::message(const std::string& text) {
  if (tty_ && line_open_) out_ << "\r\033[K";
  out_ << text << "\n" << std::flush;
  line_open_ = false;
}

void Progress::finish() {
  if (tty_ && line_open_) out_ << "\n" << std::flush;
  line_open_ = false;
}

}  // namespace mqa
