// train.valid_bleu_sentences: at every validation, greedy BLEU of the first N sentences of the dev split, written to
// metrics.jsonl as "valid_bleu". Built on the public decoding API only (translate_lines with beam 1 and the config's
// decode.* length limits, decode/translator.h) and sacreBLEU-compatible corpus BLEU (13a, eval/bleu.h), against the
// raw text valid.src.txt / valid.tgt.txt (data/raw_split.h); so it scores what `mqa eval --split valid
// --bleu-sentences N` scores with beam 1.
//
// Data-parallel: sentence i is translated on rank i mod W, and the BLEU statistics (n-gram matches and totals,
// lengths) are summed over the ranks before the score is computed (compute_bleu): the score of the N sentences
// together, whatever the number of ranks, and no rank waits while another decodes them all.
#pragma once
#include <torch/torch.h>

#include <memory>

#include "mqa/config/config.h"
#include "mqa/data/tokenizer.h"
#include "mqa/train/distributed.h"
#include "mqa/train/trainer.h"

namespace mqa {

// The hook for config.train.valid_bleu_sentences > 0 (a seq2seq model; the dev text is read once, here). Throws
// ConfigError for a language model and std::runtime_error naming the file when the dev text cannot be read.
// `precision` goes to the search (SearchOptions::precision).
ValidHook valid_bleu_hook(const Config& config, std::shared_ptr<const Tokenizer> vocab,
                          std::shared_ptr<Distributed> dist, torch::ScalarType precision);

}  // namespace mqa
