#include "mqa/data/raw_split.h"

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>

namespace mqa {

namespace {

std::vector<std::string> read_lines(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error(fmt::format("{}: cannot read the {} (written by mqa prepare / mqa synth)", path, what));
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

}  // namespace

RawSplit read_raw_split(const std::string& data_dir, const std::string& split, int64_t max_sentences) {
  namespace fs = std::filesystem;
  RawSplit r;
  r.source_path = (fs::path(data_dir) / (split + ".src.txt")).string();
  r.reference_path = (fs::path(data_dir) / (split + ".tgt.txt")).string();
  r.sources = read_lines(r.source_path, "raw source text");
  r.references = read_lines(r.reference_path, "raw reference text");
  if (r.sources.size() != r.references.size())
    throw std::runtime_error(fmt::format("{}: {} lines but {} has {}", r.source_path, r.sources.size(),
                                         r.reference_path, r.references.size()));
  if (max_sentences > 0 && max_sentences < static_cast<int64_t>(r.sources.size())) {
    r.sources.resize(static_cast<size_t>(max_sentences));
    r.references.resize(static_cast<size_t>(max_sentences));
  }
  return r;
}

}  // namespace mqa
