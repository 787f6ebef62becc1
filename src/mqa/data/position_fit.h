// Which examples of a prepared seq2seq split a model can take. A source of S tokens needs S encoder positions; a
// target of T tokens needs T + 1 decoder positions, because the batcher adds bos ([bos, y1..yT] in, [y1..yT, eos]
// out; data/batching.h). `mqa prepare` drops longer pairs (data.max_len, which the config keeps below
// model.max_positions), but a directory prepared earlier, or with another config, may still hold them: evaluation
// leaves them out with a count, training refuses to start (check_prepared_fits_model).
// An lm split always fits: it is packed into data.seq_len tokens, which the config keeps within max_positions.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "mqa/config/config.h"
#include "mqa/data/dataset.h"

namespace mqa {

// Longest target (tokens, without bos/eos) that fits max_positions: max_positions - 1.
int64_t longest_fitting_target(int64_t max_positions);

struct PositionFit {
  int64_t examples = 0;        // in the split
  int64_t too_long = 0;        // source > max_positions or target + 1 > max_positions
  int64_t longest_source = 0;  // tokens, over the whole split
  int64_t longest_target = 0;
};

// Scans the example lengths (the shards' index only; no token is read).
PositionFit check_position_fit(const Dataset& data, int64_t max_positions);

// `data` itself when every example fits (and for lm); otherwise a view of the examples that fit, in their order.
// `dropped` (optional) receives the number left out.
std::shared_ptr<const Dataset> keep_fitting_examples(std::shared_ptr<const Dataset> data, int64_t max_positions,
                                                     int64_t* dropped = nullptr);

// Training's guard (called by ensure_data_ready): throws naming data.dir, the split, how many pairs do not fit
// model.max_positions and how to re-prepare, when the train or valid split of a seq2seq corpus holds such pairs.
void check_prepared_fits_model(const Config& config);

}  // namespace mqa
