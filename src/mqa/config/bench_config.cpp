#include "mqa/config/schema.h"

namespace mqa {

void declare_bench_keys(std::vector<KeyDef>& k) {
  using B = BenchConfig;
  const auto S = &Config::bench;
  k.push_back(key("bench.batch_size", S, &B::batch_size, "sentences decoded or trained together", range(1, 1 << 20)));
  k.push_back(key("bench.source_len", S, &B::source_len, "source tokens per sentence", range(1, 1 << 20)));
  k.push_back(key("bench.target_len", S, &B::target_len, "generated (or trained) target tokens per sentence",
                  range(1, 1 << 20)));
  k.push_back(key("bench.beam_size", S, &B::beam_size, "beam width of the beam-search benchmark", range(1, 1024)));
  k.push_back(key("bench.warmup", S, &B::warmup, "untimed repetitions before timing", range(0, 1000)));
  k.push_back(key("bench.repeats", S, &B::repeats, "timed repetitions; the median and spread are reported",
                  range(1, 100000)));
  k.push_back(key("bench.cuda_graph", S, &B::cuda_graph, "replay the decode step as a captured CUDA graph"));
  k.push_back(key("bench.check_every", S, &B::check_every,
                  "decode steps between the host's checks whether every sentence is done (as in translate)",
                  range(1, 1 << 20)));
  k.push_back(key("bench.check_graph", S, &B::check_graph,
                  "with a CUDA graph: decode once more eagerly and report the fraction of equal tokens"));
  k.push_back(key("bench.train_batch_size", S, &B::train_batch_size,
                  "sentences per step of the training benchmark; 0 = bench.batch_size", range(0, 1 << 20)));
  k.push_back(key("bench.seed", S, &B::seed, "seed of the random weights and tokens", range(0, 1 << 30)));
  k.push_back(key("bench.precision", S, &B::precision, "auto: bf16 on CUDA, fp32 on CPU",
                  one_of({"auto", "fp32", "bf16"})));
  k.push_back(key("bench.device", S, &B::device, "auto picks cuda when available", one_of({"auto", "cpu", "cuda"})));
}

}  // namespace mqa
