// Evaluation and the decoding commands end to end (issue 5), on tiny corpora prepared here from the built-in
// synthetic languages and an untrained model saved as a checkpoint:
//   - perplexity over a split (batched full forward) equals the per-example sum, and for lm every token of the
//     stream after its leading eos is predicted exactly once, so per-word perplexity divides the same total;
//   - `mqa translate` skips a line of invalid UTF-8 with a warning naming it (empty output line), or fails with
//     --strict; n-best lines have the `i ||| text ||| score` form;
//   - `mqa eval` writes its JSON with perplexity and BLEU for beam 1 and beam k, and its perplexity of the valid
//     split is the one training's validation logged for the checkpoint (same scorer, same precision);
//   - `mqa generate` prints the prompt and its continuation, greedy (temperature 0 or top-k 1) equal to lm_greedy,
//     sampled reproducible by seed; it refuses a seq2seq checkpoint.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <sys/wait.h>

#include "mqa/config/config.h"
#include "mqa/data/dataset.h"
#include "mqa/data/position_fit.h"
#include "mqa/data/prepare.h"
#include "mqa/data/synth.h"
#include "mqa/data/tokenizer.h"
#include "mqa/decode/greedy_search.h"
#include "mqa/eval/perplexity.h"
#include "mqa/train/checkpoint.h"
#include "mqa/train/trainer.h"
#include "test_util.h"
#include "tiny_train_config.h"

namespace {

// A prepared tiny corpus of `kind` ("translation" | "lm") and a checkpoint of an untrained model over it.
struct Prepared {
  mqa::test::TempDir dir;
  mqa::Config config;
  std::string checkpoint;
  mqa::Transformer model{nullptr};

  explicit Prepared(const std::string& kind) {
    const std::string type = kind == "lm" ? "lm" : "seq2seq";
    config = mqa::default_config({"model.type=" + type, "data.dir=" + dir.path("data"), "data.vocab_size=150",
                                  "model.encoder_layers=1", "model.decoder_layers=1", "model.d_model=32",
                                  "model.heads=4", "model.kv_heads=1", "model.d_k=8", "model.d_v=8", "model.d_ff=64",
                                  "model.dropout=0", "model.max_positions=128", "data.seq_len=16", "data.max_len=100",
                                  "decode.max_len_a=1.0", "decode.max_len_b=4"})
                 .config;
    mqa::SynthOptions synth;
    synth.kind = kind;
    synth.train_sentences = 300;
    synth.eval_sentences = 12;
    mqa::generate_synth_corpus(synth, dir.path("raw"));
    mqa::synth_raw_keys(kind, dir.path("raw"), config.data);
    std::ostringstream log;
    mqa::prepare_data(config.data, type, log);
    mqa::Tokenizer vocab(mqa::vocab_path(config.data));
    torch::manual_seed(9);
    model = mqa::build_model(config, vocab.vocab_size(), vocab.pad_id());
    model->eval();
    checkpoint = dir.path("model.pt");
    mqa::save_checkpoint(checkpoint, mqa::config_to_yaml(config), *model, vocab.vocab_size(), vocab.pad_id(), nullptr,
                         nullptr, "average");
  }
};

using RunResult = mqa::test::CommandResult;

// `mqa ARGS`, stdout and stderr apart.
RunResult run_mqa(const std::string& args) {
  return mqa::test::run_command(mqa::test::mqa_executable() + " " + args, /*merge_stderr=*/false);
}

// The first n lines of a file.
std::vector<std::string> first_lines(const std::string& path, size_t n) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; lines.size() < n && std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// Summed NLL of the dataset, one example at a time through the full forward pass.
double nll_example_by_example(mqa::Transformer& model, const mqa::Dataset& data, int64_t* tokens) {
  torch::NoGradGuard no_grad;
  double nll = 0;
  *tokens = 0;
  auto as_tensor = [](const std::vector<int32_t>& v) {
    return torch::tensor(std::vector<int64_t>(v.begin(), v.end()), torch::kLong).unsqueeze(0);  // [1, n]
  };
  for (int64_t i = 0; i < data.size(); ++i) {
    torch::Tensor src, in, out;
    if (data.is_lm()) {
      auto x = as_tensor(data.target(i));
      in = x.narrow(1, 0, x.size(1) - 1);
      out = x.narrow(1, 1, x.size(1) - 1);
    } else {
      src = as_tensor(data.source(i));
      auto y = as_tensor(data.target(i));
      in = torch::cat({torch::full({1, 1}, data.bos_id, torch::kLong), y}, 1);
      out = torch::cat({y, torch::full({1, 1}, data.eos_id, torch::kLong)}, 1);
    }
    auto lp = torch::log_softmax(model->forward(src, in).to(torch::kDouble), -1);
    nll -= lp.gather(2, out.unsqueeze(2)).sum().item<double>();
    *tokens += out.size(1);
  }
  return nll;
}

}  // namespace

TEST(DecodeEval, Seq2SeqPerplexityEqualsExampleByExampleForward) {
  Prepared p("translation");
  auto data = mqa::Dataset::open(p.config.data, "seq2seq", "valid");
  ASSERT_EQ(data->size(), 12);
  // A small budget: several batches with padding.
  auto r = mqa::perplexity(p.model, data, 60, torch::kFloat32);
  int64_t tokens = 0;
  const double nll = nll_example_by_example(p.model, *data, &tokens);
  EXPECT_EQ(r.tokens, tokens);
  EXPECT_EQ(r.sequences, 12);
  EXPECT_NEAR(r.nll, nll, 1e-5 * nll + 1e-4);
  EXPECT_NEAR(r.ln_ppl, nll / tokens, 1e-5);
  EXPECT_NEAR(r.ppl, std::exp(nll / tokens), 1e-4 * r.ppl);
}

// Issue 15: a split prepared before every split was length-filtered holds targets the model cannot take
// (target + bos > model.max_positions); `mqa eval` aborted in the embedding. They are left out and counted.
TEST(DecodeEval, PerplexityLeavesOutPairsTheModelCannotTakeAndCountsThem) {
  Prepared p("translation");
  auto data = mqa::Dataset::open(p.config.data, "seq2seq", "valid");
  mqa::Config c = p.config;
  c.model.max_positions = static_cast<int>(mqa::check_position_fit(*data, 1 << 20).longest_target);
  int64_t expected_skipped = 0, fitting_tokens = 0;
  for (int64_t i = 0; i < data->size(); ++i) {
    if (data->target_length(i) + 1 > c.model.max_positions || data->source_length(i) > c.model.max_positions)
      ++expected_skipped;
    else
      fitting_tokens += data->target_length(i) + 1;  // y1 .. yn and eos are predicted
  }
  ASSERT_GT(expected_skipped, 0);
  ASSERT_LT(expected_skipped, data->size());
  mqa::Tokenizer vocab(mqa::vocab_path(c.data));
  torch::manual_seed(9);
  mqa::Transformer short_model = mqa::build_model(c, vocab.vocab_size(), vocab.pad_id());
  auto r = mqa::perplexity(short_model, data, 60, torch::kFloat32);
  EXPECT_EQ(r.skipped_too_long, expected_skipped);
  EXPECT_EQ(r.sequences, data->size() - expected_skipped);
  EXPECT_EQ(r.tokens, fitting_tokens);
  EXPECT_TRUE(std::isfinite(r.ln_ppl));
}

TEST(DecodeEval, LanguageModelPerplexityCoversTheStreamOnceAndPerWordUsesWordsPlusLines) {
  Prepared p("lm");
  auto data = mqa::Dataset::open(p.config.data, "lm", "valid");
  auto r = mqa::perplexity(p.model, data, 64, torch::kFloat32);
  int64_t tokens = 0;
  const double nll = nll_example_by_example(p.model, *data, &tokens);
  EXPECT_NEAR(r.nll, nll, 1e-5 * nll + 1e-4);
  // Every token of the valid stream (each sentence's pieces and its eos) is predicted exactly once.
  mqa::Tokenizer vocab(mqa::vocab_path(p.config.data));
  const std::string raw = p.config.data.dir + "/valid.txt";
  std::ifstream in(raw);
  std::string line;
  int64_t stream = 0, words_and_lines = 0;
  while (std::getline(in, line)) {
    stream += static_cast<int64_t>(vocab.encode(line).size()) + 1;
    std::istringstream ws(line);
    std::string w;
    while (ws >> w) ++words_and_lines;
    ++words_and_lines;
  }
  EXPECT_EQ(r.tokens, stream);
  EXPECT_EQ(tokens, stream);
  mqa::add_word_perplexity(r, raw);
  EXPECT_EQ(r.words, words_and_lines);
  EXPECT_NEAR(r.word_ppl, std::exp(r.nll / words_and_lines), 1e-6 * r.word_ppl);
  EXPECT_THROW(mqa::add_word_perplexity(r, p.dir.path("missing.txt")), std::runtime_error);
}

// `mqa eval --text FILE` (lm): per-word perplexity of any raw text, e.g. WikiText-103 test. Checked by hand: the
// stream [eos] line1 eos line2 eos ... cut into the packed examples of data.seq_len + 1 tokens, each scored by a
// forward pass here, and the word count of --word-count-from (the tokenized original of a detokenized text).
TEST(DecodeEval, EvalTextGivesPerWordPerplexityOverTheWordsOfTheOriginal) {
  Prepared p("lm");
  const auto first = first_lines(p.config.data.dir + "/valid.txt", 2);
  ASSERT_EQ(first.size(), 2u);
  const std::string l1 = first[0], l2 = first[1];
  const std::string text = p.dir.write("detok.txt", l1 + "\n\n" + l2 + "\n");
  // The "original": the same three lines with every word split in two (twice the words, as tokenization adds).
  auto split_words = [](const std::string& line) {
    std::istringstream in(line);
    std::string out;
    for (std::string w; in >> w;) out += (out.empty() ? "" : " ") + w + " @";
    return out;
  };
  const std::string original = p.dir.write("tokens.txt", split_words(l1) + "\n \n" + split_words(l2) + "\n");
  int64_t words = 0;
  for (const auto& l : {l1, l2}) {
    std::istringstream in(l);
    for (std::string w; in >> w;) words += 2;
  }
  const int64_t divisor = words + 3;  // + one end of line each, the empty line's too

  mqa::Tokenizer vocab(mqa::vocab_path(p.config.data));
  std::vector<int64_t> stream = {vocab.eos_id()};
  for (const auto& l : {l1, std::string(), l2}) {
    for (int id : vocab.encode(l)) stream.push_back(id);
    stream.push_back(vocab.eos_id());
  }
  const int64_t L = p.config.data.seq_len;
  double nll = 0;
  {
    torch::NoGradGuard no_grad;
    for (size_t start = 0; start + 1 < stream.size(); start += L) {
      const size_t end = std::min(stream.size(), start + L + 1);
      auto x = torch::tensor(std::vector<int64_t>(stream.begin() + start, stream.begin() + end)).unsqueeze(0);
      auto lp = torch::log_softmax(p.model->forward({}, x.narrow(1, 0, x.size(1) - 1)).to(torch::kDouble), -1);
      nll -= lp.gather(2, x.narrow(1, 1, x.size(1) - 1).unsqueeze(2)).sum().item<double>();
    }
  }
  RunResult r =
      run_mqa("eval '" + p.checkpoint + "' --device cpu --text '" + text + "' --word-count-from '" + original + "'");
  ASSERT_EQ(r.status, 0) << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"("tokens": ([0-9]+))"))) << r.out;
  EXPECT_EQ(std::stoll(m[1]), static_cast<int64_t>(stream.size()) - 1);
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"("words": ([0-9]+))"))) << r.out;
  EXPECT_EQ(std::stoll(m[1]), divisor);
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"("word_ppl": ([0-9.eE+-]+))"))) << r.out;
  EXPECT_NEAR(std::stod(m[1]), std::exp(nll / divisor), 1e-5 * std::exp(nll / divisor));

  // The word count must come from the same lines.
  const std::string two_lines = p.dir.write("two.txt", l1 + "\n" + l2 + "\n");
  r = run_mqa("eval '" + p.checkpoint + "' --text '" + text + "' --word-count-from '" + two_lines + "'");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("2 lines, but " + text + " has 3"), std::string::npos) << r.err;
}

TEST(DecodeEval, TranslateCommandSkipsInvalidUtf8LineOrFailsWithStrict) {
  Prepared p("translation");
  const auto first = first_lines(p.config.data.dir + "/valid.src.txt", 2);
  ASSERT_EQ(first.size(), 2u);
  const std::string s1 = first[0], s2 = first[1];
  const std::string input = p.dir.write("in.txt", s1 + "\n" + "broken \xC3\x28 text\n" + s2 + "\n");

  const std::string json_path = p.dir.path("translate.json");
  RunResult r = run_mqa("translate '" + p.checkpoint + "' --input '" + input + "' --beam 2 --json '" + json_path + "'");
  ASSERT_EQ(r.status, 0) << r.err;
  auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 3u) << r.out;
  EXPECT_EQ(out[1], "");
  EXPECT_NE(r.err.find("in.txt:2: invalid UTF-8 at byte 9"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("skipped"), std::string::npos) << r.err;
  // --json: the summary, and batches whose sentences and output tokens add up to it.
  std::ifstream f(json_path);
  const std::string json((std::istreambuf_iterator<char>(f)), {});
  std::smatch m;
  auto field = [&](const std::string& text, const std::string& key) {
    EXPECT_TRUE(std::regex_search(text, m, std::regex("\"" + key + "\": ([0-9.]+)"))) << key << " in " << text;
    return std::stod(m[1]);
  };
  EXPECT_EQ(field(json, "sentences"), 3);
  EXPECT_EQ(field(json, "skipped"), 1);
  EXPECT_EQ(field(json, "beam"), 2);
  EXPECT_GT(field(json, "memory_bytes"), 1e6) << "the process's resident set on CPU";
  EXPECT_NE(json.find("\"memory\": \"cpu_rss\""), std::string::npos) << json;
  EXPECT_NE(r.err.find(" MiB (cpu_rss)"), std::string::npos) << r.err;
  double sources = 0, tokens = 0;
  const std::regex batch(R"(\{"sources": [^}]*\})");
  int batches = 0;
  for (auto it = std::sregex_iterator(json.begin(), json.end(), batch); it != std::sregex_iterator(); ++it, ++batches) {
    const std::string b = it->str();
    sources += field(b, "sources");
    tokens += field(b, "output_tokens");
    EXPECT_GE(field(b, "rows"), field(b, "sources")) << b;
    EXPECT_GE(field(b, "steps"), 1) << b;
    EXPECT_EQ(static_cast<int64_t>(field(b, "width")) % 8, 0) << b;
  }
  EXPECT_GE(batches, 1) << json;
  EXPECT_EQ(sources, 2) << json;
  EXPECT_EQ(tokens, field(json, "output_tokens")) << json;
  EXPECT_GT(tokens, 0) << json;
  // decode.width_multiple: the widths follow it, and padding changes no translation.
  const std::string wide_path = p.dir.path("wide.json");
  RunResult wide = run_mqa("translate '" + p.checkpoint + "' --input '" + input + "' --beam 2 --quiet --json '" +
                           wide_path + "' --set decode.width_multiple=24");
  ASSERT_EQ(wide.status, 0) << wide.err;
  EXPECT_EQ(wide.out, r.out);
  std::ifstream wf(wide_path);
  const std::string wide_json((std::istreambuf_iterator<char>(wf)), {});
  int wide_batches = 0;
  for (auto it = std::sregex_iterator(wide_json.begin(), wide_json.end(), batch); it != std::sregex_iterator();
       ++it, ++wide_batches)
    EXPECT_EQ(static_cast<int64_t>(field(it->str(), "width")) % 24, 0) << it->str();
  EXPECT_GE(wide_batches, 1) << wide_json;

  // The same sentences on stdin, n-best.
  r = run_mqa("translate '" + p.checkpoint + "' --beam 3 --nbest 3 --quiet < '" + input + "'");
  ASSERT_EQ(r.status, 0) << r.err;
  auto nbest = lines_of(r.out);
  ASSERT_EQ(nbest.size(), 6u) << r.out;  // 3 for each good line, none for the skipped one
  const std::regex form(R"((0|2) \|\|\| .* \|\|\| -?[0-9]+\.[0-9]{6})");
  for (const auto& l : nbest) EXPECT_TRUE(std::regex_match(l, form)) << l;
  EXPECT_EQ(r.err, "");

  r = run_mqa("translate '" + p.checkpoint + "' --input '" + input + "' --strict");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("in.txt:2: invalid UTF-8 at byte 9"), std::string::npos) << r.err;

  r = run_mqa("translate '" + p.checkpoint + "' --input '" + input + "' --set model.heads=2");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("only keys of the sections decode"), std::string::npos) << r.err;
}

TEST(DecodeEval, EvalCommandWritesPerplexityAndBleuForBeamOneAndBeamK) {
  Prepared p("translation");
  const std::string json_path = p.dir.path("eval.json");
  RunResult r = run_mqa("eval '" + p.checkpoint + "' --device cpu --split test --set decode.beam_size=3 --json '" +
                        json_path + "'");
  ASSERT_EQ(r.status, 0) << r.err;
  std::ifstream f(json_path);
  std::string json((std::istreambuf_iterator<char>(f)), {});
  EXPECT_EQ(json, r.out);
  for (const char* key : {"\"ln_ppl\": ", "\"ppl\": ", "\"beam\": 1,", "\"beam\": 3,", "\"bleu\": ",
                          "\"bleu_signature\": \"nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:mqa-",
                          "\"output_tokens_per_s\": "})
    EXPECT_NE(json.find(key), std::string::npos) << key << " not in\n" << json;
  // The perplexity is the library's over the same split.
  auto data = mqa::Dataset::open(p.config.data, "seq2seq", "test");
  auto ppl = mqa::perplexity(p.model, data, p.config.data.batch_tokens, torch::kFloat32);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(json, m, std::regex(R"("ln_ppl": ([0-9.eE+-]+))")));
  EXPECT_NEAR(std::stod(m[1]), ppl.ln_ppl, 1e-6);
  // The paper's WMT scores are sacreBLEU with the international tokenization.
  r = run_mqa("eval '" + p.checkpoint + "' --device cpu --split test --bleu-sentences 4 --bleu-tokenize intl --quiet");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("|tok:intl|"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("tok:13a"), std::string::npos) << r.out;
}

TEST(DecodeEval, GenerateCommandContinuesPromptsGreedilyOrBySeed) {
  Prepared p("lm");
  mqa::Tokenizer vocab(mqa::vocab_path(p.config.data));
  std::ifstream valid(p.config.data.dir + "/valid.txt");
  std::string prompt, second;
  std::getline(valid, prompt);
  std::getline(valid, second);
  prompt = prompt.substr(0, prompt.find(' ', prompt.find(' ') + 1));  // its first two words
  const std::vector<int> ids = vocab.encode(prompt);
  mqa::GenerateOptions o;
  o.max_new_tokens = 8;
  auto greedy = mqa::lm_greedy(p.model, {std::vector<int64_t>(ids.begin(), ids.end())}, o);
  std::vector<int> all = ids;
  all.insert(all.end(), greedy[0].tokens.begin(), greedy[0].tokens.end());
  const std::string expected = vocab.decode(all) + "\n";

  const std::string base = "generate '" + p.checkpoint + "' --prompt '" + prompt + "' --max-tokens 8 -q";
  RunResult r = run_mqa(base + " --temperature 0");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, expected);
  r = run_mqa(base + " --top-k 1 --temperature 2");
  EXPECT_EQ(r.out, expected);
  r = run_mqa(base + " --temperature 0 --no-prompt");
  EXPECT_EQ(r.out, expected.substr(vocab.decode(ids).size()));
  EXPECT_EQ(r.err, "");

  // Sampled: the same seed gives the same text; prompts of a file each get a line.
  const std::string file = p.dir.write("prompts.txt", prompt + "\n" + second + "\n");
  const std::string sampled = "generate '" + p.checkpoint + "' --prompt-file '" + file + "' --max-tokens 6 -q";
  RunResult a = run_mqa(sampled + " --temperature 1.5 --seed 7");
  RunResult b = run_mqa(sampled + " --temperature 1.5 --seed 7");
  ASSERT_EQ(a.status, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(lines_of(a.out).size(), 2u) << a.out;

  r = run_mqa("generate '" + p.checkpoint + "'");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--prompt TEXT or --prompt-file FILE"), std::string::npos) << r.err;
  Prepared t("translation");
  r = run_mqa("generate '" + t.checkpoint + "' --prompt x");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("generate needs a language model"), std::string::npos) << r.err;
}

// `mqa eval` scores with the run's own precision (the checkpoint's train.precision: here bf16 autocast, on CPU) and
// the scorer training's validation used (eval/perplexity.h, the same batches), so its ln_ppl of the valid split is
// the value metrics.jsonl holds for the checkpoint's step, to the last digit. Asked for fp32 instead, it differs:
// the setting is really applied.
TEST(DecodeEval, EvalLnPplEqualsWhatValidationLoggedForTheCheckpoint) {
  Prepared p("translation");
  mqa::LoadedConfig loaded =
      mqa::test::tiny_config({"model.max_positions=128", "train.max_steps=4", "train.valid_every=4",
                              "train.save_every=4", "train.precision=bf16"});
  loaded.config.data = p.config.data;
  mqa::TrainerOptions options;
  std::ostringstream quiet;
  options.out = &quiet;
  options.run_dir = p.dir.path("run");
  options.handle_signals = false;
  const mqa::TrainResult trained = mqa::train_from_config(p.dir.path("tiny.yaml"), loaded, options);
  ASSERT_EQ(trained.status, mqa::TrainStatus::Finished) << quiet.str();

  std::ifstream metrics_file(p.dir.path("run/metrics.jsonl"));
  const std::string metrics((std::istreambuf_iterator<char>(metrics_file)), {});
  std::smatch m;
  ASSERT_TRUE(std::regex_search(metrics, m, std::regex(R"re("split":"valid","step":4,"ln_ppl":([^,]+),)re")))
      << metrics;
  const double logged = std::stod(m[1]);

  const std::string checkpoint = p.dir.path("run/checkpoint_last.pt");
  RunResult r = run_mqa("eval '" + checkpoint + "' --device cpu --split valid --ppl-only --quiet");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("\"precision\": \"bf16\""), std::string::npos) << r.out;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"re("ln_ppl": ([^,]+),)re"))) << r.out;
  EXPECT_EQ(std::stod(m[1]), logged) << r.out << metrics;

  RunResult fp32 = run_mqa("eval '" + checkpoint + "' --device cpu --split valid --ppl-only --quiet --precision fp32");
  ASSERT_EQ(fp32.status, 0) << fp32.err;
  ASSERT_TRUE(std::regex_search(fp32.out, m, std::regex(R"re("ln_ppl": ([^,]+),)re"))) << fp32.out;
  EXPECT_NE(std::stod(m[1]), logged) << "fp32 and bf16 autocast gave the same ln_ppl: is the precision applied?";
}
