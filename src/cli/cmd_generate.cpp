// `mqa generate CKPT --prompt TEXT | --prompt-file FILE`: continues prompts with a language-model checkpoint and
// streams the text: each prompt (as the vocabulary reads it back), then its continuation token by token as the
// tokens are chosen (flushed every token), one line per prompt. Prompts of a file are generated one after another
// (line i with seed --seed + i), so the output streams in input order.
//
// Sampling: decode.temperature / top_k / top_p of the checkpoint's config (or --set decode.key=value), overridden by
// --temperature / --top-k / --top-p; temperature 0 or top-k 1 is greedy (the most likely token at every step,
// mqa::lm_greedy). A continuation ends at eos, after --max-tokens tokens, or at the model's max_positions.
#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <iostream>

#include "cli/checkpoint_args.h"
#include "mqa/config/config.h"
#include "mqa/decode/greedy_search.h"
#include "mqa/decode/sampling.h"
#include "mqa/train/autocast.h"
#include "mqa/train/checkpoint.h"

namespace {

struct GenerateArgs {
  mqa::cli::CheckpointArgs run;
  std::string prompt, prompt_file, output;
  double temperature = 1.0, top_p = 1.0;
  int64_t top_k = 0, max_tokens = 100;
  uint64_t seed = 1;
  bool no_prompt = false, quiet = false;
  // Which of these were given (sampling settings left out come from the checkpoint's decode section).
  CLI::Option *prompt_opt = nullptr, *temperature_opt = nullptr, *top_k_opt = nullptr, *top_p_opt = nullptr;
};

// (where, text) of every prompt: --prompt, or the lines of --prompt-file ("-": stdin).
std::vector<std::pair<std::string, std::string>> read_prompts(const GenerateArgs& a) {
  const bool has_prompt = a.prompt_opt->count() > 0;  // an empty --prompt "" continues from nothing
  if (!has_prompt && a.prompt_file.empty())
    throw std::runtime_error("generate: give the text to continue: --prompt TEXT or --prompt-file FILE");
  if (has_prompt && !a.prompt_file.empty())
    throw std::runtime_error("generate: give --prompt or --prompt-file, not both");
  if (a.prompt_file.empty()) return {{"--prompt", a.prompt}};
  std::ifstream file;
  if (a.prompt_file != "-") {
    file.open(a.prompt_file, std::ios::binary);
    if (!file) throw std::runtime_error(fmt::format("{}: cannot read the prompts", a.prompt_file));
  }
  std::istream& in = a.prompt_file == "-" ? std::cin : file;
  const std::string name = a.prompt_file == "-" ? "<stdin>" : a.prompt_file;
  std::vector<std::pair<std::string, std::string>> prompts;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    prompts.emplace_back(fmt::format("{}:{}", name, prompts.size() + 1), line);
  }
  if (prompts.empty()) throw std::runtime_error(fmt::format("{}: no prompts (one a line)", name));
  return prompts;
}

// Writes the text of a growing token sequence as it grows: each token adds what decoding the whole sequence adds to
// the text so far (decoding the whole sequence, not piece by piece, keeps SentencePiece's spacing).
class TextStream {
 public:
  TextStream(const mqa::Tokenizer& vocab, std::ostream& out) : vocab_(vocab), out_(out) {}
  // A new sequence that starts with `ids` (the prompt), whose text is printed when `print`.
  void start(const std::vector<int>& ids, bool print) {
    ids_ = ids;
    text_ = vocab_.decode(ids_);
    if (print) out_ << text_ << std::flush;
  }
  void add(int id) {
    ids_.push_back(id);
    std::string text = vocab_.decode(ids_);
    // Decoding a longer sequence appends to the text, except where SentencePiece joins pieces differently; then what
    // is on the screen stays and only the part after the common prefix is written.
    size_t common = 0;
    while (common < text_.size() && common < text.size() && text_[common] == text[common]) ++common;
    out_ << text.substr(common) << std::flush;
    text_ = std::move(text);
  }

 private:
  const mqa::Tokenizer& vocab_;
  std::ostream& out_;
  std::vector<int> ids_;
  std::string text_;  // the text of ids_
};

void run_generate(const GenerateArgs& a) {
  const auto prompts = read_prompts(a);
  mqa::cli::OpenedCheckpoint opened = mqa::cli::open_checkpoint(a.run, {"decode"});
  mqa::ModelBundle& bundle = opened.bundle;
  if (bundle.model->is_seq2seq())
    throw std::runtime_error(fmt::format("{}: a translation model (model.type = seq2seq); generate needs a language "
                                         "model (use mqa translate)",
                                         a.run.checkpoint));
  mqa::GenerateOptions options = mqa::generate_options(opened.config.decode);
  if (a.temperature_opt->count()) options.temperature = a.temperature;
  if (a.top_k_opt->count()) options.top_k = a.top_k;
  if (a.top_p_opt->count()) options.top_p = a.top_p;
  options.max_new_tokens = a.max_tokens;
  options.bos_id = bundle.vocab->bos_id();
  options.eos_id = bundle.vocab->eos_id();
  options.start_id = options.eos_id;  // an lm stream reads as if it began with eos (sampling.h)
  options.precision = opened.precision;  // the decoder's weights and caches
  const bool greedy = options.temperature == 0 || options.top_k == 1;

  std::ofstream file;
  if (!a.output.empty()) {
    file.open(a.output, std::ios::binary);
    if (!file) throw std::runtime_error(fmt::format("{}: cannot write the output", a.output));
  }
  std::ostream& out = a.output.empty() ? std::cout : file;
  TextStream stream(*bundle.vocab, out);
  options.on_token = [&stream](int64_t, int64_t token) { stream.add(static_cast<int>(token)); };

  const int64_t max_positions = bundle.model->config().max_positions;
  int64_t generated = 0;
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < prompts.size(); ++i) {
    const auto& [where, text] = prompts[i];
    const std::vector<int> ids = bundle.vocab->encode(text);
    if (static_cast<int64_t>(ids.size()) + 1 > max_positions)
      throw std::runtime_error(fmt::format("{}: the prompt has {} tokens; the model reads at most {} "
                                           "(model.max_positions {}, one of them the leading eos)",
                                           where, ids.size(), max_positions - 1, max_positions));
    stream.start(ids, !a.no_prompt);
    options.seed = a.seed + i;
    const std::vector<std::vector<int64_t>> batch = {std::vector<int64_t>(ids.begin(), ids.end())};
    auto result = greedy ? mqa::lm_greedy(bundle.model, batch, options) : mqa::sample(bundle.model, batch, options);
    generated += static_cast<int64_t>(result[0].tokens.size());
    out << '\n' << std::flush;
  }
  if (!out) throw std::runtime_error("generate: cannot write the output");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!a.quiet)
    std::cerr << fmt::format("generate: {} prompt(s), {} tokens in {:.2f} s ({:.0f} tokens/s), {} on {} ({})\n",
                             prompts.size(), generated, seconds, generated / std::max(seconds, 1e-9),
                             greedy ? std::string("greedy")
                                    : fmt::format("temperature {} top-k {} top-p {}", options.temperature,
                                                  options.top_k, options.top_p),
                             opened.device.str(), c10::toString(opened.precision));
}

void setup_generate(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  auto* cmd = app.add_subcommand("generate", "continue prompts with a language-model checkpoint (streaming text)");
  mqa::cli::add_checkpoint_args(cmd, args->run, {"decode"});
  args->prompt_opt = cmd->add_option("--prompt", args->prompt, "the text to continue (\"\" = from nothing)");
  cmd->add_option("--prompt-file", args->prompt_file, "prompts, one a line (- = stdin); each continued in turn");
  cmd->add_option("-o,--output", args->output, "output file (default: stdout)");
  args->temperature_opt = cmd->add_option("--temperature", args->temperature,
                                          "sampling temperature; 0 = greedy (default: decode.temperature)")
                              ->check(CLI::Range(0.0, 1e6));
  args->top_k_opt = cmd->add_option("--top-k", args->top_k,
                                    "keep the k most likely tokens; 0 = all, 1 = greedy (default: decode.top_k)")
                        ->check(CLI::NonNegativeNumber);
  args->top_p_opt =
      cmd->add_option("--top-p", args->top_p, "nucleus: keep the most likely tokens up to this mass; 1 = all "
                                              "(default: decode.top_p)")
          ->check(CLI::Range(1e-6, 1.0));
  cmd->add_option("--max-tokens", args->max_tokens, "new tokens per prompt at most")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "sampling seed (prompt i of a file uses seed + i)")->capture_default_str();
  cmd->add_flag("--no-prompt", args->no_prompt, "print only the continuations, not the prompts");
  cmd->add_flag("--quiet,-q", args->quiet, "no summary on stderr");
  cmd->callback([args] { run_generate(*args); });
}

}  // namespace

MQA_COMMAND(generate, setup_generate);
