// load_model and build_model (checkpoint.h): kept apart from checkpoint.cpp so that the checkpoint file format can
// be used (and tested) without the model.
#include <filesystem>

#include <fmt/format.h>

#include "mqa/data/dataset.h"
#include "mqa/train/checkpoint.h"

namespace mqa {

Transformer build_model(const Config& config, int64_t vocab_size, int64_t pad_id) {
  int64_t v = vocab_size;
  if (config.model.vocab_size > 0) {
    if (config.model.vocab_size < vocab_size)
      throw ConfigError(fmt::format("model.vocab_size: {} is smaller than the vocabulary ({} pieces)",
                                    config.model.vocab_size, vocab_size));
    v = config.model.vocab_size;
  }
  if (v <= 0) throw ConfigError(fmt::format("model.vocab_size: no vocabulary size (got {})", v));
  return Transformer(config.model, v, pad_id);
}

namespace {

// The vocabulary of a checkpoint: vocab_override, else the embedded one, else data.dir/spm.model.
std::shared_ptr<Tokenizer> checkpoint_vocabulary(const CheckpointFile& file, const Config& config,
                                                 const std::string& vocab_override) {
  if (!vocab_override.empty()) return std::make_shared<Tokenizer>(vocab_override);
  if (!file.vocab_model().empty())
    return Tokenizer::from_bytes(file.vocab_model(), file.path() + " (embedded vocabulary)");
  const std::string vocab = vocab_path(config.data);
  if (!std::filesystem::exists(vocab))
    throw std::runtime_error(fmt::format(
        "{}: this checkpoint embeds no vocabulary (it was written before checkpoints carried one), and its data.dir "
        "vocabulary {} is missing; pass the SentencePiece model the model was trained with (--vocab FILE), or "
        "prepare its data again",
        file.path(), vocab));
  return std::make_shared<Tokenizer>(vocab);
}

}  // namespace

ModelBundle load_model(const std::string& checkpoint, const torch::Device& device, const std::string& vocab_override) {
  CheckpointFile file(checkpoint, torch::kCPU);
  ModelBundle bundle;
  bundle.config = file.config();
  bundle.vocab = checkpoint_vocabulary(file, bundle.config, vocab_override);
  if (bundle.vocab->vocab_size() > file.vocab_size())
    throw std::runtime_error(fmt::format("{}: the vocabulary {} has {} pieces but the model was trained with {}",
                                         checkpoint, bundle.vocab->path(), bundle.vocab->vocab_size(),
                                         file.vocab_size()));
  // The stored vocab_size is the model's (model.vocab_size or the vocabulary's at training time).
  Config model_config = bundle.config;
  model_config.model.vocab_size = 0;
  bundle.model = build_model(model_config, file.vocab_size(), file.pad_id());
  file.load_model_into(*bundle.model);
  bundle.model->to(device);
  bundle.model->eval();
  return bundle;
}

}  // namespace mqa
