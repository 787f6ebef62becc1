// `mqa bench decode CONFIG` and `mqa bench train CONFIG`: the paper's Table 2 method on a random-initialised model
// of the config (see src/mqa/bench/). Prints a readable summary and a markdown row; --json FILE appends one JSON
// object per result line (JSON Lines), for scripts/table2_report.py.
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "cli/command.h"
#include "mqa/bench/decode_bench.h"
#include "mqa/bench/roofline.h"
#include "mqa/bench/train_bench.h"
#include "mqa/config/config.h"
#include "mqa/model/transformer.h"
#include "mqa/util/device.h"
#include "mqa/util/strings.h"

namespace {

// One flat-ish JSON object, keys in insertion order. Non-finite numbers become null.
class Json {
 public:
  Json& num(const std::string& k, double v) {
    return raw(k, std::isfinite(v) ? fmt::format("{}", v) : std::string("null"));
  }
  Json& num(const std::string& k, int64_t v) { return raw(k, std::to_string(v)); }
  Json& flag(const std::string& k, bool v) { return raw(k, v ? "true" : "false"); }
  Json& str(const std::string& k, const std::string& v) { return raw(k, quote(v)); }
  Json& obj(const std::string& k, const Json& v) { return raw(k, v.dump()); }
  Json& stats(const std::string& k, const mqa::Stats& s) {
    return obj(k, Json().num("median", s.median).num("min", s.min).num("max", s.max).num("n", s.n));
  }
  std::string dump() const { return "{" + body_ + "}"; }

 private:
  Json& raw(const std::string& k, const std::string& v) {
    body_ += (body_.empty() ? "" : ", ") + quote(k) + ": " + v;
    return *this;
  }
  static std::string quote(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      if (static_cast<unsigned char>(c) < 0x20) {
        out += fmt::format("\\u{:04x}", static_cast<int>(c));
        continue;
      }
      out += c;
    }
    return out + "\"";
  }
  std::string body_;
};

void append_json(const std::string& path, const Json& j) {
  if (path.empty()) return;
  std::ofstream f(path, std::ios::app);
  if (!f) throw std::runtime_error("cannot open " + path + " for appending the JSON result");
  f << j.dump() << "\n";
}

struct Setup {
  mqa::Config config;
  std::string label;
  int64_t vocab = 0;
  torch::Device device = torch::kCPU;
  torch::ScalarType precision = torch::kFloat32;
};

Setup load(const mqa::cli::ConfigArgs& args, const std::string& label) {
  Setup s;
  s.config = mqa::load_config(args.path, args.overrides).config;
  s.label = label.empty() ? std::filesystem::path(args.path).stem().string() : label;
  const auto& m = s.config.model;
  s.vocab = m.vocab_size > 0 ? m.vocab_size : s.config.data.vocab_size;
  s.device = mqa::resolve_device(s.config.bench.device);
  s.precision = mqa::resolve_precision(s.config.bench.precision, s.device);
  const auto& b = s.config.bench;
  if (b.target_len > m.max_positions)
    throw mqa::ConfigError(fmt::format("bench.target_len ({}) exceeds model.max_positions ({})", b.target_len,
                                       m.max_positions));
  if (m.type == "seq2seq" && b.source_len > m.max_positions)
    throw mqa::ConfigError(fmt::format("bench.source_len ({}) exceeds model.max_positions ({})", b.source_len,
                                       m.max_positions));
  return s;
}

Json model_json(const Setup& s, int64_t params) {
  const auto& m = s.config.model;
  return Json()
      .str("type", m.type)
      .num("layers_enc", int64_t{m.encoder_layers})
      .num("layers_dec", int64_t{m.decoder_layers})
      .num("d_model", int64_t{m.d_model})
      .num("heads", int64_t{m.heads})
      .num("kv_heads", int64_t{m.kv_heads})
      .num("d_k", int64_t{m.d_k})
      .num("d_v", int64_t{m.d_v})
      .num("d_ff", int64_t{m.d_ff})
      .num("window", int64_t{m.window})
      .num("vocab", s.vocab)
      .num("params", params);
}

Json ceilings_json(const mqa::bench::Ceilings& c) {
  return Json()
      .num("copy_GBps", c.copy_bytes_per_s / 1e9)
      .num("copy_bytes", c.copy_bytes)
      .num("matmul_TFLOPs", c.matmul_flops_per_s / 1e12)
      .num("matmul_n", c.matmul_n)
      .str("dtype", c.dtype);
}

int64_t count_params(const mqa::Transformer& model) {
  int64_t n = 0;
  for (const auto& p : model->parameters()) n += p.numel();
  return n;
}

std::string device_name(const torch::Device& d) {
  std::string env = mqa::describe_environment();  // "  cuda:0: NAME, compute ..." on CUDA machines
  if (d.is_cuda()) {
    auto at = env.find("cuda:0: ");
    if (at != std::string::npos) return env.substr(at + 8, env.find(',', at) - at - 8);
  }
  return d.str();
}

// `text` as a positive integer, or nullopt.
std::optional<int64_t> positive_int(const std::string& text) {
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < 1) return std::nullopt;
  return v;
}

// Comma-separated positive integers ("1,32,128"), or `fallback` alone when the list is empty.
std::vector<int64_t> int_list(const std::string& text, int64_t fallback, const char* option) {
  if (text.empty()) return {fallback};
  std::vector<int64_t> out;
  for (const auto& item : mqa::split(text, ',')) {
    const auto v = positive_int(item);
    if (!v)
      throw std::runtime_error(fmt::format("{}: expected comma-separated positive integers, got '{}'", option, text));
    out.push_back(*v);
  }
  return out;
}

// One point of a decode benchmark: sources, source positions, output tokens per source.
struct DecodePoint {
  int64_t batch, source_len, target_len;
};

// --shapes "B:S:T,B:S:T" (e.g. the batches `mqa translate --json` reports), or else --batches x --lengths at
// bench.source_len.
std::vector<DecodePoint> decode_points(const mqa::BenchConfig& b, const std::string& shapes,
                                       const std::string& batches_arg, const std::string& lengths_arg) {
  std::vector<DecodePoint> points;
  if (!shapes.empty()) {
    if (!batches_arg.empty() || !lengths_arg.empty())
      throw std::runtime_error("--shapes: give either --shapes or --batches / --lengths, not both");
    for (const auto& item : mqa::split(shapes, ',')) {
      const auto parts = mqa::split(item, ':');
      if (parts.size() != 3)
        throw std::runtime_error(
            fmt::format("--shapes: expected comma-separated BATCH:SOURCE_LEN:TARGET_LEN, got '{}'", item));
      const auto batch = positive_int(parts[0]), source_len = positive_int(parts[1]);
      const auto target_len = positive_int(parts[2]);
      if (!batch || !source_len || !target_len)
        throw std::runtime_error(fmt::format(
            "--shapes: expected comma-separated BATCH:SOURCE_LEN:TARGET_LEN of positive integers, got '{}'", item));
      points.push_back({*batch, *source_len, *target_len});
    }
    return points;
  }
  for (const int64_t batch : int_list(batches_arg, b.batch_size, "--batches"))
    for (const int64_t target_len : int_list(lengths_arg, b.target_len, "--lengths"))
      points.push_back({batch, b.source_len, target_len});
  return points;
}

void run_decode(const mqa::cli::ConfigArgs& args, const std::string& label, const std::string& modes,
                const std::string& json, const std::string& profile, const std::string& batches_arg,
                const std::string& lengths_arg, const std::string& shapes) {
  using namespace mqa::bench;
  auto s = load(args, label);
  const auto& b = s.config.bench;
  const std::vector<DecodePoint> points = decode_points(b, shapes, batches_arg, lengths_arg);
  for (const auto& mode : mqa::split(modes, ','))
    if (mode != "greedy" && mode != "beam")
      throw std::runtime_error("--modes: expected greedy and/or beam (comma-separated), got '" + mode + "'");
  // A random model: the position table only has to reach the longest source or target of the points.
  int64_t longest = 0;
  for (const DecodePoint& p : points) longest = std::max({longest, p.source_len, p.target_len});
  if (longest > s.config.model.max_positions) {
    std::cout << fmt::format("bench decode: model.max_positions {} -> {} for the lengths asked\n",
                             s.config.model.max_positions, longest);
    s.config.model.max_positions = longest;
  }
  torch::manual_seed(b.seed);
  mqa::Transformer model(s.config.model, s.vocab, 0);
  const int64_t params = count_params(model);
  model->to(s.device, s.precision);
  std::cout << fmt::format("bench decode {}: {} params, {} on {} ({}){}\n", s.label, params,
                           c10::toString(s.precision), s.device.str(), device_name(s.device),
                           shapes.empty() ? fmt::format(", S {}", b.source_len) : "");
  const auto ceilings = measure_ceilings(s.device, s.precision);
  std::cout << fmt::format("  ceilings: copy {:.0f} GB/s (read+write), {} matmul {:.1f} TFLOP/s\n",
                           ceilings.copy_bytes_per_s / 1e9, ceilings.dtype, ceilings.matmul_flops_per_s / 1e12);
  for (const DecodePoint& point : points)
  for (const auto& mode : mqa::split(modes, ',')) {
    const int64_t batch = point.batch, source_len = point.source_len, target_len = point.target_len;
    const auto src =
        torch::randint(4, s.vocab, {batch, source_len}, torch::TensorOptions(s.device).dtype(torch::kLong));
    DecodeBenchOptions o;
    o.target_len = target_len;
    o.beams = mode == "beam" ? b.beam_size : 1;
    o.warmup = b.warmup;
    o.repeats = b.repeats;
    o.check_every = b.check_every;
    o.cuda_graph = b.cuda_graph;
    o.check_graph = b.check_graph;
    if (!profile.empty()) o.profile_trace = profile + "." + mode + ".json";
    auto r = run_decode_bench(model, src, o);
    if (!profile.empty()) std::cout << "  kernel trace of one generation: " << o.profile_trace << "\n";
    if (!r.graph_error.empty())
      std::cout << "  WARNING: CUDA graph capture failed, timed the eager step instead: "
                << r.graph_error.substr(0, 2000) << "\n";

    DecodeShape shape{s.config.model, s.vocab, batch, o.beams, source_len, target_len,
                      static_cast<int64_t>(c10::elementSize(s.precision))};
    auto cost = decode_step_cost(shape);
    auto floor = floor_of(cost.bytes(), cost.flops, ceilings);
    const double out_tokens = static_cast<double>(batch) * target_len;
    const double enc_us = r.encoder_ms.median * 1e3 / out_tokens, dec_us = r.decoder_ms.median * 1e3 / out_tokens;
    const double floor_us_token = floor.seconds() * 1e6 * target_len / out_tokens;
    const double fraction = floor_us_token / dec_us;
    std::cout << fmt::format(
        "  {:<6} beams {}, B {} S {} T {}: encoder {:.3f} us/token, decoder {:.3f} us/token (median of {}, "
        "{:.3f}..{:.3f}); floor {:.3f} us/token ({}: {:.1f} MB, {:.2f} GFLOP per step) = {:.0f}% of measured; {}, "
        "{}{}\n",
        mode, o.beams, batch, source_len, target_len, enc_us, dec_us, r.decoder_ms.n,
        r.decoder_ms.min * 1e3 / out_tokens, r.decoder_ms.max * 1e3 / out_tokens, floor_us_token, floor.bound(),
        cost.bytes() / 1e6, cost.flops / 1e9,
        100 * fraction, r.kernels ? "CUDA kernels" : "LibTorch ops", r.graph ? "CUDA graph" : "eager",
        r.graph_eager_agreement >= 0 ? fmt::format(", tokens equal to eager: {:.4f}", r.graph_eager_agreement) : "");
    std::cout << fmt::format("  | {} | {} | {} | {} | {:.3f} | {:.3f} | {:.3f} | {:.0f}% | {} |\n", s.label, mode,
                             batch, target_len, enc_us, dec_us, floor_us_token, 100 * fraction, floor.bound());
    Json roof;
    roof.num("step_params", cost.step_params)
        .num("weight_bytes", cost.weight_bytes)
        .num("self_kv_read_bytes", cost.self_kv_read_bytes)
        .num("cross_kv_read_bytes", cost.cross_kv_read_bytes)
        .num("cache_write_bytes", cost.cache_write_bytes)
        .num("reorder_bytes", cost.reorder_bytes)
        .num("attended", cost.attended)
        .num("bytes_per_step", cost.bytes())
        .num("flops_per_step", cost.flops)
        .num("floor_bytes_us_per_step", floor.bytes_s * 1e6)
        .num("floor_flops_us_per_step", floor.flops_s * 1e6)
        .num("floor_us_per_step", floor.seconds() * 1e6)
        .num("floor_us_per_token", floor_us_token)
        .str("bound", floor.bound())
        .num("fraction_of_floor", fraction);
    Json j;
    j.str("kind", "decode")
        .str("label", s.label)
        .str("config", args.path)
        .str("mode", mode)
        .num("batch", batch)
        .num("beams", o.beams)
        .num("source_len", source_len)
        .num("target_len", target_len)
        .str("precision", std::string(c10::toString(s.precision)))
        .str("device", device_name(s.device))
        .str("torch", mqa::torch_version())
        .flag("cuda_graph", r.graph)
        .flag("kernels", r.kernels)
        .flag("sweep", !batches_arg.empty() || !lengths_arg.empty())
        .num("check_every", int64_t{b.check_every})
        .num("warmup", int64_t{b.warmup})
        .num("repeats", int64_t{b.repeats})
        .flag("early_stop", false)
        .obj("model", model_json(s, params))
        .stats("encoder_ms", r.encoder_ms)
        .stats("decoder_ms", r.decoder_ms)
        .num("encoder_us_per_token", enc_us)
        .num("decoder_us_per_token", dec_us)
        .num("graph_eager_agreement", r.graph_eager_agreement)
        .str("graph_error", r.graph_error.substr(0, 500))
        .obj("ceilings", ceilings_json(ceilings))
        .obj("roofline", roof);
    append_json(json, j);
  }
}

void run_train(const mqa::cli::ConfigArgs& args, const std::string& label, const std::string& json,
               const std::string& profile, bool attention_kernels) {
  using namespace mqa::bench;
  auto s = load(args, label);
  const auto& b = s.config.bench;
  const int64_t batch = b.train_batch_size > 0 ? b.train_batch_size : b.batch_size;
  torch::manual_seed(b.seed);
  mqa::Transformer model(s.config.model, s.vocab, 0);
  const int64_t params = count_params(model);
  model->to(s.device);  // fp32 master weights; bf16 through autocast on CUDA
  auto longs = torch::TensorOptions(s.device).dtype(torch::kLong);
  auto src = torch::randint(4, s.vocab, {batch, b.source_len}, longs);
  auto tgt_out = torch::randint(4, s.vocab, {batch, b.target_len}, longs);
  auto tgt_in = torch::cat({torch::full({batch, 1}, 2, longs), tgt_out.narrow(1, 0, b.target_len - 1)}, 1);
  const auto ceilings = measure_ceilings(s.device, s.precision);
  TrainBenchOptions o;
  o.warmup = b.warmup;
  o.repeats = b.repeats;
  o.bf16_autocast = s.precision == torch::kBFloat16;
  o.train = s.config.train;
  o.attention_kernels = attention_kernels;
  if (!profile.empty()) o.profile_trace = profile + ".train.json";
  auto r = run_train_bench(model, src, tgt_in, tgt_out, o);
  if (!profile.empty()) std::cout << "kernel trace of one step (after the timed ones): " << o.profile_trace << "\n";
  const auto& t = s.config.train;
  const std::string path = fmt::format(
      "{}, weight_cast {}, loss_chunk {}, fold_query_heads {}, bf16_residual {}, accumulate {}, label_smoothing {}, "
      "clip_norm {}",
      r.optimizer, t.weight_cast, t.loss_chunk, t.fold_query_heads, t.bf16_residual, t.accumulate, t.label_smoothing,
      t.clip_norm);
  std::cout << "  step: " << path << "\n";
  Json kernels;
  if (attention_kernels) {
    std::cout << "  attention calls of one step (what: SDPA backend [route]):\n";
    for (const auto& [what, n] : r.attention_kernels) {
      std::cout << fmt::format("    {} x {}\n", n, what);
      kernels.num(what, n);
    }
  }
  const double tokens = static_cast<double>(batch) * b.target_len;
  const double us_token = r.step_ms.median * 1e3 / tokens;
  const double flops = train_step_flops(s.config.model, s.vocab, batch, b.source_len, b.target_len);
  const double achieved = flops / (r.step_ms.median * 1e-3);  // FLOPs per second
  const double mfu = achieved / ceilings.matmul_flops_per_s;
  const double peak = datasheet_matmul_flops_per_s(device_name(s.device), s.precision);
  const double mfu_peak = peak > 0 ? achieved / peak : 0;
  const std::string of_peak =
      peak > 0 ? fmt::format(", {:.0f}% of the datasheet's {:.0f}", 100 * mfu_peak, peak / 1e12) : std::string();
  std::cout << fmt::format(
      "bench train {}: {} params on {} ({}), {}, B {} S {} T {}: {:.3f} us/target token (step {:.1f} ms, median of "
      "{}, {:.1f}..{:.1f}); {:.1f} TFLOP/step; MFU {:.0f}% of measured {} matmul {:.0f} TFLOP/s{}; loss {:.3f} -> "
      "{:.3f}\n",
      s.label, params, s.device.str(), device_name(s.device), r.autocast ? "bf16 autocast" : "fp32", batch,
      b.source_len, b.target_len, us_token, r.step_ms.median, r.step_ms.n, r.step_ms.min, r.step_ms.max, flops / 1e12,
      100 * mfu, ceilings.dtype, ceilings.matmul_flops_per_s / 1e12, of_peak, r.losses.front(), r.losses.back());
  std::cout << fmt::format("  | {} | train | {} | {:.3f} | MFU {:.0f}% |\n", s.label, batch, us_token, 100 * mfu);
  Json losses;
  for (size_t i = 0; i < r.losses.size(); ++i) losses.num(std::to_string(i), r.losses[i]);
  Json j;
  j.str("kind", "train")
      .str("label", s.label)
      .str("config", args.path)
      .num("batch", batch)
      .num("source_len", int64_t{b.source_len})
      .num("target_len", int64_t{b.target_len})
      .str("precision", r.autocast ? "bf16 autocast, fp32 master weights" : "fp32")
      .str("optimizer", r.optimizer)
      .str("step_path", path)
      .str("weight_cast", t.weight_cast)
      .num("loss_chunk", int64_t{t.loss_chunk})
      .flag("fold_query_heads", t.fold_query_heads)
      .flag("bf16_residual", t.bf16_residual)
      .num("accumulate", int64_t{t.accumulate})
      .str("device", device_name(s.device))
      .str("torch", mqa::torch_version())
      .num("warmup", int64_t{b.warmup})
      .num("repeats", int64_t{b.repeats})
      .obj("model", model_json(s, params))
      .stats("step_ms", r.step_ms)
      .num("us_per_token", us_token)
      .num("flops_per_step", flops)
      .num("mfu", mfu)
      .num("datasheet_matmul_flops_per_s", peak)  // 0: not in roofline.h's table
      .num("mfu_datasheet", mfu_peak)
      .obj("losses", losses)
      .obj("attention_kernels", kernels)
      .obj("ceilings", ceilings_json(ceilings));
  append_json(json, j);
}

}  // namespace

static void setup_bench(CLI::App& app) {
  auto* group = mqa::cli::command_group(app, "bench", "timed decoding and training (the paper's Table 2)");
  {
    auto* cmd = group->add_subcommand(
        "decode", "microseconds per output token of the encoder and of greedy / beam decoding (fixed length, no "
                  "early stop), with the bytes/FLOPs floor of a decode step");
    static mqa::cli::ConfigArgs args;
    static mqa::cli::ComputeArgs compute;
    static std::string label, modes = "greedy,beam", json, profile, batches, lengths, shapes;
    static int beam = 0;
    mqa::cli::add_config_args(cmd, args);
    mqa::cli::add_compute_args(cmd, compute, "bench");
    cmd->add_option("--modes", modes, "greedy, beam or greedy,beam (beam width bench.beam_size)");
    cmd->add_option("--beam", beam, "beam width of the beam mode (sets bench.beam_size)")->check(CLI::Range(1, 1024));
    cmd->add_option("--batches", batches, "sweep: comma-separated batch sizes (default bench.batch_size)");
    cmd->add_option("--lengths", lengths, "sweep: comma-separated target lengths (default bench.target_len)");
    cmd->add_option("--shapes", shapes,
                    "instead of the sweep: comma-separated BATCH:SOURCE_LEN:TARGET_LEN points (e.g. translate's "
                    "batches)");
    cmd->add_option("--label", label, "row name in the outputs (default: the config file's name)");
    cmd->add_option("--json", json, "append one JSON object per result to this file");
    cmd->add_option("--profile", profile,
                    "after timing, profile one generation's kernels (CUDA, LibTorch >= 2) into PREFIX.<mode>.json "
                    "(Chrome trace; summarise with scripts/profile_report.py)");
    cmd->callback([] {
      mqa::cli::ConfigArgs with_flags{args.path, compute.append_overrides(args.overrides, "bench")};
      if (beam > 0) with_flags.overrides.push_back("bench.beam_size=" + std::to_string(beam));
      run_decode(with_flags, label, modes, json, profile, batches, lengths, shapes);
    });
  }
  {
    auto* cmd = group->add_subcommand(
        "train", "microseconds per target token of a training step (forward, backward, Adam) and its MFU");
    static mqa::cli::ConfigArgs args;
    static mqa::cli::ComputeArgs compute;
    static std::string label, json, profile;
    static bool attention_kernels = false;
    mqa::cli::add_config_args(cmd, args);
    mqa::cli::add_compute_args(cmd, compute, "bench");
    cmd->add_option("--label", label, "row name in the outputs (default: the config file's name)");
    cmd->add_option("--json", json, "append one JSON object per result to this file");
    cmd->add_option("--profile", profile,
                    "after timing, profile one step's kernels (CUDA, LibTorch >= 2) into PREFIX.train.json "
                    "(Chrome trace; summarise with scripts/profile_report.py)");
    cmd->add_flag("--attention-kernels", attention_kernels,
                  "after timing, one more step listing each attention call with the SDPA backend that runs it "
                  "(flash, efficient, cudnn, math; plain where the reference path runs)");
    cmd->callback([] {
      run_train({args.path, compute.append_overrides(args.overrides, "bench")}, label, json, profile,
                attention_kernels);
    });
  }
}
MQA_COMMAND(bench_decode_train, setup_bench);
