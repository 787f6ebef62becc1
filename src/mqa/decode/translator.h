// Translating lines of text with a seq2seq model: checks and encodes each line, batches the sentences by length,
// runs greedy (beam_size 1) or beam search, and detokenises the n-best lists, in input order.
//
// Malformed lines: a line that is not valid UTF-8, or whose source has more tokens than model.max_positions, is
// either skipped (default: its result has `skipped` set and `error` saying why, a warning naming the line goes to
// the log, and the command prints an empty output line for it) or, with `strict`, an error naming the line.
// An empty line (after removing a trailing '\r') translates to an empty line without running the model.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "mqa/config/decode_config.h"
#include "mqa/data/tokenizer.h"
#include "mqa/decode/hypothesis.h"
#include "mqa/model/transformer.h"

namespace mqa {

struct TranslateOptions {
  SearchOptions search;          // beam_size 1 = greedy search
  int64_t batch_tokens = 4096;   // a batch holds rows x longest source <= batch_tokens (a longer sentence goes alone)
  int64_t width_multiple = 8;    // the longest source of a batch rounded up to a multiple of this
  bool strict = false;           // malformed line: throw instead of skipping
  // CUDA graphs: every batch shape prepared (buffers, captured step) before the first batch, its time reported as
  // start-up; the search holds all of them (more GPU memory). false: each shape prepared when its first batch comes
  // (the default: decode.prepare_shapes).
  bool prepare_shapes = false;
  std::string input_name = "input";  // names the input in messages ("FILE:LINE: ...")
  std::ostream* log = nullptr;   // warnings and progress; null = quiet
  double progress_seconds = 10;  // progress line at most this often (only for inputs of more than 100 lines)
};

struct Translation {
  bool skipped = false;
  std::string error;               // why it was skipped
  NBest hypotheses;                // best first; empty for skipped and empty lines
  std::vector<std::string> texts;  // detokenised hypotheses, same order
};

// One search over a batch of sources: its shape and where its time went (what `mqa bench decode --shapes` can time
// again, scripts/translate_throughput.sh).
struct TranslateBatch {
  int64_t sources = 0;      // sentences in the batch
  int64_t rows = 0;         // sources searched: sentences plus the padding copies that keep a captured graph's shape
  int64_t width = 0;        // source positions (longest source rounded up to width_multiple)
  int64_t steps = 0;        // decoder steps run
  int64_t output_tokens = 0;  // of the sentences' best hypotheses, eos included
  double encode_ms = 0, decode_ms = 0;  // the search's own split (SearchTimings)
  double seconds = 0;       // wall time of the batch: building the source tensor, search (detokenising overlaps the
                            // next batch's search)
  bool graph = false;       // whether the steps were replayed from a captured CUDA graph
};

struct TranslateStats {
  int64_t sentences = 0, skipped = 0;
  int64_t source_tokens = 0;
  int64_t output_tokens = 0;  // tokens of the best hypotheses, eos included (= decoder steps of the best path)
  double seconds = 0;         // wall time of encoding + search (tokenisation and start-up excluded)
  double startup_seconds = 0; // preparing the batch shapes before the first batch (TranslateOptions::prepare_shapes)
  std::vector<TranslateBatch> batches;  // in the order they ran
};

// Why `line` cannot be translated as text ("invalid UTF-8 at byte 7"), or nullopt when it is valid UTF-8.
std::optional<std::string> utf8_error(const std::string& line);

// The options of a checkpoint's decode config (search, batch_tokens, width_multiple), with the vocabulary's bos and
// eos and the decoder's precision (bf16 on CUDA by default).
TranslateOptions translate_options(const DecodeConfig& config, const Tokenizer& vocab, torch::ScalarType precision);

std::vector<Translation> translate_lines(Transformer& model, const Tokenizer& vocab,
                                         const std::vector<std::string>& lines, const TranslateOptions& options,
                                         TranslateStats* stats = nullptr);

}  // namespace mqa
