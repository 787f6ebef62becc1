// The tiny model and fast training settings that the training tests share (test_train_loop.cpp drives the Trainer
// in-process; test_train_distributed.cpp runs `mqa train` with the same config written to a file).
#pragma once
#include <string>
#include <vector>

#include "mqa/config/config.h"

namespace mqa::test {

// A seq2seq multi-query Transformer of d_model 32 with one encoder and one decoder layer, Adam, 20 steps on one
// CPU thread; `extra` overrides ("key=value") come last.
inline LoadedConfig tiny_config(std::vector<std::string> extra = {}) {
  std::vector<std::string> o = {"model.type=seq2seq",      "model.encoder_layers=1",  "model.decoder_layers=1",
                                "model.d_model=32",        "model.heads=2",           "model.kv_heads=1",
                                "model.d_k=16",            "model.d_v=16",            "model.d_ff=64",
                                "model.dropout=0.1",       "model.max_positions=16",  "data.max_len=15",
                                "train.optimizer=adam",    "train.lr=0.003",          "train.warmup_steps=4",
                                "train.log_every=5",       "train.valid_every=10",    "train.save_every=10",
                                "train.max_steps=20",      "train.threads=1",         "train.device=cpu"};
  o.insert(o.end(), extra.begin(), extra.end());
  return default_config(o);
}

}  // namespace mqa::test
