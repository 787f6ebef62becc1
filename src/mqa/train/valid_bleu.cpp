#include "mqa/train/valid_bleu.h"

#include <fmt/format.h>

#include "mqa/data/raw_split.h"
#include "mqa/decode/translator.h"
#include "mqa/eval/bleu.h"

namespace mqa {

ValidHook valid_bleu_hook(const Config& config, std::shared_ptr<const Tokenizer> vocab,
                          std::shared_ptr<Distributed> dist, torch::ScalarType precision) {
  const int64_t n = config.train.valid_bleu_sentences;
  if (config.model.type != "seq2seq")
    throw ConfigError(fmt::format("train.valid_bleu_sentences: {} asks for BLEU, which needs a translation model; this "
                                  "one is model.type {} (set it to 0)",
                                  n, config.model.type));
  RawSplit dev = read_raw_split(config.data.dir, "valid", n);
  if (dev.sources.empty())
    throw std::runtime_error(fmt::format("{}: no sentences for train.valid_bleu_sentences", dev.source_path));
  // This rank's share: sentences rank, rank + W, ...
  auto mine = std::make_shared<RawSplit>();
  mine->source_path = dev.source_path;
  for (size_t i = static_cast<size_t>(dist->rank()); i < dev.sources.size();
       i += static_cast<size_t>(dist->world_size())) {
    mine->sources.push_back(dev.sources[i]);
    mine->references.push_back(dev.references[i]);
  }
  TranslateOptions options = translate_options(config.decode, *vocab, precision);
  options.search.beam_size = 1;
  options.search.nbest = 1;
  options.input_name = dev.source_path;
  options.log = nullptr;  // a skipped line (too long for the model) scores as an empty hypothesis

  return [mine, vocab, dist, options](Transformer& model, int64_t) -> std::map<std::string, double> {
    const int orders = BleuOptions{}.max_ngram_order;
    // [counts per order, totals per order, sys_len, ref_len] of this rank's sentences; zeros for none.
    auto stats = torch::zeros({2 * orders + 2}, torch::kFloat64);
    if (!mine->sources.empty()) {
      std::vector<std::string> hyps;
      for (const Translation& t : translate_lines(model, *vocab, mine->sources, options))
        hyps.push_back(t.texts.empty() ? std::string() : t.texts[0]);
      const BleuScore part = corpus_bleu(hyps, {mine->references});
      for (int k = 0; k < orders; ++k) {
        stats[k] = static_cast<double>(part.counts[k]);
        stats[orders + k] = static_cast<double>(part.totals[k]);
      }
      stats[2 * orders] = static_cast<double>(part.sys_len);
      stats[2 * orders + 1] = static_cast<double>(part.ref_len);
    }
    // Integers below 2^53: exact in float64.
    stats = dist->allreduce_sum(stats).to(torch::kCPU);
    BleuScore all;
    all.nrefs = "1";
    for (int k = 0; k < orders; ++k) {
      all.counts.push_back(static_cast<int64_t>(stats[k].item<double>()));
      all.totals.push_back(static_cast<int64_t>(stats[orders + k].item<double>()));
    }
    all.sys_len = static_cast<int64_t>(stats[2 * orders].item<double>());
    all.ref_len = static_cast<int64_t>(stats[2 * orders + 1].item<double>());
    return {{"valid_bleu", compute_bleu(std::move(all)).score}};
  };
}

}  // namespace mqa
