#include "mqa/decode/translator.h"

#include <fmt/format.h>

#include <chrono>
#include <future>
#include <numeric>
#include <stdexcept>

#include "mqa/decode/beam_search.h"
#include "mqa/decode/engine.h"
#include "mqa/decode/search.h"
#include "mqa/decode/search_common.h"

namespace mqa {

std::optional<std::string> utf8_error(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    size_t len = 0;
    uint32_t cp = 0, min = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return fmt::format("invalid UTF-8 at byte {} (0x{:02x} cannot start a character)", i + 1, c);
    }
    if (i + len > n) return fmt::format("invalid UTF-8 at byte {} (character cut short by the end of the line)", i + 1);
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80)
        return fmt::format("invalid UTF-8 at byte {} (0x{:02x} is not a continuation byte)", i + k + 1, p[i + k]);
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (cp < min) return fmt::format("invalid UTF-8 at byte {} (overlong encoding)", i + 1);
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return fmt::format("invalid UTF-8 at byte {} (U+{:X} is not a character)", i + 1, cp);
    i += len;
  }
  return std::nullopt;
}

TranslateOptions translate_options(const DecodeConfig& config, const Tokenizer& vocab, torch::ScalarType precision) {
  TranslateOptions o;
  o.search = search_options(config);
  o.search.precision = precision;
  o.search.bos_id = vocab.bos_id();
  o.search.eos_id = vocab.eos_id();
  o.batch_tokens = config.batch_tokens;
  o.width_multiple = config.width_multiple;
  o.prepare_shapes = config.prepare_shapes;
  return o;
}

std::vector<Translation> translate_lines(Transformer& model, const Tokenizer& vocab,
                                         const std::vector<std::string>& lines, const TranslateOptions& o,
                                         TranslateStats* stats) {
  if (!model->is_seq2seq()) throw std::invalid_argument("translate: the model is a language model, not seq2seq");
  const int64_t max_positions = model->config().max_positions;
  const torch::Device device = detail::device_of(*model);
  const auto n = static_cast<int64_t>(lines.size());
  std::vector<Translation> out(n);
  std::vector<std::vector<int64_t>> ids(n);
  TranslateStats st;
  st.sentences = n;

  // Check and encode; `todo` = the lines that go to the model.
  std::vector<int64_t> todo;
  for (int64_t i = 0; i < n; ++i) {
    std::string line = lines[i];
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::optional<std::string> error = utf8_error(line);
    if (!error) {
      for (int id : vocab.encode(line)) ids[i].push_back(id);
      if (static_cast<int64_t>(ids[i].size()) > max_positions)
        error = fmt::format("{} source tokens, more than model.max_positions ({})", ids[i].size(), max_positions);
    }
    if (error) {
      const std::string where = fmt::format("{}:{}", o.input_name, i + 1);
      if (o.strict) throw std::runtime_error(fmt::format("{}: {}", where, *error));
      out[i].skipped = true;
      out[i].error = *error;
      ++st.skipped;
      if (o.log) *o.log << fmt::format("translate: warning: {}: {}; skipped (empty output line)\n", where, *error);
      continue;
    }
    if (!ids[i].empty()) todo.push_back(i);
  }

  // Shortest first (ties in input order), cut into batches of rows x width <= batch_tokens, the width being the
  // longest source rounded up to a multiple of width_multiple. Where the engine replays CUDA graphs, every batch of
  // one width gets the same number of rows (the last one padded with copies of its last sentence), so that they share
  // buffers and one captured graph.
  std::stable_sort(todo.begin(), todo.end(), [&](int64_t a, int64_t b) { return ids[a].size() < ids[b].size(); });
  DecodeEngine engine(model, engine_options(o.search.precision));
  std::unique_ptr<Search> search = make_search(engine, o.search);
  const bool fixed_shapes = engine.kernel_path() && engine.options().cuda_graphs;
  const int64_t multiple = o.width_multiple;
  auto width_of = [&](size_t i) {
    return (static_cast<int64_t>(ids[todo[i]].size()) + multiple - 1) / multiple * multiple;
  };
  // The batches, planned before any runs: [first, end) of `todo`, the source width and the rows searched.
  struct Planned {
    size_t first, end;
    int64_t width, rows;
  };
  std::vector<Planned> plan;
  for (size_t first = 0; first < todo.size();) {
    size_t end = first + 1;
    while (end < todo.size() && static_cast<int64_t>(end - first + 1) * width_of(end) <= o.batch_tokens) ++end;
    const int64_t S = width_of(end - 1);
    const auto B = static_cast<int64_t>(end - first);
    plan.push_back({first, end, S, fixed_shapes ? std::max<int64_t>(B, o.batch_tokens / S) : B});
    first = end;
  }
  // [rows, S] on the host: the batch's sources, then copies of its last one up to `rows`.
  auto source_tensor = [&](const Planned& p) {
    torch::Tensor src = torch::full({p.rows, p.width}, model->pad_id(), torch::TensorOptions().dtype(torch::kLong));
    const auto B = static_cast<int64_t>(p.end - p.first);
    for (int64_t r = 0; r < p.rows; ++r) {
      const auto& row = ids[todo[p.first + std::min(r, B - 1)]];
      std::copy(row.begin(), row.end(), src[r].data_ptr<int64_t>());
    }
    return src;
  };
  // Start-up (o.prepare_shapes, CUDA graphs): every batch shape's buffers allocated and its step captured before the
  // first batch, together with the process's first CUDA work (context, libraries, kernel loading), so that the
  // translating time holds decoding only, as bench's timed repeats do; its seconds are reported apart.
  const auto startup = std::chrono::steady_clock::now();
  if (fixed_shapes && o.prepare_shapes && !plan.empty()) {
    std::vector<const Planned*> shapes;  // the first batch of each width (a width fixes rows and steps)
    for (const Planned& p : plan)
      if (shapes.empty() || shapes.back()->width != p.width) shapes.push_back(&p);
    search->keep_shapes(shapes.size());
    for (const Planned* p : shapes) search->warm_up(source_tensor(*p).to(device));
    st.startup_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - startup).count();
    if (o.log && n > 100)
      *o.log << fmt::format("translate: start-up {:.2f} s: {} batch shapes prepared (buffers, CUDA graphs)\n",
                            st.startup_seconds, shapes.size());
  }
  const auto start = std::chrono::steady_clock::now();
  auto last_report = start;
  int64_t done = 0, batches = 0, rows_decoded = 0;
  std::future<void> detokenising;  // the previous batch's texts
  for (const Planned& p : plan) {
    const auto batch_start = std::chrono::steady_clock::now();
    const size_t first = p.first, end = p.end;
    const int64_t S = p.width, rows = p.rows;
    const auto B = static_cast<int64_t>(end - first);
    torch::Tensor src = source_tensor(p);
    for (size_t i = first; i < end; ++i) st.source_tokens += static_cast<int64_t>(ids[todo[i]].size());
    SearchTimings timings;
    std::vector<NBest> result = search->search(src.to(device), &timings);
    ++batches;
    rows_decoded += rows;
    TranslateBatch shape;
    shape.sources = B, shape.rows = rows, shape.width = S, shape.steps = timings.steps;
    shape.encode_ms = timings.encode_ms, shape.decode_ms = timings.decode_ms, shape.graph = timings.graph;
    for (int64_t r = 0; r < B; ++r) {
      Translation& t = out[todo[first + r]];
      t.hypotheses = std::move(result[r]);
      if (!t.hypotheses.empty()) shape.output_tokens += static_cast<int64_t>(t.hypotheses[0].tokens.size()) + 1;
    }
    // Detokenising runs on a worker while the next batch is searched (the GPU would idle meanwhile); one batch at a
    // time, each writing only its own sentences' texts.
    if (detokenising.valid()) detokenising.get();
    detokenising = std::async(std::launch::async, [&out, &vocab, lines_of_batch = std::vector<int64_t>(
                                                       todo.begin() + first, todo.begin() + end)] {
      for (int64_t i : lines_of_batch)
        for (const Hypothesis& h : out[i].hypotheses)
          out[i].texts.push_back(vocab.decode(std::vector<int>(h.tokens.begin(), h.tokens.end())));
    });
    st.output_tokens += shape.output_tokens;
    done += B;
    const auto now = std::chrono::steady_clock::now();
    shape.seconds = std::chrono::duration<double>(now - batch_start).count();
    st.batches.push_back(shape);
    if (o.log && n > 100 &&
        (std::chrono::duration<double>(now - last_report).count() >= o.progress_seconds || end == todo.size())) {
      const double secs = std::chrono::duration<double>(now - start).count();
      *o.log << fmt::format("translate: {}/{} sentences, {:.1f} sentences/s, {:.0f} output tokens/s\n", done,
                            todo.size(), done / std::max(secs, 1e-9), st.output_tokens / std::max(secs, 1e-9));
      last_report = now;
    }
  }
  if (detokenising.valid()) detokenising.get();
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (o.log && !todo.empty())
    *o.log << fmt::format("translate: {} sentences in {:.1f} s: {:.1f} sentences/s, {:.0f} output tokens/s, {:.0f} "
                          "source tokens/s; {} batches of {:.0f} rows on average ({} padding rows), beam {}, {}\n",
                          todo.size(), st.seconds, todo.size() / std::max(st.seconds, 1e-9),
                          st.output_tokens / std::max(st.seconds, 1e-9), st.source_tokens / std::max(st.seconds, 1e-9),
                          batches, static_cast<double>(rows_decoded) / batches,
                          rows_decoded - static_cast<int64_t>(todo.size()), o.search.beam_size,
                          engine.kernel_path() ? "CUDA kernels" : "LibTorch ops");
  if (stats) *stats = st;
  return out;
}

}  // namespace mqa
