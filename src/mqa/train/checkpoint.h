// Checkpoints: one file per save, written atomically (temporary file, fsync, rename), holding the resolved config
// (YAML text), the model parameters, and for training checkpoints the optimizer, schedule, RNG and data-iterator
// state.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>

#include "mqa/config/config.h"
#include "mqa/data/tokenizer.h"
#include "mqa/model/transformer.h"

namespace mqa {

// A model ready to use: its config, parameters on `device`, in eval mode, and its vocabulary.
struct ModelBundle {
  Config config;
  Transformer model{nullptr};
  std::shared_ptr<Tokenizer> vocab;
};

// Loads the model of a checkpoint (training or averaged). The vocabulary is data.dir/spm.model of the stored
// config, unless vocab_override names another file. Throws naming the file when it is missing or malformed.
ModelBundle load_model(const std::string& checkpoint, const torch::Device& device,
                       const std::string& vocab_override = "");

// Builds an untrained model for a config (vocabulary size from model.vocab_size or the vocabulary).
Transformer build_model(const Config& config, int64_t vocab_size, int64_t pad_id);

}  // namespace mqa
