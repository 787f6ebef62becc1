// The raw (detokenised) text of a seq2seq evaluation split: {split}.src.txt and {split}.tgt.txt in data.dir, written
// by `mqa prepare` / `mqa synth` (dataset.h). Translation reads the sources; BLEU scores against the references.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mqa {

struct RawSplit {
  std::vector<std::string> sources, references;  // line i of each file, a trailing '\r' removed
  std::string source_path, reference_path;
};

// Reads the split `split` ("valid" | "test") of the prepared directory `data_dir`; only its first `max_sentences`
// lines when that is > 0. Throws naming the file when one cannot be read or their line counts differ.
RawSplit read_raw_split(const std::string& data_dir, const std::string& split, int64_t max_sentences = 0);

}  // namespace mqa
