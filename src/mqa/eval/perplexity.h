// Perplexity of a model on a prepared split: the full teacher-forced forward pass (no incremental decoding), dropout
// off, no label smoothing. The one scorer of the project: training's validation (train/trainer.h) and `mqa eval`
// both call it, with the same precision (train.precision: the forward under bf16 autocast or in fp32, the
// log-softmax in fp32), so their ln_ppl agree at the same checkpoint.
//
//   per-token:  ln_ppl = total NLL (nats) / number of predicted tokens, ppl = exp(ln_ppl). The predicted tokens
//               are the non-pad tgt_out tokens of the batches (data/batching.h): seq2seq y1 .. yn and eos for each
//               target; lm every token of the packed stream after the first of each example.
//   per-word (lm): word_ppl = exp(total NLL / (words + lines)) of the split's raw text ({split}.txt in data.dir):
//               words are whitespace-separated tokens, and every line adds one for its end (the eos the model
//               predicts after each sentence of the stream, empty lines included: data/dataset.h), as is usual for
//               LM1B. Comparable across vocabularies.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>

#include "mqa/data/batching.h"
#include "mqa/data/dataset.h"
#include "mqa/model/transformer.h"

namespace mqa {

struct PerplexityResult {
  double nll = 0.0;      // summed over the predicted tokens, nats
  int64_t tokens = 0;    // predicted tokens
  int64_t sequences = 0; // examples evaluated
  int64_t skipped_too_long = 0;  // seq2seq examples left out: longer than model.max_positions allows
  double ln_ppl = 0.0;   // nll / tokens
  double ppl = 0.0;      // exp(ln_ppl)
  // lm with raw text only (see word_perplexity); words = 0 otherwise.
  int64_t words = 0;     // words + line ends of the raw text (the per-word convention above)
  double word_ppl = 0.0;
};

// Evaluates every example of `data` once, in batches of `batch_tokens` (BatchIterator, shuffle off: the batches
// training's validation scores), except the seq2seq pairs the model cannot take (data/position_fit.h), which are
// counted in skipped_too_long. The model is put in eval mode for the pass and returned to its previous mode.
// `precision`: kFloat32, or kBFloat16 for the forward pass under autocast (train/autocast.h), as resolved from
// train.precision by resolve_precision (util/device.h).
PerplexityResult perplexity(Transformer& model, std::shared_ptr<const Dataset> data, int64_t batch_tokens,
                            torch::ScalarType precision);

// The same over batches from any source (next() returns nullopt at the end); used by perplexity() and by training's
// validation (each rank over its share of the batches). `sequences` counts the rows of the batches.
PerplexityResult perplexity_of_batches(Transformer& model, const std::function<std::optional<Batch>()>& next,
                                       torch::ScalarType precision);

// Fills ln_ppl and ppl from nll and tokens (NaN without tokens): after summing the sums of several passes.
void finish_perplexity(PerplexityResult& result);

// Words + lines of a raw text file (the per-word convention above). Throws naming the file when it cannot be read.
int64_t count_words_and_lines(const std::string& path);

// Fills result.words and result.word_ppl from the raw text at `raw_text_path`.
void add_word_perplexity(PerplexityResult& result, const std::string& raw_text_path);

}  // namespace mqa
